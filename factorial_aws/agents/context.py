"""``ToolContext``: what a tool may ask for by annotating a parameter with this type."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ToolContext:
    """Injected into a tool parameter annotated ``ToolContext``; never part of the JSON schema.

    ``idempotency_key`` is stable across replays of the same tool call: pass it on to the systems
    the tool calls, because a turn's side effects are at-least-once.
    """

    task_id: str
    agent: str
    tool_name: str
    tool_call_id: str
    turn: int
    owner_id: str | None = None

    @property
    def idempotency_key(self) -> str:
        """``<task_id>:<tool_call_id>``: the same on every replay of this call."""
        return f"{self.task_id}:{self.tool_call_id}"
