"""Slipguard settings: read once from ``SLIPGUARD_*`` environment variables.

This is the only module that reads ``os.environ``. A ``.env`` file in the current
directory (or the one named by ``SLIPGUARD_ENV_FILE``) is read first without
overriding variables that are already set. Each concern gets its own frozen
dataclass; secrets are wrapped in :class:`Secret` so they never show in reprs or logs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

PREFIX = "SLIPGUARD_"


class SettingsError(ValueError):
    """A setting has an invalid value; the message names the variable."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{PREFIX}{name}: {message}")
        self.name = PREFIX + name


class Secret:
    """A string that hides itself from repr/str so it cannot leak into logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        """Return the secret value."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def default_data_dir(env: Mapping[str, str]) -> Path:
    """Per-user data directory (XDG), always absolute."""
    home = env.get("HOME") or os.path.expanduser("~")
    base = env.get("XDG_DATA_HOME") or os.path.join(home, ".local", "share")
    return Path(base).resolve() / "slipguard"


@dataclass(frozen=True)
class DatabaseSettings:
    """Where the durable truth lives: SQLite file (embedded) or PostgreSQL (scale)."""

    url: str
    pool_min: int = 1
    pool_max: int = 10

    @property
    def is_postgres(self) -> bool:
        return self.url.startswith(("postgresql://", "postgres://"))

    @property
    def sqlite_path(self) -> Path:
        """Absolute path of the SQLite file (only for sqlite URLs)."""
        return Path(self.url.removeprefix("sqlite:///"))

    def __repr__(self) -> str:
        return (
            f"DatabaseSettings(url={redact_url(self.url)!r}, pool={self.pool_min}..{self.pool_max})"
        )


@dataclass(frozen=True)
class BrokerSettings:
    """Message broker: unset = in-process; redis:// or amqp:// for separate workers."""

    url: str | None = None
    heartbeat_timeout_ms: int = 10_000
    worker_threads: int = 4
    worker_slot: str | None = None  # set by `slipguard worker` for each supervised child

    @property
    def kind(self) -> str:
        if self.url is None:
            return "memory"
        return "redis" if self.url.startswith(("redis://", "rediss://")) else "rabbitmq"

    def __repr__(self) -> str:
        url = redact_url(self.url) if self.url else None
        return f"BrokerSettings(url={url!r}, kind={self.kind!r})"


@dataclass(frozen=True)
class ServerSettings:
    """HTTP server, sessions and request limits."""

    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = "http://127.0.0.1:8000"
    secret_key: Secret = field(default_factory=lambda: Secret(""))
    # The key before the last rotation: customer links signed with it still open while
    # they have not expired (sessions and CSRF use only the current key).
    previous_secret_key: Secret = field(default_factory=lambda: Secret(""))
    link_days: int = 30  # how long a customer's link (/c/...) keeps working
    secure_cookies: bool = False
    max_body_bytes: int = 1_048_576
    log_level: str = "INFO"
    log_json: bool = True
    metrics_enabled: bool = True


@dataclass(frozen=True)
class TwilioSettings:
    """SMS through Twilio; ``api_base`` points the SDK at another host (development, tests)."""

    account_sid: str = ""
    auth_token: Secret = field(default_factory=lambda: Secret(""))
    from_number: str = ""
    messaging_service_sid: str = ""
    api_base: str = ""

    @property
    def configured(self) -> bool:
        return bool(self.account_sid and self.auth_token)


@dataclass(frozen=True)
class EmailSettings:
    """Email over SMTP."""

    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: Secret = field(default_factory=lambda: Secret(""))
    starttls: bool = True
    from_address: str = "Slipguard <no-reply@localhost>"


