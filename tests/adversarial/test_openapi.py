"""schemathesis against the OpenAPI of each service, served live on loopback.

Every operation gets a bounded number of generated requests (a fixed seed, so a run is
reproducible): no 5xx, every status code documented, every body matching its schema.
`make fuzz` runs the same with many more examples (OVERT_FUZZ_EXAMPLES).
"""

from __future__ import annotations

import os
import re
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import ChecksConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance

from services.cli import service_app
from shared.settings import Settings
from tests.helpers.live import Live

FUZZ = "OVERT_FUZZ_EXAMPLES" in os.environ
EXAMPLES = int(os.environ.get("OVERT_FUZZ_EXAMPLES", "25"))
# The snippet sends JSON as text/plain (a CORS-simple request): serialise it as JSON.
schemathesis.serializer.alias("text/plain", "application/json")
# Schema-valid is not always acceptable: an unknown site, a page on another host or a date
# range the wrong way round is a documented 4xx. Everything else is checked.
EXCLUDED = [positive_data_acceptance]
SITE_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


def service_schema(service: str) -> Any:
    """The service's OpenAPI document, as `overt serve SERVICE` publishes it."""
    documented = Settings(
        database_url="postgresql+asyncpg://overt@db/overt",
        redis_url="redis://127.0.0.1:6379/0",
        secret_key="k" * 40,
    )
    schema = schemathesis.openapi.from_dict(service_app(documented, service).openapi())
    # An invalid body over the size limit is refused for its size (413) before it is parsed;
    # schemathesis's default list of rejections for invalid data lacks 413.
    default = ChecksConfig().negative_data_rejection.expected_statuses
    schema.config.checks = ChecksConfig.from_dict(
        {"negative_data_rejection": {"expected-statuses": [*default, "413"]}}
    )
    # schemathesis's coverage phase adds a case per schema keyword combination, unbounded by
    # max_examples: for /v1/query's grown body (ranges, comparisons, nested behavioural
    # filters) that is thousands of requests. The bounded slice in `make test` runs the
    # examples and a seeded fuzz; `make fuzz` runs the coverage phase too.
    schema.config.phases.coverage.enabled = FUZZ
    return schema


@schemathesis.pytest.parametrize(
    collector=service_schema("collector"),
    consent=service_schema("consent"),
    api=service_schema("api"),
)
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_responses_match_the_documented_schema(case: Any, live: Live) -> None:
    site_id = (case.path_parameters or {}).get("site_id")
    if isinstance(site_id, str) and SITE_ID.fullmatch(site_id):
        case.path_parameters["site_id"] = live.site_id  # a well-formed id: make it a real one
    case.call_and_validate(
        base_url=live.url,
        headers={"Authorization": f"Bearer {live.key}"},
        timeout=10,
        excluded_checks=EXCLUDED,
    )
