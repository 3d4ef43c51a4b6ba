"""The browser-test fixtures (tests/helpers/browser.py), for every e2e test module."""

from tests.helpers.browser import (  # noqa: F401  (re-exported fixtures)
    browser,
    chromium,
    page_origin,
    server,
)
