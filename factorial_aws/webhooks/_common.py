"""What every signing scheme shares: header lookup, the timestamp window, constant-time compare,
and turning a verified body into an event."""

from __future__ import annotations

import hmac
import json
from typing import TYPE_CHECKING, Any

from factorial_aws.errors import InvalidSignatureError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from datetime import datetime

#: Deliveries signed further than this from the verifier's clock, in either direction, fail.
TOLERANCE_S = 300
#: The most signatures one header may carry (rotations send two or three; more is an attack).
MAX_SIGNATURES = 8


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, whatever the case of its name (API Gateway lower-cases them; HTTP
    servers may not)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def required(headers: Mapping[str, str], name: str) -> str:
    """A header that must be present and non-empty."""
    value = header(headers, name)
    if not value or not value.strip():
        raise InvalidSignatureError(f"the {name} header is missing")
    return value.strip()


def check_timestamp(raw: str, now: datetime, tolerance_s: int = TOLERANCE_S) -> int:
    """The signed unix timestamp, if it is within ``tolerance_s`` of ``now`` both ways."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise InvalidSignatureError("the signature timestamp is not a unix time")
    signed = int(raw)
    skew = now.timestamp() - signed
    if skew > tolerance_s:
        raise InvalidSignatureError(f"the signature is {int(skew)} s old (more than {tolerance_s})")
    if -skew > tolerance_s:
        raise InvalidSignatureError("the signature timestamp is in the future")
    return signed


def any_matches(expected: Iterable[bytes], presented: Iterable[bytes]) -> bool:
    """Whether one presented signature equals one expected signature (every pair compared in
    constant time, so the answer's timing tells nothing about which one or how much matched)."""
    found = False
    for want in expected:
        for got in presented:
            found |= hmac.compare_digest(want, got)
    return found


def secret_bytes(secret: str | bytes) -> bytes:
    """A secret as the HMAC key bytes of schemes that key with the secret's text."""
    return secret if isinstance(secret, bytes) else secret.encode()


def parse_json(body: bytes) -> dict[str, Any]:
    """A verified body's JSON object (a signed body that is not one is the sender's bug, but it is
    still not ours to accept)."""
    try:
        event = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidSignatureError("the signed body is not JSON") from exc
    if not isinstance(event, dict):
        raise InvalidSignatureError("the signed body is not a JSON object")
    return event
