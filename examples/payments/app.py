"""A payments agent whose wire transfers wait for a manager's approval (a typed hook)."""

from __future__ import annotations

from typing import Annotated

from factorial_aws import (
    Agent,
    App,
    Hook,
    HookRequestContext,
    PendingHook,
    ToolResult,
    hook,
    tool,
    wait,
)


class Approval(Hook):
    """What the manager sends back."""

    approved: bool
    reviewer: str
    comment: str = ""


def ask_manager(ctx: HookRequestContext, amount_cents: int) -> PendingHook[Approval]:
    """Describe the approval request (a real app would e-mail ``pending.link`` here)."""
    return Approval.pending(
        ctx=ctx,
        title=f"Approve a transfer of {amount_cents / 100:.2f} USD",
        body="Reply with approved=true or false.",
        timeout_s=86_400,
    )


@tool
def send_wire(
    amount_cents: int,
    iban: str,
    approval: Annotated[Approval, hook.requires(ask_manager)],
) -> str | ToolResult:
    """Send a wire transfer once a manager approves it."""
    if not approval.approved:
        return tool.fail(f"rejected by {approval.reviewer}: {approval.comment}")
    return f"sent {amount_cents} cents to {iban}, approved by {approval.reviewer}"


@tool
def check_again_tomorrow(ticker: str) -> object:
    """Wait a day, then look at the price again."""
    return wait.sleep(hours=24, data={"ticker": ticker})


payments = Agent(
    name="payments",
    instructions="You move money carefully. Use send_wire for transfers.",
    model="gpt-4.1-mini",
    tools=[send_wire, check_again_tomorrow],
)

app = App(agents=[payments])
