"""A purchase that needs two sign-offs in order: the manager first, then compliance.

The compliance hook's request builder takes the manager's resolved ``ManagerApproval`` as a
parameter, which makes it a second stage: it is requested only once the manager has answered, and
its body carries the manager's comment, so the compliance officer sees it on the review page.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from factorial_aws import (
    Agent,
    App,
    Hook,
    HookRequestContext,
    PendingHook,
    ToolResult,
    hook,
    tool,
)


class ManagerApproval(Hook):
    """The manager's answer (stage 1)."""

    approved: bool
    reviewer: str
    comment: str = ""


class ComplianceReview(Hook):
    """The compliance officer's answer (stage 2)."""

    cleared: bool
    officer: str
    risk_score: int = Field(ge=1, le=5, description="1 (low) to 5 (high)")
    note: str = ""


class PurchaseRejected(Exception):
    """The manager said no: compliance is not asked and the tool does not run."""


def _usd(cents: int) -> str:
    return f"{cents / 100:,.2f} USD"


def ask_manager(
    ctx: HookRequestContext, vendor: str, amount_cents: int, purpose: str
) -> PendingHook[ManagerApproval]:
    """Stage 1: the manager approves the spend (a real app would e-mail ``pending.link``)."""
    return ManagerApproval.pending(
        ctx=ctx,
        title=f"Approve buying from {vendor} for {_usd(amount_cents)}",
        body=f"Purpose: {purpose}. Compliance reviews it after you.",
        timeout_s=3 * 86_400,
    )


def ask_compliance(
    ctx: HookRequestContext, vendor: str, amount_cents: int, manager: ManagerApproval
) -> PendingHook[ComplianceReview]:
    """Stage 2: runs only after the manager answered, with the manager's payload injected."""
    if not manager.approved:
        raise PurchaseRejected(
            f"{manager.reviewer} rejected the purchase: {manager.comment or 'no reason given'}"
        )
    return ComplianceReview.pending(
        ctx=ctx,
        title=f"Compliance review: {vendor}, {_usd(amount_cents)}",
        body=(
            f"Approved by {manager.reviewer}. "
            f"Manager's comment: {manager.comment or '(no comment)'}"
        ),
        timeout_s=3 * 86_400,
        metadata={"manager": manager.reviewer},
    )


@tool
def place_order(
    vendor: str,
    amount_cents: int,
    purpose: str,
    manager: Annotated[ManagerApproval, hook.requires(ask_manager)],
    compliance: Annotated[ComplianceReview, hook.requires(ask_compliance)],
) -> str | ToolResult:
    """Place a purchase order once the manager and then compliance have signed off."""
    if not compliance.cleared:
        return tool.fail(f"compliance ({compliance.officer}) did not clear it: {compliance.note}")
    return (
        f"order placed with {vendor} for {_usd(amount_cents)}; "
        f"approved by {manager.reviewer}, cleared by {compliance.officer} "
        f"(risk {compliance.risk_score}/5)"
    )


procurement = Agent(
    name="procurement",
    instructions="You buy what the team asks for. Use place_order; it collects the sign-offs.",
    model="gpt-4.1-mini",
    tools=[place_order],
)

app = App(agents=[procurement])
