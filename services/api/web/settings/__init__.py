"""Site settings in the web app: the site, goals, segments, webhook and Slack destinations."""
