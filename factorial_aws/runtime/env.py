"""``TurnEnv``: what a turn needs from outside (model, clock, hook secret, public URL) and
``TurnState``: what one turn accumulates before it returns an outcome."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from factorial_aws.core.codec import encode
from factorial_aws.core.records import (
    ChildSpec,
    HookRequest,
    JsonValue,
    Message,
    TaskContext,
    TaskEvent,
)

if TYPE_CHECKING:
    from factorial_aws.agents.agent import Agent
    from factorial_aws.core.clock import Clock
    from factorial_aws.llm.base import ModelClient


#: Bytes of the context cap kept for the notes of tool results cut to nothing (at most 1/16th).
_NOTE_RESERVE = 4096


@dataclass(frozen=True)
class TurnEnv:
    """The turn's ports and settings.

    Args:
        model: the model client.
        clock: the only source of time.
        hook_secret: the deployment secret hook tokens are derived from.
        public_base_url: where the resolve endpoints live (``submit_url`` is built from it).
        retry_base_s: first backoff after a transient model failure (doubles each attempt).
        retry_cap_s: the longest backoff.
        max_context_bytes: the task context's cap (the store's): a tool result that would pass
            it is cut, with a note the model reads.
        webhook_sources: the App's webhook source names (a hook's ``source=`` must be one);
            None: not checked.
    """

    model: ModelClient
    clock: Clock
    hook_secret: bytes
    public_base_url: str
    retry_base_s: float = 2.0
    retry_cap_s: float = 300.0
    max_context_bytes: int = 4 * 1024 * 1024
    webhook_sources: frozenset[str] | None = None

    def submit_url(self, hook_id: str) -> str:
        """The resolve endpoint of a hook."""
        return f"{self.public_base_url.rstrip('/')}/hooks/{hook_id}/resolve"


@dataclass
class TurnState:
    """One turn in progress: the working copy of the context and what the commit must write."""

    agent: Agent
    ctx: TaskContext
    env: TurnEnv
    requests: list[HookRequest] = field(default_factory=list)
    spawned: list[ChildSpec] = field(default_factory=list)
    events: list[TaskEvent] = field(default_factory=list)
    #: bytes the context may still grow by; measured when the first tool message is written
    room: int | None = None

    def event(self, kind: str, **data: JsonValue) -> None:
        """Record an event for the task's stream."""
        self.events.append(TaskEvent(kind=kind, data=data))

    def tool_message(self, tool_call_id: str, content: str) -> None:
        """Append the one tool message that answers ``tool_call_id``, cut (with a note the model
        reads) when it would take the context over ``max_context_bytes``."""
        if self.room is None:  # keep a little for the notes of results that find no room
            cap = self.env.max_context_bytes
            self.room = cap - min(_NOTE_RESERVE, cap // 16) - len(encode(self.ctx))
        message = Message.tool(tool_call_id, content)
        size = len(encode(message))
        if size > self.room:
            message = Message.tool(tool_call_id, _cut(content, size, self.room, self.env))
            size = len(encode(message))
            self.event("tool_result_cut", tool_call_id=tool_call_id, bytes=size)
        self.room -= size + 1  # and the comma between messages
        self.ctx.messages.append(message)

    def spawn(self, children: list[ChildSpec]) -> None:
        """Record children to create, once each."""
        known = {c.task_id for c in self.spawned}
        self.spawned.extend(c for c in children if c.task_id not in known)


def _cut(content: str, size: int, room: int, env: TurnEnv) -> str:
    """``content`` cut to fit ``room`` bytes as an encoded message (``size`` bytes whole), with a
    note saying so; only the note when nothing fits."""
    whole = len(content.encode("utf-8", "surrogatepass"))
    note = (
        f"\n[cut by factorial_aws: this tool result was {whole} bytes and the task's context "
        f"is capped at {env.max_context_bytes} bytes]"
    )
    budget = room - (size - _json_len(content)) - _json_len(note) + 2
    if budget <= 2:
        return note.lstrip()
    lo, hi = 0, min(len(content), budget)  # the longest prefix whose encoding fits the budget
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _json_len(content[:mid]) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return content[:lo] + note


def _json_len(text: str) -> int:
    """Bytes of ``text`` as an encoded JSON string (with its quotes)."""
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8", "surrogatepass"))