@dataclass(frozen=True)
class DeliverySettings:
    """How messages go out: caps, retries, claims and pacing."""

    frequency_cap_per_day: int = 3  # per customer, across journeys, in any 24 hours
    max_attempts: int = 8  # then failed(exhausted)
    backoff_base_seconds: float = 30.0  # doubled per attempt, with jitter
    backoff_max_seconds: float = 3600.0
    claim_batch: int = 500  # rows claimed per scheduler tick
    stale_queued_seconds: int = 60  # a claim the broker never delivered is published again
    stale_sending_seconds: int = 120  # a send a worker never finished is checked and retried
    sender_rate_per_second: float = 1.0  # per SMS sender, across all worker processes
    max_pacing_wait_seconds: float = 5.0  # longer waits go back to the outbox
    outbox_channel: bool = False  # record every message instead of sending it


@dataclass(frozen=True)
class SchedulerSettings:
    """The scheduler loop that claims due work."""

    interval_seconds: float = 5.0
    step_horizon_hours: int = 48
    embedded: bool = True  # `serve` without --workers runs the loop in-process


@dataclass(frozen=True)
class IntakeSettings:
    """Rules for logging slips."""

    max_age_days: int = 365
    clock_skew_seconds: int = 300
    edit_window_minutes: int = 60
    idempotency_hours: int = 24


@dataclass(frozen=True)
class RetentionSettings:
    """How long personal data is kept (docs/privacy.md): the text and address of messages
    sent or finished, the texts customers sent, and consent records (proof of consent,
    kept longer; the current record per channel and purpose is never deleted)."""

    message_days: int = 180
    inbound_days: int = 180
    consent_days: int = 1461  # four years
    batch: int = 1000  # rows per kind, per organisation, per scheduler tick


