"""A stand-in model: finds the service name, calls ``restart_service``, reports."""

from __future__ import annotations

import re
from typing import Any

from examples.conversation import latest, user_text
from factorial_aws.testing import StubReply, call, text_reply, tool_calls_reply

_SERVICE = re.compile(r"\brestart\s+([\w-]+)", re.IGNORECASE)


def stub_reply(request: dict[str, Any]) -> StubReply:
    """``"Please restart billing-api."`` -> the tool call; then its result."""
    done = latest(request)
    if done:
        return text_reply(f"Result: {done[-1].content}")
    service = _SERVICE.search(user_text(request))
    if service is None:
        return text_reply("Which service?")
    return tool_calls_reply(call("restart_service", service=service.group(1)))
