"""Tail truncation of the ledger: invisible from inside the database, caught with receipts and
checkpoints kept outside it (`overt ledger verify --receipts FILE`)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, update

from services.cli import main
from services.consent.ledger.models import (
    consent_chain_heads,
    consent_checkpoints,
    consent_ledger,
)
from shared.sites import Site
from tests.helpers.consent import as_attacker, post_decisions
from tests.helpers.overt import Overt

pytestmark = pytest.mark.anyio


async def run_cli(argv: list[str]) -> int:
    return await asyncio.to_thread(main, argv)


async def truncate_tail(overt: Overt, site: Site, *, keep: int) -> None:
    """What an attacker with database rights does: drop the newest rows, their checkpoints,
    and roll the head back to the last row kept, so the chain is consistent again."""
    async with as_attacker(overt.resources.engine) as conn:
        kept_hash = (
            (
                await conn.execute(
                    consent_ledger.select().where(
                        consent_ledger.c.site_id == site.id, consent_ledger.c.seq == keep
                    )
                )
            )
            .one()
            .row_hash
        )
        await conn.execute(
            delete(consent_ledger).where(
                consent_ledger.c.site_id == site.id, consent_ledger.c.seq > keep
            )
        )
        await conn.execute(
            delete(consent_checkpoints).where(
                consent_checkpoints.c.site_id == site.id, consent_checkpoints.c.seq > keep
            )
        )
        await conn.execute(
            update(consent_chain_heads)
            .where(consent_chain_heads.c.site_id == site.id)
            .values(seq=keep, head_hash=kept_hash)
        )


async def test_tail_truncation_is_caught_only_with_receipts_kept_outside(
    overt: Overt,
    site: Site,
    cli_env: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    receipts = []
    for decided in (
        await post_decisions(overt, site, analytics=True),
        await post_decisions(overt, site, identification=True),
        await post_decisions(overt, site, marketing_contact=False),
    ):
        assert decided.is_success, decided.text
        receipts.append(decided.json()["receipt"])
    kept = tmp_path / "receipts.jsonl"
    kept.write_text("".join(json.dumps(receipt) + "\n" for receipt in receipts))
    assert await run_cli(["ledger", "verify", "--site", site.id, "--receipts", str(kept)]) == 0
    capsys.readouterr()

    await truncate_tail(overt, site, keep=1)

    # The documented limit: from inside the database, a consistent truncation looks intact.
    assert await run_cli(["ledger", "verify", "--site", site.id]) == 0
    assert "chain intact" in capsys.readouterr().out
    # With the receipts the visitors (or the site) kept, it is caught, naming the gap.
    assert await run_cli(["ledger", "verify", "--site", site.id, "--receipts", str(kept)]) == 1
    err = capsys.readouterr().err
    assert f"site {site.id} rows 2-3 missing" in err
    assert "the ledger reached row 3" in err


async def test_a_signed_head_kept_outside_catches_truncation_too(
    overt: Overt,
    site: Site,
    cli_env: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert (await post_decisions(overt, site, analytics=True)).is_success
    assert (await post_decisions(overt, site, identification=True)).is_success
    capsys.readouterr()
    assert await run_cli(["ledger", "verify", "--site", site.id, "--json"]) == 0
    line = capsys.readouterr().out.strip()
    report = json.loads(line)
    assert report["ok"] is True
    assert report["checkpoint"]["seq"] == 2
    kept = tmp_path / "heads.jsonl"
    kept.write_text(line + "\n")
    await truncate_tail(overt, site, keep=1)
    assert await run_cli(["ledger", "verify", "--site", site.id]) == 0
    capsys.readouterr()
    assert await run_cli(["ledger", "verify", "--receipts", str(kept)]) == 1
    assert f"site {site.id} row 2 missing" in capsys.readouterr().err


async def test_a_rewritten_row_or_forged_receipt_is_reported(
    overt: Overt,
    site: Site,
    cli_env: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    decided = await post_decisions(overt, site, analytics=True)
    receipt = decided.json()["receipt"]
    forged = json.loads(json.dumps(receipt))
    forged["receipt"]["consents"][0]["ledger"]["seq"] = 99
    kept = tmp_path / "receipts.jsonl"
    kept.write_text(json.dumps(forged) + "\n" + "not json\n" + json.dumps(receipt) + "\n")
    capsys.readouterr()
    assert await run_cli(["ledger", "verify", "--receipts", str(kept)]) == 1
    err = capsys.readouterr().err
    assert "line 1 (receipt " in err
    assert "not signed by" in err
    assert "line 2: not a receipt or checkpoint" in err
    assert "missing" not in err  # a forged receipt is no proof of anything


@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    line=st.one_of(
        st.text(max_size=80),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=10),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(
                    st.sampled_from(
                        [
                            "receipt",
                            "signature",
                            "consents",
                            "ledger",
                            "seq",
                            "hash",
                            "controller",
                            "site_id",
                            "checkpoint",
                            "row_hash",
                            "signed_at",
                            "key_id",
                        ]
                    ),
                    inner,
                    max_size=4,
                )
            ),
            max_leaves=12,
        ).map(json.dumps),
    )
)
def test_any_evidence_line_is_parsed_or_refused_never_raises(line: str) -> None:
    from services.consent.receipts.service import parse_evidence_line

    parsed = parse_evidence_line(line)
    assert isinstance(parsed, (list, str))
