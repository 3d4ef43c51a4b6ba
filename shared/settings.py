"""Settings shared by every Overt process (environment variables with the OVERT_ prefix)."""

from __future__ import annotations

import contextlib
import difflib
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.files import read_or_publish

SUPPORTED_DATABASE_SCHEMES = ("sqlite+aiosqlite", "postgresql+asyncpg")
SUPPORTED_REDIS_SCHEMES = ("redis", "rediss", "unix")

Port = Annotated[int, Field(ge=1, le=65535)]


class SettingsError(Exception):
    """A setting is missing or wrong; the message names the environment variable."""


class Settings(BaseSettings):
    """The knobs every process shares. Services subclass it only for their own knobs."""

    model_config = SettingsConfigDict(env_prefix="OVERT_", extra="ignore", frozen=True)

    database_url: str = Field(
        default="sqlite+aiosqlite:///./var/overt.db",
        description="SQLAlchemy URL: sqlite+aiosqlite:///PATH or postgresql+asyncpg://...",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis URL; unset means the in-process queue and cache (one process only).",
    )
    redis_prefix: str = Field(
        default="overt", description="Prefix of every Redis key (streams, caches)."
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Server secret (>= 32 chars). Unset: generated once into var/secret.key.",
    )
    host: str = Field(default="127.0.0.1", description="Address the HTTP server binds.")
    port: Port = Field(default=8000, description="Port the HTTP server binds.")
    public_url: str | None = Field(
        default=None, description="Public base URL printed in the script tag (default: host:port)."
    )
    max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Largest request body any service accepts (413)."
    )
    import_max_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1024,
        description="Largest upload POST /v1/sites/{id}/imports accepts (413 above).",
    )
    import_max_unpacked_bytes: int = Field(
        default=2 * 1024 * 1024 * 1024,
        ge=1024,
        description="Most bytes an import's zip may unpack to (413 above: zip bombs).",
    )
    read_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Longest a request's head, then its body, may take to arrive (else 408).",
    )
    ingest_batch_entries: int = Field(
        default=1000,
        ge=1,
        description="Most queue entries (each packs many events) per worker transaction.",
    )
    queue_max_entries: int = Field(
        default=100_000,
        ge=1,
        description="Redis stream length above which the collector answers 503 (backpressure).",
    )
    client_ip_header: str | None = Field(
        default=None,
        description="Header with the client IP set by a trusted proxy (e.g. X-Forwarded-For).",
    )
    country_header: str | None = Field(
        default=None,
        description="Header with the visitor's country set by a trusted proxy (CF-IPCountry); "
        "when set it wins over the IP database's country.",
    )
    geoip_db: str | None = Field(
        default=None,
        description="MaxMind DB files (.mmdb, comma-separated) giving country, region and city "
        "by IP, e.g. GeoLite2-City.mmdb; unset: DB-IP Lite as `make geo` installs it in "
        "var/geo/; empty: no lookup.",
    )
    worker_name: str = Field(
        default="worker-1",
        description="Consumer name in the Redis group; keep it stable across restarts.",
    )
    claim_idle_ms: int = Field(
        default=60_000,
        ge=100,
        description="Idle time after which a worker takes over another consumer's pending entries.",
    )
    queue_slices: int = Field(
        default=16,
        ge=1,
        le=1024,
        description="Redis streams the events are split into by visitor; the most workers "
        "that share ingestion. The same in every collector and worker; change it only with "
        "the streams drained.",
    )
    slice_lease_ms: int = Field(
        default=15_000,
        ge=300,
        description="Time to live of a worker's lease on a slice: how long a dead worker's "
        "slices wait before another takes them over.",
    )
    session_fold_ms: int = Field(
        default=0,
        ge=0,
        description="0: the ingest worker updates continuing sessions' rows with each batch. "
        "Above 0: it logs their changes with their events instead and writes them into "
        "`sessions` whenever the queue runs dry and at least this often under a backlog "
        "(how far `sessions` may lag): far fewer row updates when batches are busy.",
    )
    maintenance_interval_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="Seconds between partition and retention passes of each worker.",
    )
    api_rate_limit: int = Field(
        default=600,
        ge=1,
        description="Requests per API key per window (a key's own limit overrides it).",
    )
    ingest_rate_limit: int = Field(
        default=6000,
        ge=1,
        description="Requests per ingest key (POST /api/event with a key) per API window "
        "(a key's own limit overrides it); each request carries up to 50 events.",
    )
    api_rate_window_s: int = Field(
        default=60, ge=1, le=3600, description="Length of the API rate-limit window, seconds."
    )
    login_account_rate_limit: int = Field(
        default=10,
        ge=1,
        description="Sign-in attempts per account (e-mail) per login window, right or wrong.",
    )
    login_client_rate_limit: int = Field(
        default=50, ge=1, description="Sign-in attempts per client IP per login window."
    )
    login_rate_window_s: int = Field(
        default=900, ge=1, le=86400, description="Length of the login window, seconds."
    )
    query_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="Longest a stats query or report may run (each statement, on PostgreSQL) "
        "before it is stopped and answered 503 query-timeout.",
    )
    consent_client_rate_limit: int = Field(
        default=60,
        ge=1,
        description="Consent writes (POSTs) per client IP per consent window; raise it when "
        "many visitors share one address (a carrier NAT).",
    )
    consent_site_rate_limit: int = Field(
        default=30_000, ge=1, description="Consent writes per site per consent window."
    )
    consent_rate_window_s: int = Field(
        default=60, ge=1, le=3600, description="Length of the consent write window, seconds."
    )
    consent_mails_per_address: int = Field(
        default=3, ge=1, description="Verification mails to one address per mail window."
    )
    consent_mails_per_client: int = Field(
        default=10, ge=1, description="Verification mails asked by one client IP per mail window."
    )
    consent_mails_per_site: int = Field(
        default=1000, ge=1, description="Verification mails for one site per mail window."
    )
    consent_mail_window_s: int = Field(
        default=3600, ge=60, le=86_400, description="Length of the mail window, seconds."
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="Allow webhook URLs on private or loopback addresses (local receivers only).",
    )
    webhook_poll_s: float = Field(
        default=1.0, gt=0, description="How often the webhook sender looks for work, seconds."
    )
    webhook_intent_scan_s: float = Field(
        default=15.0, gt=0, description="How often contacts are scored for intent webhooks."
    )
    webhook_retry_base_s: float = Field(
        default=30.0, gt=0, description="First webhook retry delay; doubles per failed attempt."
    )
    webhook_max_attempts: int = Field(
        default=8, ge=1, le=30, description="Webhook attempts before a delivery is given up."
    )
    webhook_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Deadline of one webhook request, seconds: resolving, connecting, sending "
        "and reading the answer, all together.",
    )
    webhook_concurrency: int = Field(
        default=32, ge=1, le=1000, description="Most webhook requests in flight at once."
    )
    webhook_subscription_concurrency: int = Field(
        default=4,
        ge=1,
        le=100,
        description="Most webhook requests in flight to one subscription at once.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token a scraper sends for /metrics; unset: /metrics answers only "
        "on loopback, not through a proxy.",
    )
    log_format: str = Field(default="json", pattern="^(json|text)$", description="json or text.")
    log_level: str = Field(default="INFO", description="stdlib logging level.")
    access_log: bool = Field(
        default=False,
        description="An access line for every answer (method, route template, status, "
        "duration, request id; never IP, User-Agent, query or body); off: refusals only.",
    )

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        scheme = value.split("://", 1)[0]
        if scheme not in SUPPORTED_DATABASE_SCHEMES:
            raise ValueError(
                f"unsupported scheme {scheme!r}; use one of {', '.join(SUPPORTED_DATABASE_SCHEMES)}"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _known_redis(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        scheme = value.split("://", 1)[0]
        if scheme not in SUPPORTED_REDIS_SCHEMES:
            raise ValueError(f"unsupported scheme {scheme!r}; use redis:// or rediss://")
        return value

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _empty_token_is_unset(cls, value: object) -> object:
        return None if value in ("", None) else value

    @field_validator("metrics_token")
    @classmethod
    def _long_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @field_validator("secret_key")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def secret(self) -> bytes:
        """The server secret; in the embedded mode generated once next to the SQLite file."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        if not self.is_sqlite:
            raise SettingsError("OVERT_SECRET_KEY: required when the database is not SQLite")
        path = sqlite_path(self.database_url).parent / "secret.key"
        with contextlib.suppress(FileNotFoundError):
            return path.read_bytes().strip()
        # A first start: publish a new key unless a racing start did first (then use its key).
        return read_or_publish(path, secrets.token_urlsafe(48).encode()).strip()


S = TypeVar("S", bound=Settings)

# OVERT_ variables that are not settings of an Overt process: compose's published port and
# domain (read by Docker Compose and Caddy), and the test suite's and benchmarks' own.
NOT_PROCESS_SETTINGS = frozenset({"OVERT_HTTP_PORT", "OVERT_HTTPS_PORT", "OVERT_DOMAIN"})
TOOLING_PREFIXES = ("OVERT_TEST_", "OVERT_BENCH_", "OVERT_FUZZ_")


def known_variables(*models: type[BaseSettings]) -> set[str]:
    """The environment variables these settings models read."""
    return {
        (str(model.model_config.get("env_prefix", "")) + name).upper()
        for model in models
        for name in model.model_fields
    }


def check_environment(environ: Mapping[str, str], *models: type[BaseSettings]) -> None:
    """Refuse an OVERT_ variable no model reads (a typo would otherwise be ignored silently),
    naming the closest known one."""
    known = known_variables(*models)
    unknown = sorted(
        name
        for name in environ
        if name.upper().startswith("OVERT_")
        and name.upper() not in known | NOT_PROCESS_SETTINGS
        and not name.upper().startswith(TOOLING_PREFIXES)
    )
    if unknown:
        raise SettingsError("; ".join(_unknown_variable(name, known) for name in unknown))


def _unknown_variable(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name.upper(), sorted(known), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}?" if close else "see the settings table in README.md"
    return f"{name} is not an Overt setting: {hint}"


def sqlite_path(database_url: str) -> Path:
    """The file behind a sqlite+aiosqlite URL."""
    return Path(database_url.split(":///", 1)[1] or "overt.db")


def load_settings(cls: type[S]) -> S:
    """Read settings from the environment, turning validation errors into named messages."""
    try:
        return cls()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = "OVERT_" + "_".join(str(part) for part in error["loc"]).upper()
            problems.append(f"{name}: {error['msg']}")
        raise SettingsError("; ".join(problems)) from None
