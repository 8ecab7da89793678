"""An uptime monitor: check a service, sleep a short grace period, check again, then wait for the
next tick of a cron schedule and check once more.

Both waits are returned from tools (``wait.sleep``, ``wait.cron``): the task parks at no cost and
the wake becomes the tool's result (``{"status": "slept", "slept_s": ...}`` or ``{"status":
"cron_tick", "tick": ...}``), so the model knows what happened while it was parked. Cron ticks have
one-minute precision (five fields, no seconds).
"""

from __future__ import annotations

import hashlib

from factorial_aws import Agent, App, ToolContext, tool, wait

#: every minute; a real monitor would use e.g. "*/15 * * * *" or "0 9 * * MON-FRI"
EVERY_MINUTE = "* * * * *"


@tool
def check_service(url: str, ctx: ToolContext) -> dict[str, object]:
    """Probe ``url`` and report its HTTP status and latency (simulated, deterministic)."""
    digest = hashlib.sha256(f"{url}:{ctx.turn}".encode()).digest()
    return {"url": url, "status": 200, "latency_ms": 40 + digest[0] % 80}


@tool
def pause(seconds: int) -> object:
    """Sleep for a few seconds (a grace period) before checking again."""
    return wait.sleep(seconds=seconds, data={"reason": "grace period"})


@tool
def wait_for_next_check(cron: str = EVERY_MINUTE, tz: str = "UTC") -> object:
    """Park until the next tick of a five-field cron schedule in time zone ``tz``."""
    return wait.cron(cron, tz=tz, data={"schedule": cron, "tz": tz})


monitor = Agent(
    name="monitor",
    instructions=(
        "You watch a service. Check it, pause briefly, check again, then wait for the next "
        "scheduled check with wait_for_next_check, check a last time and report."
    ),
    model="gpt-4.1-mini",
    tools=[check_service, pause, wait_for_next_check],
    max_turns=10,
)

app = App(agents=[monitor])
