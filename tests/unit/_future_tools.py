"""Tools defined in a module using postponed annotations (loaded by test_tool_schema.py)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel

from factorial_aws.agents.context import ToolContext
from factorial_aws.agents.tools import tool


class LineItem(BaseModel):
    sku: str
    quantity: int = 1


@tool(strict=True)
def place_order(
    ctx: ToolContext,
    items: list[LineItem],
    note: Annotated[str | None, "a note for the warehouse"] = None,
) -> str:
    """Place an order."""
    return f"{ctx.task_id}: {len(items)} items, {note}"
