"""Standard Webhooks (https://www.standardwebhooks.com/, used by Svix and others).

``webhook-id``, ``webhook-timestamp`` and ``webhook-signature: v1,<base64 sig> [v1,<sig> ...]``
where each signature is ``HMAC-SHA256(key, "<id>.<timestamp>.<body>")`` and the key is the
base64 part of a ``whsec_<base64>`` secret. Several space-separated signatures are sent during a
rotation; any ``v1`` one matching verifies. ``webhook-id`` is the delivery id.

The ``standardwebhooks`` package implements the same scheme; it is what the tests sign with. It is
not used here because it reads the wall clock (time goes through a Clock in this project), decodes
the body as text, and lets malformed headers escape as ``ValueError``/``binascii.Error``; this
function answers every malformed delivery with ``InvalidSignatureError``.
"""

from __future__ import annotations

import base64
import binascii
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
)
from factorial_aws.webhooks.source import Delivery

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


def key_of(secret: str | bytes) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret (raw bytes are taken as the key itself)."""
    if isinstance(secret, bytes):
        return secret
    text = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidSignatureError(
            "the configured Standard Webhooks secret is not whsec_<base64>"
        ) from exc


def sign(secret: str | bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value a sender would send."""
    return "v1," + base64.b64encode(_digest(key_of(secret), msg_id, str(timestamp), body)).decode()


def _digest(key: bytes, msg_id: str, timestamp: str, body: bytes) -> bytes:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def verify(
    source: str,
    secrets: Sequence[str | bytes],
    body: bytes,
    headers: Mapping[str, str],
    now: datetime,
) -> Delivery:
    """A verified Standard Webhooks delivery."""
    msg_id = required(headers, "webhook-id")
    timestamp = required(headers, "webhook-timestamp")
    check_timestamp(timestamp, now)
    presented = _signatures(required(headers, "webhook-signature"))
    expected = [_digest(key_of(s), msg_id, timestamp, body) for s in secrets if s]
    if not any_matches(expected, presented):
        raise InvalidSignatureError("no v1 signature in webhook-signature matches the body")
    return Delivery(source, parse_json(body), msg_id)


def _signatures(value: str) -> list[bytes]:
    found: list[bytes] = []
    for item in value.split():
        version, sep, sig = item.partition(",")
        if not sep or version != "v1":
            continue  # other versions (v1a: asymmetric) are not ours to check
        try:
            found.append(base64.b64decode(sig, validate=True))
        except (binascii.Error, ValueError):
            continue
    if not found:
        raise InvalidSignatureError("webhook-signature has no v1 signature")
    if len(found) > MAX_SIGNATURES:
        raise InvalidSignatureError("webhook-signature carries too many signatures")
    return found
