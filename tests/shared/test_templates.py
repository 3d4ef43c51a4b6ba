"""Pages are rendered with autoescape: what a template prints is text, never markup."""

from __future__ import annotations

from pathlib import Path

import pytest
from jinja2 import UndefinedError

from shared.templates import template_environment


def test_values_are_escaped_and_undefined_names_refused(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text("<p>{{ notice }}</p>{{ missing }}")
    template = template_environment(tmp_path).get_template("page.html")
    with pytest.raises(UndefinedError):
        template.render(notice="x")
    (tmp_path / "ok.html").write_text("<p>{{ notice }}</p>")
    html = (
        template_environment(tmp_path)
        .get_template("ok.html")
        .render(notice='<script>alert("x")</script>')
    )
    assert html == "<p>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</p>"
