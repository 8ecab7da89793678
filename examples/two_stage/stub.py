"""A stand-in model for the two-stage purchase: it reads vendor, amount and purpose from the
request, calls ``place_order`` (which parks on the manager, then on compliance), and reports."""

from __future__ import annotations

import re
from typing import Any

from examples.conversation import latest, user_text
from examples.payments.stub import amount_cents
from factorial_aws.testing import StubReply, call, text_reply, tool_calls_reply

_VENDOR = re.compile(r"\bfrom\s+(.+?)(?:\s+for\b|[,.;]\s|[,.;]?$)", re.I)
_ERROR = re.compile(r"^error: (?:[A-Za-z_]\w*: )?")
_PURPOSE = re.compile(r"^(?:please\s+)?(?:buy|order|get)\s+(.+?)\s+from\b", re.I)


def stub_reply(request: dict[str, Any]) -> StubReply:
    """``"Buy 3 standing desks from Acme Office for 2,400.00 USD."`` -> ``place_order(...)``."""
    done = latest(request)
    if done:
        result = done[-1].content
        if result.startswith("order placed"):
            return text_reply(f"Ordered. {result[0].upper()}{result[1:]}.")
        return text_reply(f"I could not place the order: {_ERROR.sub('', result)}")
    text = user_text(request)
    vendor, cents = _VENDOR.search(text), amount_cents(text)
    if vendor is None or cents is None:
        return text_reply("What should I buy, from which vendor, and for how much?")
    purpose = _PURPOSE.search(text)
    return tool_calls_reply(
        call(
            "place_order",
            vendor=vendor.group(1).strip(),
            amount_cents=cents,
            purpose=purpose.group(1) if purpose else text,
        )
    )
