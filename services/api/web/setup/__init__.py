"""The first run: the one-time setup link makes the owner, then the first site, then a
page with the script tag that waits, live, for the site's first pageview. Adding any later
site goes through the same two pages."""
