"""The settings of a deployed stack, read from the environment in one place.

The variables and their meaning are documented in ``docs/settings.md``; :data:`ALL_VARIABLES` and
:data:`REQUIRED` list them. This is the only module of the package that reads ``os.environ``;
everything else receives a :class:`Settings`. A missing required variable or a malformed value
raises :class:`SettingsError` naming the variable, so a misconfigured function fails at cold start.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from factorial_aws.errors import DefinitionError
from factorial_aws.store.base import StoreSettings

if TYPE_CHECKING:
    from collections.abc import Mapping

    from factorial_aws.webhooks.source import WebhookSource

#: Variables that must be set (to a non-empty value).
REQUIRED: tuple[str, ...] = (
    "FACTORIAL_APP",
    "FACTORIAL_REDIS_URL",
    "FACTORIAL_TURN_QUEUE_URL",
    "FACTORIAL_TURN_QUEUE_ARN",
    "FACTORIAL_SCHEDULER_GROUP",
    "FACTORIAL_SCHEDULER_ROLE_ARN",
    "FACTORIAL_HOOK_SECRET_ARN",
    "FACTORIAL_PUBLIC_BASE_URL",
)

#: Variables that may be set; an empty value means "not set".
OPTIONAL: tuple[str, ...] = (
    "FACTORIAL_REDIS_IAM_USER",
    "FACTORIAL_REDIS_CACHE_NAME",
    "FACTORIAL_SCHEDULER_DLQ_ARN",
    "FACTORIAL_MODEL_KEY_SECRET_ARN",
    "FACTORIAL_WEBHOOK_SECRET_PREFIX",
    "FACTORIAL_TASK_TTL_S",
    "FACTORIAL_LEASE_S",
    "FACTORIAL_MAX_PAYLOAD_BYTES",
    "FACTORIAL_REQUIRE_IAM",
    "OPENAI_BASE_URL",
    "OPENAI_API_KEY",
    "LOG_LEVEL",
    "POWERTOOLS_SERVICE_NAME",
)

#: Every variable this module reads.
ALL_VARIABLES: tuple[str, ...] = REQUIRED + OPTIONAL

DEFAULT_TASK_TTL_S = 7 * 24 * 3600
DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024
DEFAULT_LOG_LEVEL = "INFO"
DEFAULT_SERVICE_NAME = "factorial-aws"
#: Added to the turn function timeout when ``FACTORIAL_LEASE_S`` is not set.
LEASE_MARGIN_S = 60
#: Lambda's longest function timeout.
MAX_LAMBDA_TIMEOUT_S = 900

_LOG_LEVELS = frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_APP_REF = re.compile(rf"{_IDENT}(?:\.{_IDENT})*:{_IDENT}(?:\.{_IDENT})*")
_SCHEDULE_GROUP = re.compile(r"[0-9A-Za-z_.-]{1,64}")


class SettingsError(DefinitionError):
    """An environment variable is missing or malformed; the message names it."""

    code = "invalid_settings"


@dataclass(frozen=True)
class Settings:
    """The deployed stack's configuration (see ``docs/settings.md``).

    ``lease_s=None`` means "the turn function timeout + 60 s" (see :meth:`store_settings`).
    ``redis_iam_user=None`` means no IAM authentication to the cache.
    """

    app: str
    redis_url: str
    turn_queue_url: str
    turn_queue_arn: str
    scheduler_group: str
    scheduler_role_arn: str
    hook_secret_arn: str
    public_base_url: str
    redis_iam_user: str | None = None
    redis_cache_name: str | None = None
    scheduler_dlq_arn: str | None = None
    model_key_secret_arn: str | None = None
    webhook_secret_prefix: str | None = None
    task_ttl_s: int = DEFAULT_TASK_TTL_S
    lease_s: int | None = None
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    require_iam: bool = True
    openai_base_url: str | None = None
    openai_api_key: str | None = field(default=None, repr=False)
    log_level: str = DEFAULT_LOG_LEVEL
    service_name: str = DEFAULT_SERVICE_NAME

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        """Read and validate every variable of ``env``.

        Raises:
            SettingsError: a required variable is missing or any value is malformed.
        """
        r = _Reader(env)
        iam_user = r.optional("FACTORIAL_REDIS_IAM_USER")
        redis_url = r.redis_url("FACTORIAL_REDIS_URL")
        cache_name = r.optional("FACTORIAL_REDIS_CACHE_NAME")
        if iam_user is not None:
            if cache_name is None:
                raise SettingsError(
                    "FACTORIAL_REDIS_CACHE_NAME is required when FACTORIAL_REDIS_IAM_USER is set"
                )
            if not redis_url.startswith("rediss://"):
                raise SettingsError(
                    "FACTORIAL_REDIS_URL must be rediss:// when FACTORIAL_REDIS_IAM_USER is set "
                    "(ElastiCache IAM authentication requires TLS)"
                )
        return cls(
            app=r.app_ref("FACTORIAL_APP"),
            redis_url=redis_url,
            turn_queue_url=r.http_url("FACTORIAL_TURN_QUEUE_URL"),
            turn_queue_arn=r.arn("FACTORIAL_TURN_QUEUE_ARN"),
            scheduler_group=r.schedule_group("FACTORIAL_SCHEDULER_GROUP"),
            scheduler_role_arn=r.arn("FACTORIAL_SCHEDULER_ROLE_ARN"),
            hook_secret_arn=r.required("FACTORIAL_HOOK_SECRET_ARN"),
            public_base_url=r.http_url("FACTORIAL_PUBLIC_BASE_URL"),
            redis_iam_user=iam_user,
            redis_cache_name=cache_name,
            scheduler_dlq_arn=r.optional_arn("FACTORIAL_SCHEDULER_DLQ_ARN"),
            model_key_secret_arn=r.optional("FACTORIAL_MODEL_KEY_SECRET_ARN"),
            webhook_secret_prefix=r.optional("FACTORIAL_WEBHOOK_SECRET_PREFIX"),
            task_ttl_s=r.positive_int("FACTORIAL_TASK_TTL_S") or DEFAULT_TASK_TTL_S,
            lease_s=r.positive_int("FACTORIAL_LEASE_S"),
            max_payload_bytes=(
                r.positive_int("FACTORIAL_MAX_PAYLOAD_BYTES") or DEFAULT_MAX_PAYLOAD_BYTES
            ),
            require_iam=r.boolean("FACTORIAL_REQUIRE_IAM", default=True),
            openai_base_url=r.optional_http_url("OPENAI_BASE_URL"),
            openai_api_key=r.optional("OPENAI_API_KEY"),
            log_level=r.log_level("LOG_LEVEL"),
            service_name=r.optional("POWERTOOLS_SERVICE_NAME") or DEFAULT_SERVICE_NAME,
        )

    @property
    def app_module(self) -> str:
        """The module part of ``FACTORIAL_APP``."""
        return self.app.partition(":")[0]

    @property
    def app_attribute(self) -> str:
        """The (dotted) attribute part of ``FACTORIAL_APP``."""
        return self.app.partition(":")[2]

    def effective_lease_s(self, turn_timeout_s: float | None = None) -> int | None:
        """``FACTORIAL_LEASE_S``, else the turn function timeout + 60 s, else ``None``."""
        if self.lease_s is not None:
            return self.lease_s
        if turn_timeout_s is None:
            return None
        return int(turn_timeout_s) + LEASE_MARGIN_S

    def store_settings(self, turn_timeout_s: float | None = None) -> StoreSettings:
        """The store limits these settings imply (the store's default lease when neither
        ``FACTORIAL_LEASE_S`` nor ``turn_timeout_s`` is known)."""
        defaults = StoreSettings()
        lease_s = self.effective_lease_s(turn_timeout_s)
        return StoreSettings(
            # Lambda ends a turn at its timeout, so a lease of the timeout + a margin is never
            # cut short and needs no renewal (unknown timeout: Lambda's maximum, 900 s)
            lease_ms=(MAX_LAMBDA_TIMEOUT_S + LEASE_MARGIN_S if lease_s is None else lease_s) * 1000,
            lease_renew_ms=0,
            tree_ttl_s=self.task_ttl_s,
            max_payload_bytes=self.max_payload_bytes,
            max_context_bytes=defaults.max_context_bytes,
            dispatch_grace_ms=defaults.dispatch_grace_ms,
        )


@dataclass(frozen=True)
class _Reader:
    """Typed, validated reads of one environment mapping."""

    env: Mapping[str, str]

    def optional(self, name: str) -> str | None:
        value = self.env.get(name, "").strip()
        return value or None

    def required(self, name: str) -> str:
        value = self.optional(name)
        if value is None:
            raise SettingsError(f"{name} is required but not set")
        return value

    def app_ref(self, name: str) -> str:
        value = self.required(name)
        if not _APP_REF.fullmatch(value):
            raise SettingsError(
                f"{name} must be 'module:attribute' (e.g. 'app:app'), got {value!r}"
            )
        return value

    def redis_url(self, name: str) -> str:
        value = self.required(name)
        if not _is_url(value, ("redis", "rediss")):
            raise SettingsError(f"{name} must be a redis:// or rediss:// URL, got {value!r}")
        return value

    def http_url(self, name: str) -> str:
        value = self.required(name)
        if not _is_url(value, ("http", "https")):
            raise SettingsError(f"{name} must be an http:// or https:// URL, got {value!r}")
        return value

    def optional_http_url(self, name: str) -> str | None:
        value = self.optional(name)
        if value is not None and not _is_url(value, ("http", "https")):
            raise SettingsError(f"{name} must be an http:// or https:// URL, got {value!r}")
        return value

    def arn(self, name: str) -> str:
        value = self.required(name)
        if not value.startswith("arn:") or value.count(":") < 5:
            raise SettingsError(f"{name} must be an ARN (arn:partition:service:...), got {value!r}")
        return value

    def optional_arn(self, name: str) -> str | None:
        if self.optional(name) is None:
            return None
        return self.arn(name)

    def schedule_group(self, name: str) -> str:
        value = self.required(name)
        if not _SCHEDULE_GROUP.fullmatch(value):
            raise SettingsError(f"{name} must be 1-64 characters of [0-9A-Za-z_.-], got {value!r}")
        return value

    def positive_int(self, name: str) -> int | None:
        value = self.optional(name)
        if value is None:
            return None
        try:
            number = int(value)
        except ValueError:
            raise SettingsError(f"{name} must be an integer, got {value!r}") from None
        if number <= 0:
            raise SettingsError(f"{name} must be positive, got {number}")
        return number

    def boolean(self, name: str, *, default: bool) -> bool:
        value = self.optional(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise SettingsError(f"{name} must be true or false, got {value!r}")

    def log_level(self, name: str) -> str:
        value = (self.optional(name) or DEFAULT_LOG_LEVEL).upper()
        if value not in _LOG_LEVELS:
            raise SettingsError(f"{name} must be one of {sorted(_LOG_LEVELS)}, got {value!r}")
        return value


def _is_url(value: str, schemes: tuple[str, ...]) -> bool:
    """``value`` is ``<scheme>://<host>...`` with one of ``schemes``."""
    scheme, sep, rest = value.partition("://")
    return bool(sep) and scheme in schemes and bool(rest) and not rest.startswith(("/", ":"))


