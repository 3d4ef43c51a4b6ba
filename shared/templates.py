"""Server-rendered pages: one Jinja2 setup for every domain's `templates/` folder."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape


def template_environment(*folders: Path) -> Environment:
    """A Jinja2 environment over `folders` (searched in order) with autoescape on for every
    HTML and XML template: what a template prints is text unless marked safe, so a site's
    notice or a visitor's e-mail can never become markup. An undefined name is an error,
    not an empty string."""
    return Environment(
        loader=FileSystemLoader([str(folder) for folder in folders]),
        autoescape=select_autoescape(("html", "htm", "xml", "j2"), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        enable_async=False,
    )
