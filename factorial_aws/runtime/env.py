"""``TurnEnv``: what a turn needs from outside (model, clock, hook secret, public URL) and
``TurnState``: what one turn accumulates before it returns an outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

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
        webhook_sources: the App's webhook source names (a hook's ``source=`` must be one);
            None: not checked.
    """

    model: ModelClient
    clock: Clock
    hook_secret: bytes
    public_base_url: str
    retry_base_s: float = 2.0
    retry_cap_s: float = 300.0
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

    def event(self, kind: str, **data: JsonValue) -> None:
        """Record an event for the task's stream."""
        self.events.append(TaskEvent(kind=kind, data=data))

    def tool_message(self, tool_call_id: str, content: str) -> None:
        """Append the one tool message that answers ``tool_call_id``."""
        self.ctx.messages.append(Message.tool(tool_call_id, content))

    def spawn(self, children: list[ChildSpec]) -> None:
        """Record children to create, once each."""
        known = {c.task_id for c in self.spawned}
        self.spawned.extend(c for c in children if c.task_id not in known)
