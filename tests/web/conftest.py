"""Fixtures for the web app's browser tests, for every module under tests/web (another
package's conftest.py may re-export them the same way):

- `server`: a real `overt up` on a loopback port, on the `settings` backend (both backends);
- `browser`: Debian's headless Chromium; `page_origin`: a static site on its own origin;
- `owner`: a user (password `tests.helpers.web.PASSWORD`) who owns a site `example.com`
  on that server;
- `signed_in`: a Chromium page in a fresh context, signed in as `owner`, on /app/.

As in tests/e2e, `make test` runs the browser tests on SQLite and their PostgreSQL + Redis
run is nightly, except the first run (setup from an empty database to the first visit),
which `make test` runs on both backends.
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
from tests.helpers.web_browser import owner, signed_in  # noqa: F401  (re-exported fixtures)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    postgres_browser_runs_nightly(
        items, under=Path(__file__).parent, both=("test_first_run_browser.py",)
    )
