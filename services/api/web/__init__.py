"""The site owner's web app: pages under /app (dashboard, settings, accounts) and /share
(shared links), server-rendered with Jinja2 and htmx, served by the API service."""
