"""Redaction misses a hook token in a percent-encoded link (``token%3D<token>``), the form a link
takes inside a form-encoded body or a URL parameter (e-mail / chat APIs a hook builder calls)."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from factorial_aws.aws.observability import redact
from factorial_aws.core import ids


def test_a_percent_encoded_link_is_redacted() -> None:
    token = ids.hook_token(b"secret", "t-abcdefghijklmnopqrstuvwxyz.h0123456789abcdef", 1)
    link = f"https://api.example/hooks/t-abcdefghijklmnopqrstuvwxyz.h0123456789abcdef?token={token}"
    for text in (urlencode({"text": f"Approve: {link}"}), f"redirect={quote(link, safe='')}"):
        assert token not in redact(text), redact(text)
