"""``ToolContext``: what a tool may ask for by annotating a parameter with this type."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ToolContext:
    """Injected into a tool parameter annotated ``ToolContext``; never part of the JSON schema.

    ``tool_call_id`` is the model provider's id of the call (as in the transcript); it changes
    when a lost turn is replayed. ``call_key`` and ``idempotency_key`` are stable across replays
    of the same tool call: pass the latter on to the systems the tool calls, because a turn's side
    effects are at-least-once.
    """

    task_id: str
    agent: str
    tool_name: str
    tool_call_id: str
    turn: int
    owner_id: str | None = None
    call_key: str = ""

    @property
    def idempotency_key(self) -> str:
        """``<task_id>:<call_key>``: the same on every replay of this call."""
        return f"{self.task_id}:{self.call_key or self.tool_call_id}"
