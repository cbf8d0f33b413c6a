"""Settings: defaults, validation messages that name the variable, .env, secret hiding."""

from __future__ import annotations

from pathlib import Path

import pytest

from settings import Secret, SettingsError, load_settings


def load(**env: str) -> object:
    return load_settings(
        {f"SLIPGUARD_{k}": v for k, v in env.items()} | {"HOME": "/home/u"}, env_file=""
    )


def test_default_database_is_an_absolute_sqlite_file_in_the_user_data_dir() -> None:
    s = load_settings({"HOME": "/home/u"}, env_file="")
    assert s.database.url == "sqlite:////home/u/.local/share/slipguard/slipguard.sqlite3"
    assert s.database.sqlite_path.is_absolute()
    s = load_settings({"XDG_DATA_HOME": "/data"}, env_file="")
    assert s.database.sqlite_path == Path("/data/slipguard/slipguard.sqlite3")
    assert s.broker.kind == "memory"


@pytest.mark.parametrize(
    ("env", "name", "fragment"),
    [
        ({"DATABASE_URL": "mysql://db/x"}, "SLIPGUARD_DATABASE_URL", "unsupported database URL"),
        ({"DATABASE_URL": "sqlite:///relative.db"}, "SLIPGUARD_DATABASE_URL", "relative"),
        (
            {"DATABASE_URL": "postgresql://host:5432/"},
            "SLIPGUARD_DATABASE_URL",
            "names no database",
        ),
        ({"BROKER_URL": "kafka://x"}, "SLIPGUARD_BROKER_URL", "redis://"),
        ({"PORT": "eighty"}, "SLIPGUARD_PORT", "whole number"),
        ({"PORT": "70000"}, "SLIPGUARD_PORT", "65535"),
        ({"SECRET_KEY": "short"}, "SLIPGUARD_SECRET_KEY", "32 characters"),
        ({"LOG_LEVEL": "LOUD"}, "SLIPGUARD_LOG_LEVEL", "DEBUG"),
        ({"SECURE_COOKIES": "maybe"}, "SLIPGUARD_SECURE_COOKIES", "true/false"),
        ({"DATABASE_POOL_MIN": "5", "DATABASE_POOL_MAX": "2"}, "SLIPGUARD_DATABASE_POOL_MAX", ">="),
        ({"DATA_DIR": "rel/dir"}, "SLIPGUARD_DATA_DIR", "absolute"),
        ({"RETENTION_MESSAGE_DAYS": "half"}, "SLIPGUARD_RETENTION_MESSAGE_DAYS", "whole number"),
        ({"RETENTION_INBOUND_DAYS": "1"}, "SLIPGUARD_RETENTION_INBOUND_DAYS", "at least 7"),
        ({"RETENTION_CONSENT_DAYS": "30"}, "SLIPGUARD_RETENTION_CONSENT_DAYS", "at least 365"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], name: str, fragment: str) -> None:
    with pytest.raises(SettingsError) as err:
        load(**env)
    assert err.value.name == name
    assert str(err.value).startswith(name + ": ")
    assert fragment in str(err.value)


def test_retention_defaults_and_overrides() -> None:
    r = load_settings({"HOME": "/home/u"}, env_file="").retention
    assert (r.message_days, r.inbound_days, r.consent_days) == (180, 180, 1461)
    r = load(RETENTION_MESSAGE_DAYS="30", RETENTION_CONSENT_DAYS="2000").retention  # type: ignore[attr-defined]
    assert (r.message_days, r.inbound_days, r.consent_days) == (30, 180, 2000)


def test_broker_kinds_and_postgres_detection() -> None:
    assert load(BROKER_URL="redis://127.0.0.1:6379/0").broker.kind == "redis"  # type: ignore[attr-defined]
    assert load(BROKER_URL="amqp://guest:guest@127.0.0.1:5672/").broker.kind == "rabbitmq"  # type: ignore[attr-defined]
    s = load(DATABASE_URL="postgresql://postgres@127.0.0.1:5432/app")
    assert s.database.is_postgres  # type: ignore[attr-defined]


def test_secrets_never_show_in_reprs() -> None:
    s = load(
        SECRET_KEY="k" * 40,
        TWILIO_AUTH_TOKEN="twilio-token-value",
        SMTP_PASSWORD="smtp-password-value",
        DATABASE_URL="postgresql://app:db-password-value@127.0.0.1/app",
        BROKER_URL="amqp://u:broker-password-value@127.0.0.1/",
    )
    text = repr(s)
    for secret in (
        "k" * 40,
        "twilio-token-value",
        "smtp-password-value",
        "db-password-value",
        "broker-password-value",
    ):
        assert secret not in text
    assert s.twilio.auth_token.get() == "twilio-token-value"  # type: ignore[attr-defined]
    assert str(Secret("x")) == "Secret('**********')"


def test_env_file_is_read_without_overriding_the_environment(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("SLIPGUARD_PORT=9001\nSLIPGUARD_HOST=0.0.0.0\n")
    s = load_settings({"SLIPGUARD_PORT": "9002"}, env_file=str(env_file))
    assert s.server.port == 9002
    assert s.server.host == "0.0.0.0"
    assert s.server.public_url == "http://0.0.0.0:9002"