@dataclass(frozen=True)
class Settings:
    """All settings, one dataclass per concern."""

    data_dir: Path
    database: DatabaseSettings
    broker: BrokerSettings
    server: ServerSettings
    twilio: TwilioSettings
    email: EmailSettings
    scheduler: SchedulerSettings
    intake: IntakeSettings = field(default_factory=IntakeSettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    default_phone_region: str = "US"


def redact_url(url: str) -> str:
    """Hide the password part of a URL."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


class _Reader:
    """Typed access to SLIPGUARD_* values that names the variable in every error."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def text(self, name: str, default: str = "") -> str:
        return self.env.get(PREFIX + name, default).strip()

    def whole(self, name: str, default: int, minimum: int = 0) -> int:
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(name, f"expected a whole number, got {raw!r}") from None
        if value < minimum:
            raise SettingsError(name, f"must be at least {minimum}, got {value}")
        return value

    def number(self, name: str, default: float) -> float:
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(name, f"expected a number, got {raw!r}") from None
        if value <= 0:
            raise SettingsError(name, f"must be positive, got {raw}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self.text(name).lower()
        if not raw:
            return default
        if raw in {"1", "true", "yes", "on"}:
            return True
        if raw in {"0", "false", "no", "off"}:
            return False
        raise SettingsError(name, f"expected true/false, got {raw!r}")


def _database(r: _Reader, data_dir: Path) -> DatabaseSettings:
    url = r.text("DATABASE_URL") or f"sqlite:///{data_dir / 'slipguard.sqlite3'}"
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme == "sqlite":
        path = url.removeprefix("sqlite:///")
        if not url.startswith("sqlite:///") or not path:
            raise SettingsError("DATABASE_URL", "write SQLite URLs as sqlite:////absolute/path.db")
        if not os.path.isabs(path):
            raise SettingsError(
                "DATABASE_URL",
                f"SQLite path {path!r} is relative; use an absolute path (sqlite:////abs/path.db)",
            )
    elif scheme in {"postgresql", "postgres"}:
        parts = urlsplit(url)
        if not parts.hostname and "host=" not in (parts.query or ""):
            raise SettingsError("DATABASE_URL", "PostgreSQL URL has no host")
        if not parts.path.strip("/"):
            raise SettingsError("DATABASE_URL", "PostgreSQL URL names no database")
    else:
        raise SettingsError(
            "DATABASE_URL",
            f"unsupported database URL {redact_url(url)!r}; "
            "use sqlite:////abs/path.db or postgresql://user@host:port/dbname",
        )
    pool_min = r.whole("DATABASE_POOL_MIN", 1, minimum=1)
    pool_max = r.whole("DATABASE_POOL_MAX", 10, minimum=1)
    if pool_max < pool_min:
        raise SettingsError("DATABASE_POOL_MAX", f"must be >= DATABASE_POOL_MIN ({pool_min})")
    return DatabaseSettings(url=url, pool_min=pool_min, pool_max=pool_max)


def _broker(r: _Reader) -> BrokerSettings:
    url = r.text("BROKER_URL") or None
    if url is not None and not url.startswith(("redis://", "rediss://", "amqp://", "amqps://")):
        raise SettingsError(
            "BROKER_URL",
            f"unsupported broker URL {redact_url(url)!r}; use redis://… or amqp://…, "
            "or leave it unset for the in-process broker",
        )
    return BrokerSettings(
        url=url,
        heartbeat_timeout_ms=r.whole("BROKER_HEARTBEAT_TIMEOUT_MS", 10_000, minimum=1000),
        worker_threads=r.whole("WORKER_THREADS", 4, minimum=1),
        worker_slot=r.text("WORKER_SLOT") or None,
    )


def _server(r: _Reader) -> ServerSettings:
    host = r.text("HOST", "127.0.0.1")
    port = r.whole("PORT", 8000, minimum=1)
    if port > 65535:
        raise SettingsError("PORT", f"must be at most 65535, got {port}")
    public_url = r.text("PUBLIC_URL", f"http://{host}:{port}").rstrip("/")
    if not public_url.startswith(("http://", "https://")):
        raise SettingsError(
            "PUBLIC_URL", f"must start with http:// or https://, got {public_url!r}"
        )
    secret = r.text("SECRET_KEY")
    if secret and len(secret) < 32:
        raise SettingsError("SECRET_KEY", "must be at least 32 characters")
    previous = r.text("SECRET_KEY_PREVIOUS")
    if previous and len(previous) < 32:
        raise SettingsError("SECRET_KEY_PREVIOUS", "must be at least 32 characters")
    if previous and not secret:
        raise SettingsError("SECRET_KEY_PREVIOUS", "needs SLIPGUARD_SECRET_KEY (the new key)")
    level = r.text("LOG_LEVEL", "INFO").upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise SettingsError("LOG_LEVEL", f"expected DEBUG, INFO, WARNING or ERROR, got {level!r}")
    return ServerSettings(
        host=host,
        port=port,
        public_url=public_url,
        secret_key=Secret(secret),
        previous_secret_key=Secret(previous),
        link_days=r.whole("LINK_DAYS", 30, minimum=1),
        secure_cookies=r.flag("SECURE_COOKIES", public_url.startswith("https://")),
        max_body_bytes=r.whole("MAX_BODY_BYTES", 1_048_576, minimum=1024),
        log_level=level,
        log_json=r.flag("LOG_JSON", True),
        metrics_enabled=r.flag("METRICS_ENABLED", True),
    )


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: str | None = None
) -> Settings:
    """Build settings from the environment (plus an optional .env that never overrides it)."""
    env = dict(os.environ if environ is None else environ)
    path = env_file if env_file is not None else env.get(PREFIX + "ENV_FILE", ".env")
    if path and os.path.isfile(path):
        for key, value in dotenv_values(path).items():
            if value is not None:
                env.setdefault(key, value)
    r = _Reader(env)
    data_dir_raw = r.text("DATA_DIR")
    if data_dir_raw and not os.path.isabs(data_dir_raw):
        raise SettingsError("DATA_DIR", f"must be an absolute path, got {data_dir_raw!r}")
    data_dir = Path(data_dir_raw) if data_dir_raw else default_data_dir(env)
    return Settings(
        data_dir=data_dir,
        database=_database(r, data_dir),
        broker=_broker(r),
        server=_server(r),
        twilio=TwilioSettings(
            account_sid=r.text("TWILIO_ACCOUNT_SID"),
            auth_token=Secret(r.text("TWILIO_AUTH_TOKEN")),
            from_number=r.text("TWILIO_FROM_NUMBER"),
            messaging_service_sid=r.text("TWILIO_MESSAGING_SERVICE_SID"),
            api_base=r.text("TWILIO_API_BASE"),
        ),
        email=EmailSettings(
            smtp_host=r.text("SMTP_HOST"),
            smtp_port=r.whole("SMTP_PORT", 587, minimum=1),
            smtp_username=r.text("SMTP_USERNAME"),
            smtp_password=Secret(r.text("SMTP_PASSWORD")),
            starttls=r.flag("SMTP_STARTTLS", True),
            from_address=r.text("EMAIL_FROM", "Slipguard <no-reply@localhost>"),
        ),
        scheduler=SchedulerSettings(
            interval_seconds=r.number("SCHEDULER_INTERVAL_SECONDS", 5.0),
            step_horizon_hours=r.whole("STEP_HORIZON_HOURS", 48, minimum=1),
            embedded=r.flag("SCHEDULER_EMBEDDED", True),
        ),
        intake=IntakeSettings(
            max_age_days=r.whole("SLIP_MAX_AGE_DAYS", 365, minimum=1),
            clock_skew_seconds=r.whole("SLIP_CLOCK_SKEW_SECONDS", 300),
            edit_window_minutes=r.whole("SLIP_EDIT_WINDOW_MINUTES", 60),
            idempotency_hours=r.whole("IDEMPOTENCY_HOURS", 24, minimum=24),
        ),
        delivery=DeliverySettings(
            frequency_cap_per_day=r.whole("FREQUENCY_CAP_PER_DAY", 3, minimum=1),
            max_attempts=r.whole("DELIVERY_MAX_ATTEMPTS", 8, minimum=1),
            backoff_base_seconds=r.number("DELIVERY_BACKOFF_SECONDS", 30.0),
            backoff_max_seconds=r.number("DELIVERY_BACKOFF_MAX_SECONDS", 3600.0),
            claim_batch=r.whole("DELIVERY_CLAIM_BATCH", 500, minimum=1),
            stale_queued_seconds=r.whole("DELIVERY_STALE_QUEUED_SECONDS", 60, minimum=1),
            stale_sending_seconds=r.whole("DELIVERY_STALE_SENDING_SECONDS", 120, minimum=1),
            sender_rate_per_second=r.number("SMS_RATE_PER_SENDER", 1.0),
            max_pacing_wait_seconds=r.number("DELIVERY_MAX_PACING_WAIT_SECONDS", 5.0),
            outbox_channel=r.flag("OUTBOX_CHANNEL", False),
        ),
        retention=RetentionSettings(
            message_days=r.whole("RETENTION_MESSAGE_DAYS", 180, minimum=7),
            inbound_days=r.whole("RETENTION_INBOUND_DAYS", 180, minimum=7),
            consent_days=r.whole("RETENTION_CONSENT_DAYS", 1461, minimum=365),
            batch=r.whole("RETENTION_BATCH", 1000, minimum=1),
        ),
        default_phone_region=r.text("DEFAULT_PHONE_REGION", "US").upper(),
    )


WORKER_SLOT = PREFIX + "WORKER_SLOT"


def environment_with(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment plus ``extra``, for a child process."""
    return {**os.environ, **extra}


def worker_environment(slot: int, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a supervised worker child: this process's (or ``base``), plus
    its slot number, which the child reads back as ``broker.worker_slot``."""
    env = dict(os.environ if base is None else base)
    env[WORKER_SLOT] = str(slot)
    return env


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, loaded on first use."""
    return load_settings()
