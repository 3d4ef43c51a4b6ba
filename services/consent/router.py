"""HTTP surface of the consent service (the ledger, widget and preference page come next)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["consent"])


@router.get("/.well-known/gpc.json", summary="Global Privacy Control support statement")
async def gpc_support() -> dict[str, object]:
    # https://privacycg.github.io/gpc-spec/#gpc-support-resource
    return {"gpc": True, "lastUpdate": "2026-11-24"}
