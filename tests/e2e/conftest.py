"""The browser-test fixtures (tests/helpers/browser.py), for every e2e module, and which of
the e2e tests are nightly.

A browser test drives the same pages on either backend: `make test` runs it on SQLite, and
its PostgreSQL + Redis run is nightly (`make nightly`). What Postgres and Redis store is
proven on every run by the suites that do not need a browser, and by the e2e fault and
scale slices, which run on Postgres + Redis only. The whole loop (a consent in the widget to a
named Slack alert and back) is the product's reason to exist, and the dashboard's filters,
presets and comparison are its first screen: both run on both backends in `make test`.
"""

from pathlib import Path

import pytest

from tests.helpers.browser import (  # noqa: F401  (re-exported fixtures)
    browser,
    chromium,
    page_origin,
    postgres_browser_runs_nightly,
    server,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    both = ("test_whole_loop_browser.py", "test_dashboard_browser.py")
    postgres_browser_runs_nightly(items, under=Path(__file__).parent, both=both)
