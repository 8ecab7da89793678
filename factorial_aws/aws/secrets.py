"""Secrets Manager reads cached per container: :class:`SecretCache`.

A warm Lambda container asks for the hook key and the model key on every invocation; reading
Secrets Manager each time would add latency and cost, so values are kept for ``ttl_s`` seconds
(rotation is picked up within that time).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from factorial_aws.aws.settings import env_webhook_secrets
from factorial_aws.errors import DefinitionError

if TYPE_CHECKING:
    from factorial_aws.core.clock import Clock
    from factorial_aws.webhooks.source import WebhookSource

DEFAULT_TTL_S = 300.0


class SecretValueError(DefinitionError):
    """A secret that holds no usable text value."""

    code = "invalid_secret"


class SecretCache:
    """Secret values by id (name or ARN), each read once per ``ttl_s`` seconds.

    Args:
        client: a boto3 ``secretsmanager`` client.
        ttl_s: how long a value is reused before it is read again.
        clock: the time source (its monotonic reading measures the TTL).
    """

    def __init__(self, client: Any, *, clock: Clock, ttl_s: float = DEFAULT_TTL_S) -> None:
        if ttl_s < 0:
            raise ValueError(f"ttl_s must be >= 0, got {ttl_s}")
        self._client = client
        self._clock = clock
        self.ttl_s = ttl_s
        self._values: dict[str, tuple[float, str]] = {}

    def get(self, secret_id: str) -> str:
        """The current value of ``secret_id`` (its ``SecretString``, or UTF-8 ``SecretBinary``).

        Raises:
            SecretValueError: the secret has no value readable as text.
            botocore ClientError: Secrets Manager refused the read (not cached).
        """
        now = self._clock.monotonic()
        cached = self._values.get(secret_id)
        if cached is not None and now - cached[0] < self.ttl_s:
            return cached[1]
        value = self._read(secret_id)
        self._values[secret_id] = (now, value)
        return value

    def invalidate(self, secret_id: str | None = None) -> None:
        """Forget one cached value (or all), e.g. after an authentication failure."""
        if secret_id is None:
            self._values.clear()
        else:
            self._values.pop(secret_id, None)

    def _read(self, secret_id: str) -> str:
        response = self._client.get_secret_value(SecretId=secret_id)
        text = response.get("SecretString")
        if isinstance(text, str):
            return text
        binary = response.get("SecretBinary")
        if isinstance(binary, bytes):
            try:
                return binary.decode()
            except UnicodeDecodeError:
                pass
        raise SecretValueError(f"secret {secret_id!r} has no text value")


class WebhookSecretReader:
    """A webhook source's signing secrets (current first, then previous), for the API.

    With a ``prefix`` (``FACTORIAL_WEBHOOK_SECRET_PREFIX``, set by the template), from the Secrets
    Manager secret ``<prefix><name>`` through the cache: its value is the secret itself, or during
    a rotation the JSON object ``{"current": "...", "previous": "..."}``; a secret that does not
    exist is no secret (the route answers 503 ``webhook_not_configured``). Without one, from
    ``FACTORIAL_WEBHOOK_SECRET_<NAME>`` and ``..._PREVIOUS`` (as locally).
    """

    def __init__(self, cache: SecretCache, prefix: str | None) -> None:
        self._cache = cache
        self._prefix = prefix

    def __call__(self, source: WebhookSource) -> list[str]:
        if not self._prefix:
            return env_webhook_secrets(source)
        try:
            return parse_webhook_secret(self._cache.get(self._prefix + source.name))
        except Exception as exc:  # botocore's ClientError (boto3 is imported lazily)
            error = getattr(exc, "response", None) or {}
            if error.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return []
            raise


def parse_webhook_secret(value: str) -> list[str]:
    """The secrets a webhook secret's value holds: the text itself, or the ``current`` and
    ``previous`` of a JSON object (a rotation)."""
    text = value.strip()
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            found = [parsed.get("current"), parsed.get("previous")]
            return [s for s in found if isinstance(s, str) and s]
    return [text] if text else []
