"""The identity a consented subject shared, read (never written) by services other than consent.

The consent service owns `consent_identities` and seals every identity there with the server
secret, bound to its site and subject (shared.sealing). The API shows a named contact with
it, and a destination (webhook, Slack, CRM) receives it, only while the subject's
`identification` consent is active: `shared_identities` checks that in the same read
(shared.consent_state), so the identity is gone at the very next call after a withdrawal,
expiry or erasure, whatever the consent service has or has not removed yet.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, LargeBinary, String, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import table

from shared.consent_state import identified_subjects
from shared.sealing import identity_context, unseal

# Read-only view of the consent service's table (the columns this module reads).
identities = table(
    "consent_identities",
    Column("site_id", String(32)),
    Column("subject_id", String(32)),
    Column("kind", String(16)),
    Column("value_sealed", LargeBinary),
    Column("display_name_sealed", LargeBinary),
    Column("method", String(16)),
    Column("verified_at", DateTime(timezone=True)),
)


@dataclass(frozen=True, slots=True)
class SharedIdentity:
    """What the visitor consented to share: an e-mail address or the site's own id for them,
    a display name if the site gave one, and how and when the link was proved."""

    kind: str  # email | external_id
    value: str
    display_name: str | None
    method: str  # site_assertion | email_link
    verified_at: datetime

    @property
    def email(self) -> str | None:
        return self.value if self.kind == "email" else None

    @property
    def label(self) -> str:
        """How to name the person in a message: the display name, else the value."""
        return self.display_name or self.value


async def shared_identities(
    *,
    conn: AsyncConnection,
    secret: bytes,
    site_id: str,
    subject_ids: Collection[str],
    now: datetime | None = None,
) -> dict[str, SharedIdentity]:
    """The identities of those `subject_ids` whose identification consent is active now."""
    consented = await identified_subjects(
        conn=conn, site_id=site_id, subject_ids=subject_ids, now=now or datetime.now(UTC)
    )
    if not consented:
        return {}
    rows = await conn.execute(
        select(identities).where(
            identities.c.site_id == site_id, identities.c.subject_id.in_(sorted(consented))
        )
    )
    found = {}
    for row in rows:
        context = identity_context(site_id, row.subject_id)
        name = row.display_name_sealed
        verified = row.verified_at
        found[row.subject_id] = SharedIdentity(
            kind=row.kind,
            value=unseal(secret, row.value_sealed, context=context).decode(),
            display_name=None if name is None else unseal(secret, name, context=context).decode(),
            method=row.method,
            verified_at=verified.replace(tzinfo=UTC) if verified.tzinfo is None else verified,
        )
    return found
