"""Every table the consent service owns, gathered so one import registers them all on the
metadata (tests that truncate every table, Alembic). Each is defined in its domain's models.py."""

from __future__ import annotations

from services.consent.identities.models import ConsentEmailVerification, ConsentIdentity
from services.consent.keys.models import ConsentSiteKey
from services.consent.ledger.models import (
    APPEND_ONLY,
    ConsentChainHead,
    ConsentCheckpoint,
    ConsentLedgerRow,
)
from services.consent.notices.models import ConsentNotice, ConsentNoticeText, ConsentPurpose
from services.consent.preferences.models import ConsentHandoverUse
from services.consent.receipts.models import ConsentReceipt
from services.consent.rights.models import ConsentRequest
from services.consent.subjects.models import ConsentSubject

__all__ = [
    "APPEND_ONLY",
    "ConsentChainHead",
    "ConsentCheckpoint",
    "ConsentEmailVerification",
    "ConsentHandoverUse",
    "ConsentIdentity",
    "ConsentLedgerRow",
    "ConsentNotice",
    "ConsentNoticeText",
    "ConsentPurpose",
    "ConsentReceipt",
    "ConsentRequest",
    "ConsentSiteKey",
    "ConsentSubject",
]
