"""Goals: what counts as a conversion on a site (pages reached, events sent, revenue)."""
