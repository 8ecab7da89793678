"""GitHub webhooks.

GitHub signs the raw body: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>``. It
sends no timestamp, so a replayed delivery verifies; ``X-GitHub-Delivery`` (a GUID, the same on a
redelivery) is the delivery id that makes a replay idempotent. The body is JSON, or form-encoded
with the JSON in its ``payload`` field when the webhook's content type is
``application/x-www-form-urlencoded``.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from factorial_aws.errors import InvalidSignatureError
from factorial_aws.webhooks._common import (
    any_matches,
    header,
    parse_json,
    required,
    secret_bytes,
)
from factorial_aws.webhooks.source import Delivery

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

PREFIX = "sha256="


def sign(secret: str | bytes, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub would send for ``body``."""
    return PREFIX + hmac.new(secret_bytes(secret), body, hashlib.sha256).hexdigest()


def verify(
    source: str,
    secrets: Sequence[str | bytes],
    body: bytes,
    headers: Mapping[str, str],
    now: datetime,
) -> Delivery:
    """A verified GitHub delivery (``now`` is unused: GitHub signs no timestamp)."""
    del now
    presented = required(headers, "X-Hub-Signature-256")
    if not presented.startswith(PREFIX):
        raise InvalidSignatureError("X-Hub-Signature-256 must start with 'sha256='")
    expected = [sign(s, body).encode() for s in secrets if s]
    if not any_matches(expected, [presented.lower().encode()]):
        raise InvalidSignatureError("X-Hub-Signature-256 does not match the body")
    return Delivery(source, _event(body, headers), header(headers, "X-GitHub-Delivery"))


def _event(body: bytes, headers: Mapping[str, str]) -> dict[str, object]:
    content_type = (header(headers, "Content-Type") or "").split(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=16)
        if len(fields.get("payload", [])) != 1:
            raise InvalidSignatureError("a form-encoded delivery carries one 'payload' field")
        return parse_json(fields["payload"][0].encode())
    return parse_json(body)
