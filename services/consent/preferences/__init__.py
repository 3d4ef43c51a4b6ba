"""The hosted preference page: server-rendered forms, CSRF, Jinja2 templates."""
