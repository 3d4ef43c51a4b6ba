"""Every table on the one metadata, for Alembic: the shared tables and each service's models.

Outside the three services (which never import each other) and outside `shared` (which
imports no service), so the migration environment and the schema test see the whole schema.
"""

from __future__ import annotations

import services.api.engagement.models
import services.api.goals.models
import services.api.people.models
import services.api.stats.models
import services.api.transfer.models
import services.api.web.accounts.models
import services.api.web.dashboard.models
import services.api.web.reports.models
import services.consent.models
import shared.models
from shared.db import metadata

# The modules imported above register their tables on `metadata`; naming them here keeps
# the imports from looking unused.
MODEL_MODULES = (
    shared.models,
    services.api.engagement.models,
    services.api.goals.models,
    services.api.people.models,
    services.api.stats.models,
    services.api.transfer.models,
    services.api.web.accounts.models,
    services.api.web.dashboard.models,
    services.api.web.reports.models,
    services.consent.models,
)

__all__ = ["MODEL_MODULES", "metadata"]
