"""HubSpot contact sync: the requests of HubSpot's CRM v3 contacts API, built from a delivery.

A consented contact that triggers the destination is created or updated with one
batch upsert (`POST /crm/v3/objects/contacts/batch/upsert`, `idProperty` email, or
`overt_external_id`, a unique property the site creates in HubSpot, for an external id),
with its engagement as properties (`overt_score`, `overt_intent`, `overt_signals`,
`overt_last_seen`: create them in HubSpot as single-line text, or it refuses the upsert).
The object id HubSpot answers is kept with the recipient row, so the contact can be removed
there once Overt no longer knows who it is: a withdrawal archives it
(`DELETE /crm/v3/objects/contacts/{id}`), an erasure deletes it for good
(`POST /crm/v3/objects/contacts/gdpr-delete`). Requests carry the private app's token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from shared.identities import SharedIdentity

UPSERT = "/crm/v3/objects/contacts/batch/upsert"
ARCHIVE = "/crm/v3/objects/contacts/{id}"
GDPR_DELETE = "/crm/v3/objects/contacts/gdpr-delete"
EXTERNAL_ID_PROPERTY = "overt_external_id"


@dataclass(frozen=True, slots=True)
class CrmRequest:
    method: str
    path: str
    body: bytes | None


def upsert(identity: SharedIdentity, contact: dict[str, Any]) -> CrmRequest:
    """Create or update the contact, keyed by its e-mail (or the site's external id)."""
    id_property = "email" if identity.kind == "email" else EXTERNAL_ID_PROPERTY
    properties = {
        id_property: identity.value,
        "overt_score": f"{contact['score']:g}",
        "overt_intent": "true" if contact["intent"] else "false",
        "overt_signals": "; ".join(str(s["rule"]) for s in contact.get("signals", [])),
        "overt_last_seen": str(contact["summary"].get("last_seen_at") or ""),
    }
    body = {"inputs": [{"idProperty": id_property, "id": identity.value, "properties": properties}]}
    return CrmRequest("POST", UPSERT, orjson.dumps(body))


def object_id(answer: bytes) -> str | None:
    """The object id in an upsert's answer: digits only (it goes into a URL path), else None."""
    try:
        parsed = orjson.loads(answer)
        found = parsed["results"][0]["id"]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        return None
    text = str(found) if isinstance(found, str | int) else ""
    return text if text.isascii() and text.isdigit() and len(text) <= 64 else None


def remove(remote_id: str, *, erased: bool) -> CrmRequest:
    """Archive the contact (consent withdrawn), or delete it for good (erased)."""
    if erased:
        return CrmRequest("POST", GDPR_DELETE, orjson.dumps({"objectId": remote_id}))
    return CrmRequest("DELETE", ARCHIVE.format(id=remote_id), None)
