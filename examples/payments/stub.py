"""A stand-in model for the payments example: it reads the amount and the IBAN from the request,
asks for the wire, and reports what the payment system answered."""

from __future__ import annotations

import re
from typing import Any

from examples.conversation import latest, user_text
from factorial_aws.testing import StubReply, call, text_reply, tool_calls_reply

_IBAN = re.compile(r"\b[A-Z]{2}\d{2}[A-Z0-9]{10,30}\b")
_AMOUNT = re.compile(r"(\d{1,3}(?:,\d{3})*|\d+)(?:\.(\d{1,2}))?\s*(?:USD|EUR|\$|€)", re.I)


def amount_cents(text: str) -> int | None:
    """``"Pay 1,250.00 USD ..."`` -> 125000."""
    match = _AMOUNT.search(text)
    if match is None:
        return None
    whole = int(match.group(1).replace(",", ""))
    cents = int((match.group(2) or "0").ljust(2, "0"))
    return whole * 100 + cents


def stub_reply(request: dict[str, Any]) -> StubReply:
    """Call ``send_wire`` with what the user asked for; then say how it went."""
    done = latest(request)
    if done:
        result = done[-1].content
        if result.startswith("sent "):
            return text_reply(f"Done. The payment system said: {result}")
        return text_reply(f"The transfer was not sent: {result}")
    text = user_text(request)
    iban, cents = _IBAN.search(text), amount_cents(text)
    if iban is None or cents is None:
        return text_reply("Which amount (e.g. 1,250.00 USD) and which IBAN should I pay?")
    return tool_calls_reply(call("send_wire", amount_cents=cents, iban=iban.group(0)))
