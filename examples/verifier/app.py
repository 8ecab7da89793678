"""Structured output checked by code: an expense report whose total must match its line items.

With ``output_type`` the agent finishes by calling a ``final_output`` tool whose arguments must
validate as ``ExpenseReport``. The ``verifier`` then checks what a schema cannot (the arithmetic)
and raises ``VerificationRejected`` with a reason the model reads as the tool's answer, so it can
correct itself; each distinct rejected candidate counts against ``verifier_budget``.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from factorial_aws import Agent, App, VerificationRejected


class LineItem(BaseModel):
    """One expense."""

    description: str
    amount_cents: int = Field(gt=0)


class ExpenseReport(BaseModel):
    """The agent's final answer."""

    employee: str
    items: list[LineItem] = Field(min_length=1)
    total_cents: int


def check_total(report: ExpenseReport) -> ExpenseReport:
    """Accept the report only if ``total_cents`` is the sum of the items."""
    expected = sum(item.amount_cents for item in report.items)
    if report.total_cents != expected:
        raise VerificationRejected(
            f"total_cents is {report.total_cents} but the {len(report.items)} items add up to "
            f"{expected}; fix the total (or the items) and call final_output again"
        )
    return report


expenses = Agent(
    name="expenses",
    instructions="Turn the employee's receipts into an expense report. Finish with final_output.",
    model="gpt-4.1-mini",
    output_type=ExpenseReport,
    verifier=check_total,
    verifier_budget=2,
    max_turns=6,
)

app = App(agents=[expenses])
