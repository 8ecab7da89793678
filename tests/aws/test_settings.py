"""Settings.from_env: the documented variables, their types, defaults and errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from factorial_aws.aws.settings import ALL_VARIABLES, REQUIRED, Settings, SettingsError
from factorial_aws.errors import DefinitionError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "settings.md"

FULL_ENV = {
    "FACTORIAL_APP": "my_app.main:app",
    "FACTORIAL_REDIS_URL": "rediss://cache.serverless.use1.cache.amazonaws.com:6379",
    "FACTORIAL_REDIS_IAM_USER": "factorial-app",
    "FACTORIAL_REDIS_CACHE_NAME": "Factorial-Cache",
    "FACTORIAL_TURN_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/turns",
    "FACTORIAL_TURN_QUEUE_ARN": "arn:aws:sqs:us-east-1:123456789012:turns",
    "FACTORIAL_SCHEDULER_GROUP": "factorial-wakes",
    "FACTORIAL_SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/wakes",
    "FACTORIAL_SCHEDULER_DLQ_ARN": "arn:aws:sqs:us-east-1:123456789012:schedule-dlq",
    "FACTORIAL_HOOK_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:hook-AbCdEf",
    "FACTORIAL_MODEL_KEY_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:m-1",
    "FACTORIAL_PUBLIC_BASE_URL": "https://api.example.com/prod",
    "FACTORIAL_TASK_TTL_S": "3600",
    "FACTORIAL_LEASE_S": "960",
    "FACTORIAL_MAX_PAYLOAD_BYTES": "1024",
    "FACTORIAL_REQUIRE_IAM": "false",
    "OPENAI_BASE_URL": "http://localhost:8080/v1",
    "OPENAI_API_KEY": "sk-test-secret",
    "LOG_LEVEL": "debug",
    "POWERTOOLS_SERVICE_NAME": "my-agents",
}
MINIMAL_ENV = {name: FULL_ENV[name] for name in REQUIRED}


def test_full_environment_parses_with_types() -> None:
    s = Settings.from_env(FULL_ENV)
    assert s.app == "my_app.main:app"
    assert (s.app_module, s.app_attribute) == ("my_app.main", "app")
    assert s.redis_url.startswith("rediss://")
    assert (s.redis_iam_user, s.redis_cache_name) == ("factorial-app", "Factorial-Cache")
    assert s.turn_queue_url.endswith("/turns")
    assert s.turn_queue_arn == "arn:aws:sqs:us-east-1:123456789012:turns"
    assert s.scheduler_group == "factorial-wakes"
    assert s.scheduler_role_arn.endswith(":role/wakes")
    assert s.scheduler_dlq_arn == "arn:aws:sqs:us-east-1:123456789012:schedule-dlq"
    assert s.hook_secret_arn.endswith("hook-AbCdEf")
    assert s.model_key_secret_arn is not None
    assert s.public_base_url == "https://api.example.com/prod"
    assert (s.task_ttl_s, s.lease_s, s.max_payload_bytes) == (3600, 960, 1024)
    assert s.require_iam is False
    assert s.openai_base_url == "http://localhost:8080/v1"
    assert s.openai_api_key == "sk-test-secret"
    assert s.log_level == "DEBUG"
    assert s.service_name == "my-agents"
    assert "sk-test-secret" not in repr(s)


def test_minimal_environment_gets_documented_defaults() -> None:
    s = Settings.from_env(MINIMAL_ENV)
    assert s.redis_iam_user is None and s.redis_cache_name is None
    assert s.model_key_secret_arn is None
    assert s.task_ttl_s == 604800
    assert s.lease_s is None
    assert s.max_payload_bytes == 65536
    assert s.require_iam is True
    assert s.openai_base_url is None and s.openai_api_key is None
    assert s.log_level == "INFO"
    assert s.service_name == "factorial-aws"


def test_empty_optional_values_mean_unset() -> None:
    env = {**MINIMAL_ENV, "FACTORIAL_REDIS_IAM_USER": "", "FACTORIAL_TASK_TTL_S": " "}
    s = Settings.from_env(env)
    assert s.redis_iam_user is None
    assert s.task_ttl_s == 604800


@pytest.mark.parametrize("name", REQUIRED)
@pytest.mark.parametrize("blank", [None, ""], ids=["missing", "empty"])
def test_each_required_variable_is_required(name: str, blank: str | None) -> None:
    env = dict(FULL_ENV)
    if blank is None:
        del env[name]
    else:
        env[name] = blank
    with pytest.raises(SettingsError, match=name) as info:
        Settings.from_env(env)
    assert isinstance(info.value, DefinitionError)
    assert info.value.code == "invalid_settings"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FACTORIAL_TASK_TTL_S", "a week"),
        ("FACTORIAL_TASK_TTL_S", "0"),
        ("FACTORIAL_LEASE_S", "-5"),
        ("FACTORIAL_LEASE_S", "1.5"),
        ("FACTORIAL_MAX_PAYLOAD_BYTES", "64k"),
        ("FACTORIAL_REQUIRE_IAM", "maybe"),
        ("FACTORIAL_APP", "app"),
        ("FACTORIAL_APP", "app:"),
        ("FACTORIAL_APP", ":app"),
        ("FACTORIAL_APP", "my-app:app"),
        ("FACTORIAL_APP", "app:app:app"),
        ("FACTORIAL_REDIS_URL", "http://cache:6379"),
        ("FACTORIAL_REDIS_URL", "cache:6379"),
        ("FACTORIAL_REDIS_URL", "rediss://"),
        ("FACTORIAL_TURN_QUEUE_URL", "sqs.us-east-1.amazonaws.com/1/turns"),
        ("FACTORIAL_TURN_QUEUE_ARN", "turns"),
        ("FACTORIAL_SCHEDULER_ROLE_ARN", "arn:aws:iam"),
        ("FACTORIAL_SCHEDULER_DLQ_ARN", "schedule-dlq"),
        ("FACTORIAL_SCHEDULER_GROUP", "bad group"),
        ("FACTORIAL_SCHEDULER_GROUP", "g" * 65),
        ("FACTORIAL_PUBLIC_BASE_URL", "ftp://example.com"),
        ("OPENAI_BASE_URL", "localhost:8080"),
        ("LOG_LEVEL", "LOUD"),
    ],
)
def test_malformed_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({**FULL_ENV, name: value})


@pytest.mark.parametrize("value", ["true", "TRUE", "1", "yes", "on"])
def test_truthy_booleans(value: str) -> None:
    assert Settings.from_env({**MINIMAL_ENV, "FACTORIAL_REQUIRE_IAM": value}).require_iam is True


def test_iam_user_needs_the_cache_name() -> None:
    env = {k: v for k, v in FULL_ENV.items() if k != "FACTORIAL_REDIS_CACHE_NAME"}
    with pytest.raises(SettingsError, match="FACTORIAL_REDIS_CACHE_NAME"):
        Settings.from_env(env)


def test_iam_user_needs_tls() -> None:
    env = {**FULL_ENV, "FACTORIAL_REDIS_URL": "redis://cache:6379"}
    with pytest.raises(SettingsError, match="rediss://"):
        Settings.from_env(env)


def test_store_settings_lease_defaults_to_turn_timeout_plus_a_minute() -> None:
    s = Settings.from_env(MINIMAL_ENV)
    assert s.store_settings(turn_timeout_s=900).lease_ms == 960_000
    assert s.store_settings(turn_timeout_s=900).tree_ttl_s == 604800
    explicit = Settings.from_env({**MINIMAL_ENV, "FACTORIAL_LEASE_S": "100"})
    assert explicit.store_settings(turn_timeout_s=900).lease_ms == 100_000


def test_variables_match_docs_table() -> None:
    rows = re.findall(r"^\| `([A-Z_]+)` \| ([^|]+) \|", DOCS.read_text(), flags=re.MULTILINE)
    documented = {name for name, _ in rows}
    required = {name for name, req in rows if req.strip() == "yes"}
    assert set(REQUIRED) == required
    # OPENAI_API_KEY is documented in the model key row ("OPENAI_API_KEY wins when set").
    assert set(ALL_VARIABLES) == documented | {"OPENAI_API_KEY"}
    assert len(ALL_VARIABLES) == len(set(ALL_VARIABLES))


def test_only_the_settings_module_reads_the_environment() -> None:
    package = Path(__file__).resolve().parents[2] / "factorial_aws"
    readers = [
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        if re.search(r"os\.environ|getenv\(", path.read_text())
    ]
    assert readers == ["aws/settings.py"]
