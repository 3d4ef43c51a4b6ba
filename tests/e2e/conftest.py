"""The browser-test fixtures of the snippet test, shared with the consent browser tests."""

from tests.e2e.test_snippet_browser import (  # noqa: F401  (re-exported fixtures)
    browser,
    chromium,
    page_origin,
    server,
)
