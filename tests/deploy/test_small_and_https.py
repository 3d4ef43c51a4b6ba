"""compose.small.yml (one `overt up` on SQLite in a volume, behind Caddy) and automatic
HTTPS in both Caddyfiles: valid for the compose spec and for Caddy itself (`caddy validate`
and `caddy adapt`, Debian's `caddy` package), and consistent with the code.
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

from services.cli import parser
from shared.mail import MailSettings
from shared.settings import NOT_PROCESS_SETTINGS, Settings, known_variables
from tests.deploy.test_manifests import CADDYFILE, COMPOSE, check_compose, public_paths
from tests.helpers.backends import unavailable

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "compose.small.yml"
SMALL_CADDYFILE = ROOT / "deploy" / "Caddyfile.small"
DOMAIN = "overt.example.com"


@pytest.fixture(scope="module")
def small() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SMALL.read_text())
    return loaded


def test_small_profile_matches_the_compose_spec(tmp_path: Path) -> None:
    checked = check_compose(SMALL)
    assert checked.returncode == 0, checked.stdout
    broken = yaml.safe_load(SMALL.read_text())
    broken["services"]["overt"]["volumes"] = "overt-data"
    (tmp_path / "compose.yml").write_text(yaml.safe_dump(broken))
    assert check_compose(tmp_path / "compose.yml").returncode == 1


def test_small_profile_is_one_overt_up_on_sqlite_in_a_volume(small: dict[str, Any]) -> None:
    services = small["services"]
    assert set(services) == {"overt", "proxy"}
    overt = services["overt"]
    assert parser().parse_args(overt["command"]).command == "up"
    env = overt["environment"]
    assert set(env) <= known_variables(Settings, MailSettings), "only real settings"
    database = env["OVERT_DATABASE_URL"]
    assert database.startswith("sqlite+aiosqlite:////")
    data_dir = str(Path(database.split(":///", 1)[1]).parent)
    mounts = {mount.split(":")[1].split()[0]: mount.split(":")[0] for mount in overt["volumes"]}
    # The database, its WAL and the generated secret key all live in the named volume.
    assert mounts[data_dir] in small["volumes"]
    assert "OVERT_SECRET_KEY" not in env
    assert "/readyz" in " ".join(overt["healthcheck"]["test"])
    proxy = services["proxy"]
    assert proxy["depends_on"] == {"overt": {"condition": "service_healthy"}}
    assert "ports" not in overt, "only the proxy publishes ports"
    assert proxy["ports"] == ["${OVERT_HTTP_PORT:-8080}:80", "${OVERT_HTTPS_PORT:-8443}:443"]
    caddyfile = next(v for v in proxy["volumes"] if v.endswith(":/etc/caddy/Caddyfile:ro"))
    assert (ROOT / caddyfile.split(":")[0]).resolve() == SMALL_CADDYFILE
    assert any(v.startswith("caddy-data:/data") for v in proxy["volumes"])


@pytest.mark.parametrize("path", [COMPOSE, SMALL])
def test_compose_variables_are_settings_or_the_proxys(path: Path) -> None:
    """Every OVERT_ name a compose file sets or interpolates is a setting of an Overt
    process, or one `overt` knows is not (so a shell that exports it does not trip
    the misspelled-variable check)."""
    text = path.read_text()
    named = set(re.findall(r"\bOVERT_[A-Z_]+\b", text))
    known = known_variables(Settings, MailSettings) | NOT_PROCESS_SETTINGS
    assert named <= known, named - known
    assert {"OVERT_DOMAIN", "OVERT_HTTPS_PORT"} <= named


def caddy(*args: str, tmp_path: Path, domain: str | None) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("caddy")
    if tool is None:
        unavailable("caddy (Debian package caddy)", "not installed")
    assert tool is not None
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path)}
    if domain is not None:
        env["OVERT_DOMAIN"] = domain
    return subprocess.run(
        [tool, *args, "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def adapted(path: Path, tmp_path: Path, domain: str | None) -> dict[str, Any]:
    done = caddy("adapt", "--config", str(path), tmp_path=tmp_path, domain=domain)
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = json.loads(done.stdout)
    return config


@pytest.mark.parametrize("path", [CADDYFILE, SMALL_CADDYFILE])
@pytest.mark.parametrize("domain", [None, DOMAIN])
def test_caddy_accepts_the_config(path: Path, domain: str | None, tmp_path: Path) -> None:
    done = caddy("validate", "--config", str(path), tmp_path=tmp_path, domain=domain)
    assert done.returncode == 0, done.stderr
    assert "Valid configuration" in done.stdout + done.stderr


@pytest.mark.parametrize("path", [CADDYFILE, SMALL_CADDYFILE])
def test_a_domain_turns_on_automatic_https(path: Path, tmp_path: Path) -> None:
    (server,) = adapted(path, tmp_path, DOMAIN)["apps"]["http"]["servers"].values()
    assert server["listen"] == [":443"]
    assert server["routes"][0]["match"] == [{"host": [DOMAIN]}]
    assert "automatic_https" not in server  # certificates and the HTTP redirect, by Caddy
    (plain,) = adapted(path, tmp_path, None)["apps"]["http"]["servers"].values()
    assert plain["listen"] == [":80"]
    broken = tmp_path / "Caddyfile"
    broken.write_text(path.read_text().replace("handle {", "handle {\n\t\treverse_prox overt", 1))
    assert caddy("validate", "--config", str(broken), tmp_path=tmp_path, domain=None).returncode


def test_small_proxy_sends_every_public_path_to_overt_and_keeps_metrics_in() -> None:
    text = SMALL_CADDYFILE.read_text()
    assert "reverse_proxy overt:8000" in text
    assert public_paths(), "the public routes exist"
    internal = text.split("@internal path", 1)[1].split("\n", 1)[0].split()
    assert internal == ["/metrics", "/readyz"]
    assert not set(internal) & set(public_paths())
