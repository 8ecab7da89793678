"""Stripe webhooks.

``Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...][,v0=...]`` where each ``v1`` is
``HMAC-SHA256(key, "<t>.<body>")`` and the key is the whole ``whsec_...`` string's bytes, as
Stripe's own libraries use it. During a secret rotation Stripe sends one ``v1`` per active
secret; any one matching verifies. ``v0`` (test mode's legacy scheme) is ignored. The event's
``id`` is the delivery id (a retry of the same event keeps it).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

from factorial_aws.errors import InvalidSignatureError
from factorial_aws.webhooks._common import (
    MAX_SIGNATURES,
    any_matches,
    check_timestamp,
    parse_json,
    required,
    secret_bytes,
)
from factorial_aws.webhooks.source import Delivery

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime


def sign(secret: str | bytes, body: bytes, timestamp: int) -> str:
    """The ``Stripe-Signature`` value Stripe would send for ``body`` at ``timestamp``."""
    return f"t={timestamp},v1={_digest(secret, body, str(timestamp))}"


def _digest(secret: str | bytes, body: bytes, timestamp: str) -> str:
    signed = timestamp.encode() + b"." + body
    return hmac.new(secret_bytes(secret), signed, hashlib.sha256).hexdigest()


def verify(
    source: str,
    secrets: Sequence[str | bytes],
    body: bytes,
    headers: Mapping[str, str],
    now: datetime,
) -> Delivery:
    """A verified Stripe delivery."""
    timestamp, presented = _parse(required(headers, "Stripe-Signature"))
    check_timestamp(timestamp, now)
    expected = [_digest(s, body, timestamp).encode() for s in secrets if s]
    if not any_matches(expected, [p.lower().encode() for p in presented]):
        raise InvalidSignatureError("no v1 signature in Stripe-Signature matches the body")
    event = parse_json(body)
    event_id = event.get("id")
    return Delivery(source, event, event_id if isinstance(event_id, str) else None)


def _parse(value: str) -> tuple[str, list[str]]:
    timestamp = ""
    signatures: list[str] = []
    for item in value.split(","):
        key, sep, val = item.strip().partition("=")
        if not sep:
            raise InvalidSignatureError("Stripe-Signature is not a list of key=value pairs")
        if key == "t":
            timestamp = val
        elif key == "v1":
            signatures.append(val)
    if not timestamp:
        raise InvalidSignatureError("Stripe-Signature has no timestamp (t=)")
    if not signatures:
        raise InvalidSignatureError("Stripe-Signature has no v1 signature")
    if len(signatures) > MAX_SIGNATURES:
        raise InvalidSignatureError("Stripe-Signature carries too many signatures")
    return timestamp, signatures
