"""Fixtures for the web app's browser tests, for every module under tests/web (another
package's conftest.py may re-export them the same way):

- `server`: a real `overt up` on a loopback port, on the `settings` backend (both backends);
- `browser`: Debian's headless Chromium; `page_origin`: a static site on its own origin;
- `owner`: a user (password `tests.helpers.web.PASSWORD`) who owns a site `example.com`
  on that server;
- `signed_in`: a Chromium page in a fresh context, signed in as `owner`, on /app/.

The dashboard is issue 20's product: `make test` runs its browser tests on both backends
(the suite runs in parallel workers, so there is room). The few marked nightly by name
keep, in a comment, the make-test test that proves the same behaviour.
"""

from tests.helpers.browser import (  # noqa: F401  (re-exported fixtures)
    browser,
    chromium,
    page_origin,
    server,
)
from tests.helpers.web_browser import owner, signed_in  # noqa: F401  (re-exported fixtures)