@dataclass(frozen=True)
class DevSettings:
    """What ``factorial-aws dev`` reads from the environment (everything optional).

    ``FACTORIAL_REDIS_URL`` (else an embedded server), ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL``
    (no key: the stub model), ``FACTORIAL_HOOK_SECRET`` (else a random one per run),
    ``FACTORIAL_PUBLIC_BASE_URL`` (else the dev server's own address), ``FACTORIAL_DEV_WORKERS``
    (how many turns run at once; else sized to the machine), and for the CLI's API commands
    ``FACTORIAL_API_URL`` (the API they call; else ``http://127.0.0.1:8000``).
    """

    redis_url: str | None = None
    openai_api_key: str | None = field(default=None, repr=False)
    openai_base_url: str | None = None
    hook_secret: str | None = field(default=None, repr=False)
    public_base_url: str | None = None
    api_url: str | None = None
    workers: int | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> DevSettings:
        """Read the dev server's variables.

        Raises:
            SettingsError: a malformed URL.
        """
        read = _Reader(env)
        redis_url = read.optional("FACTORIAL_REDIS_URL")
        return cls(
            redis_url=read.redis_url("FACTORIAL_REDIS_URL") if redis_url else None,
            openai_api_key=read.optional("OPENAI_API_KEY"),
            openai_base_url=read.optional_http_url("OPENAI_BASE_URL"),
            hook_secret=read.optional("FACTORIAL_HOOK_SECRET"),
            public_base_url=read.optional_http_url("FACTORIAL_PUBLIC_BASE_URL"),
            api_url=read.optional_http_url("FACTORIAL_API_URL"),
            workers=read.positive_int("FACTORIAL_DEV_WORKERS"),
        )


def env_webhook_secrets(source: WebhookSource, env: Mapping[str, str] = os.environ) -> list[str]:
    """A webhook source's secrets from ``FACTORIAL_WEBHOOK_SECRET_<NAME>`` (current) and
    ``FACTORIAL_WEBHOOK_SECRET_<NAME>_PREVIOUS`` (during a rotation), as set: the dev server's
    and the tests' source of webhook secrets (docs/webhooks.md)."""
    found = [env.get(source.secret_env, ""), env.get(source.previous_secret_env, "")]
    return [s for s in found if s]
