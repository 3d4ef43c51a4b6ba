"""HTTP pieces every consent router shares: the CORS header and the site path prefix."""

from __future__ import annotations

# The consent API authenticates with a credential in a header or the body, never a cookie,
# so any origin may call it: there is no ambient authority for another site to borrow. Its
# errors must be readable cross-origin too, or the widget cannot react.
CORS = {"Access-Control-Allow-Origin": "*"}

SITE = "/consent/sites/{site_id}"
