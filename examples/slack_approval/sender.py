"""A stub Slack: clicks a button of the approval message, signed as Slack signs it.

python -m examples.slack_approval.sender http://127.0.0.1:8000 <secret> <hook_id> [approve|deny]
"""

from __future__ import annotations

import sys
from typing import Any

from examples.senders import send_slack


def click(hook_id: str, action_id: str = "approve", username: str = "ana") -> dict[str, Any]:
    """A ``block_actions`` payload for a click on a button whose value is ``hook_id`` (trimmed)."""
    return {
        "type": "block_actions",
        "user": {"id": "U0123ABCD", "username": username, "team_id": "T0001"},
        "container": {"type": "message", "channel_id": "C0ONCALL"},
        "trigger_id": "1234.5678.abcd",
        "actions": [
            {
                "action_id": action_id,
                "block_id": "b1",
                "type": "button",
                "value": hook_id,
                "action_ts": "1700000000.000100",
            }
        ],
    }


if __name__ == "__main__":
    base, secret, hook_id, *rest = sys.argv[1:]
    print(send_slack(base, secret, click(hook_id, *rest)))
