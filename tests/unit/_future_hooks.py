"""Tool and builders declared in a module that uses ``from __future__ import annotations``.

Every annotation here is a string at runtime; the hook compiler must resolve them.
"""

from __future__ import annotations

from typing import Annotated

from factorial_aws.agents.context import ToolContext
from factorial_aws.agents.hooks import Hook, HookRequestContext, PendingHook, hook


class Budget(Hook):
    """Budget owner's answer."""

    limit_cents: int


class Approval(Hook):
    """Manager's answer."""

    approved: bool


def ask_budget(ctx: HookRequestContext, amount_cents: int) -> PendingHook[Budget]:
    """Ask the budget owner."""
    return Budget.pending(ctx=ctx, title=f"budget for {amount_cents}")


async def ask_approval(
    ctx: HookRequestContext, budget: Budget | None, amount_cents: int
) -> PendingHook[Approval]:
    """Ask the manager, once the budget is known."""
    return Approval.pending(ctx=ctx, title=f"approve {amount_cents} within {budget}")


def send_wire(
    amount_cents: int,
    iban: str,
    context: ToolContext,
    approval: Annotated[Approval, hook.requires(ask_approval)],
    budget: Annotated[Budget | None, hook.awaits(ask_budget)],
) -> str:
    """Send a wire once approved."""
    return f"sent {amount_cents} to {iban} ({approval}, {budget}, {context})"
