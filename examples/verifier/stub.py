"""A stand-in model for the verifier example. Like a hasty model, its first report leaves the
last receipt out of the total; the verifier rejects it, and the stub, reading the rejection,
sends the report again with the total recomputed from the items."""

from __future__ import annotations

import re
from typing import Any

from examples.conversation import latest, user_text
from factorial_aws.testing import StubReply, call, text_reply, tool_calls_reply

_EMPLOYEE = re.compile(r"\bfor\s+([^:]+?)\s*:", re.I)
_ITEM = re.compile(r"([A-Za-z][\w .'-]*?)\s+\$?(\d+)(?:\.(\d{1,2}))?\b")


def items_of(text: str) -> list[dict[str, Any]]:
    """``"taxi 41.20, lunch 23.50"`` -> ``[{"description": "taxi", "amount_cents": 4120}, ...]``."""
    receipts = text.split(":", 1)[-1]
    return [
        {
            "description": m.group(1).strip(),
            "amount_cents": int(m.group(2)) * 100 + int((m.group(3) or "0").ljust(2, "0")),
        }
        for m in _ITEM.finditer(receipts)
    ]


def stub_reply(request: dict[str, Any]) -> StubReply:
    """First a report with a wrong total; after a rejection, the corrected one."""
    done = latest(request)
    if done and done[-1].name == "final_output":
        previous = done[-1]
        if not previous.content.startswith("rejected by the verifier"):
            return text_reply("The report is filed.")
        items = previous.arguments.get("items") or []
        fixed = {**previous.arguments, "total_cents": sum(i["amount_cents"] for i in items)}
        return tool_calls_reply(
            call("final_output", **fixed), content="You are right, I left a receipt out."
        )
    text = user_text(request)
    employee = _EMPLOYEE.search(text)
    items = items_of(text)
    if employee is None or not items:
        return text_reply("Whose expenses, and which receipts (e.g. 'taxi 41.20')?")
    hasty_total = sum(i["amount_cents"] for i in items[:-1]) if len(items) > 1 else 0
    return tool_calls_reply(
        call("final_output", employee=employee.group(1), items=items, total_cents=hasty_total)
    )
