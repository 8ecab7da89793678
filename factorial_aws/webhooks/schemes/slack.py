"""Slack request signing.

``X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret, "v0:<ts>:<body>")>`` with
``X-Slack-Request-Timestamp: <ts>``. Interactive payloads (buttons, modals) arrive form-encoded
with the event JSON in the ``payload`` field; Events API callbacks arrive as JSON, and the Events
API's one-time ``url_verification`` must be answered with its ``challenge``. Slack names no
delivery id; its retries resend the same bytes (with ``X-Slack-Retry-Num``), so the body's digest
is the delivery id.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from factorial_aws.errors import InvalidSignatureError
from factorial_aws.webhooks._common import (
    any_matches,
    check_timestamp,
    header,
    parse_json,
    required,
    secret_bytes,
)
from factorial_aws.webhooks.source import Delivery, body_digest

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

VERSION = "v0"


def sign(secret: str | bytes, body: bytes, timestamp: int) -> str:
    """The ``X-Slack-Signature`` value Slack would send for ``body`` at ``timestamp``."""
    return f"{VERSION}={_digest(secret, body, str(timestamp))}"


def _digest(secret: str | bytes, body: bytes, timestamp: str) -> str:
    base = f"{VERSION}:{timestamp}:".encode() + body
    return hmac.new(secret_bytes(secret), base, hashlib.sha256).hexdigest()


def verify(
    source: str,
    secrets: Sequence[str | bytes],
    body: bytes,
    headers: Mapping[str, str],
    now: datetime,
) -> Delivery:
    """A verified Slack request."""
    timestamp = required(headers, "X-Slack-Request-Timestamp")
    check_timestamp(timestamp, now)
    presented = required(headers, "X-Slack-Signature")
    if not presented.startswith(VERSION + "="):
        raise InvalidSignatureError("X-Slack-Signature must start with 'v0='")
    expected = [(VERSION + "=" + _digest(s, body, timestamp)).encode() for s in secrets if s]
    if not any_matches(expected, [presented.lower().encode()]):
        raise InvalidSignatureError("X-Slack-Signature does not match the body")
    event = _event(body, headers)
    challenge = event.get("challenge") if event.get("type") == "url_verification" else None
    return Delivery(
        source,
        event,
        body_digest(body),
        challenge if isinstance(challenge, str) else None,
    )


def _event(body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
    content_type = (header(headers, "Content-Type") or "").split(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=64)
        if len(fields.get("payload", [])) != 1:
            # slash commands post plain form fields, not a payload: offer them as an object
            return {key: values[0] for key, values in fields.items() if len(values) == 1}
        return parse_json(fields["payload"][0].encode())
    return parse_json(body)
