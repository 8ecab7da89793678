"""A stand-in model: finds the order id (``ord_...``), calls ``ship_when_paid``, reports."""

from __future__ import annotations

import re
from typing import Any

from examples.conversation import latest, user_text
from factorial_aws.testing import StubReply, call, text_reply, tool_calls_reply

_ORDER = re.compile(r"\b(ord_\w+)\b")


def stub_reply(request: dict[str, Any]) -> StubReply:
    """``"Ship order ord_1001 once it is paid."`` -> the tool call; then its result."""
    done = latest(request)
    if done:
        return text_reply(f"Result: {done[-1].content}")
    order = _ORDER.search(user_text(request))
    if order is None:
        return text_reply("Which order (ord_...)?")
    return tool_calls_reply(call("ship_when_paid", order_id=order.group(1)))
