"""Fixtures of the own views' tests: the ledger verifier as a process composes it, or not."""

from __future__ import annotations

import pytest

from services.api.web.views import service as views_service
from services.cli import ledger_status


@pytest.fixture
def verifier(monkeypatch: pytest.MonkeyPatch) -> None:
    """The consent service's verifier, as `overt` composes it (and only it)."""
    monkeypatch.setattr(views_service, "LEDGER_VERIFIERS", [ledger_status])


@pytest.fixture
def no_verifier(monkeypatch: pytest.MonkeyPatch) -> None:
    """An API process composed without the consent service's verifier."""
    monkeypatch.setattr(views_service, "LEDGER_VERIFIERS", [])
