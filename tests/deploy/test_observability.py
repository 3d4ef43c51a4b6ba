"""deploy/grafana/overt.json and deploy/alerts.yml: every metric they name is one Overt
registers, the dashboard shows every metric Overt exports, and Prometheus's own `promtool`
(Debian's `prometheus` package) parses every expression and passes the alerts' unit tests.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.metrics import REGISTRY, ledger_verification
from tests.helpers.backends import unavailable

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "overt.json"
ALERTS = ROOT / "deploy" / "alerts.yml"
ALERT_TESTS = ROOT / "deploy" / "alerts.test.yml"
PROMETHEUS = ROOT / "deploy" / "prometheus.yml"
# Names in PromQL that are Overt's (its own, the process and GC collectors'), not functions,
# labels or Prometheus's `up`.
OURS = re.compile(r"\b(?:overt|process|python)_[a-z0-9_]+\b")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def exported() -> dict[str, set[str]]:
    """Every series name Overt can export, by its metric family (a family's series exist
    only once a labelled child is used, so they are derived from the family's type)."""
    families = [*REGISTRY.collect(), *ledger_verification({"site": True}, 0.0).collect()]
    return {
        family.name: {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
        for family in families
    }


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        unavailable("promtool (Debian package prometheus)", "not installed")
    assert found is not None
    return found


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def expressions(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_dashboard_shows_every_exported_metric_and_only_those(dashboard: dict[str, Any]) -> None:
    names = exported()
    series = set().union(*names.values())
    used = {name for expr in expressions(dashboard) for name in OURS.findall(expr)}
    assert used <= series, f"not exported by Overt: {sorted(used - series)}"
    shown = {family for family, its in names.items() if its & used}
    ours = {family for family in names if family.startswith("overt_")}
    assert ours <= shown, f"exported but not on the dashboard: {sorted(ours - shown)}"
    for family in ("process_cpu_seconds", "process_resident_memory_bytes", "python_gc_collections"):
        assert family in shown, family


def test_dashboard_is_well_formed_grafana(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "overt"
    (variable,) = dashboard["templating"]["list"]
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    graphs = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert len(graphs) >= 15
    for panel in graphs:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        place = panel["gridPos"]
        assert place["x"] >= 0
        assert place["x"] + place["w"] <= 24
        refs = [target["refId"] for target in panel["targets"]]
        assert refs, panel["title"]
        assert len(refs) == len(set(refs)), panel["title"]


def test_every_dashboard_expression_is_valid_promql(
    dashboard: dict[str, Any], tmp_path: Path
) -> None:
    """promtool parses each expression as a recording rule: a typo fails the check."""
    tool = promtool()

    def check(exprs: list[str]) -> subprocess.CompletedProcess[str]:
        rules = {
            "groups": [
                {
                    "name": "dashboard",
                    "rules": [
                        {"record": f"overt:dashboard_{n}", "expr": expr}
                        for n, expr in enumerate(exprs)
                    ],
                }
            ]
        }
        path = tmp_path / "dashboard-rules.yml"
        path.write_text(yaml.safe_dump(rules))
        return subprocess.run(
            [tool, "check", "rules", str(path)], capture_output=True, text=True, check=False
        )

    exprs = expressions(dashboard)
    checked = check(exprs)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in checked.stdout
    assert check(["sum by (le (rate(overt_intake_seconds_bucket[5m]))"]).returncode != 0


def test_alert_rules_pass_promtool_and_their_unit_tests() -> None:
    tool = promtool()
    checked = subprocess.run(
        [tool, "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [tool, "test", "rules", str(ALERT_TESTS)], capture_output=True, text=True, check=False
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_alerts_cover_the_operator_cases_on_exported_metrics() -> None:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    rules = {rule["alert"]: rule["expr"] for group in groups for rule in group["rules"]}
    series = set().union(*exported().values())
    for name, expr in rules.items():
        used = set(OURS.findall(expr))
        assert used <= series, (name, sorted(used - series))
    covered = {
        "overt_queue_lag_seconds",
        "overt_ingest_dead_letters_total",
        "overt_webhook_attempts_total",
        "overt_ledger_intact",
        "overt_ledger_verified_timestamp_seconds",
    }
    assert covered <= {name for expr in rules.values() for name in OURS.findall(expr)}
    tested = yaml.safe_load(ALERT_TESTS.read_text())
    fired = {
        case["alertname"]
        for test in tested["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    assert fired == set(rules), "every alert has a unit test that makes it fire"
    assert yaml.safe_load(PROMETHEUS.read_text())["rule_files"] == ["alerts.yml"]
