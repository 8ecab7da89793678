"""``subagents.spawn``: start a child task from inside a tool, with a deterministic id.

The child id is derived from the parent task id and ``key``, so a replayed turn spawns the same
child, and the store creates it once. The spawn is recorded on the running tool call and created
by the turn's commit, atomically with the parent's new state.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from factorial_aws.core import ids
from factorial_aws.core.records import ChildSpec, initial_messages
from factorial_aws.errors import InvalidInputError, SpawnOutsideToolError

if TYPE_CHECKING:
    from factorial_aws.agents.agent import Agent


@dataclass(frozen=True)
class ChildRef:
    """A handle on a spawned child task."""

    task_id: str
    agent: str
    key: str


@dataclass
class ToolRun:
    """The running tool call that ``spawn`` records into (set by the runtime)."""

    task_id: str
    tool_call_id: str
    spawned: list[ChildSpec] = field(default_factory=list)


current_tool_run: ContextVar[ToolRun | None] = ContextVar("factorial_tool_run", default=None)


class _SubagentsNamespace:
    """``subagents.spawn(agent, input, key=...)``."""

    def spawn(self, agent: Agent | str, input: str | list[dict[str, Any]], *, key: str) -> ChildRef:
        """Spawn a child task of the running task.

        Args:
            agent: the child's agent (or its name, registered in the same App).
            input: the child's first user message, or a list of chat messages.
            key: unique among this task's children; the child id is derived from it.

        Raises:
            SpawnOutsideToolError: called outside a tool call.
        """
        run = current_tool_run.get()
        if run is None:
            raise SpawnOutsideToolError("subagents.spawn can only be called inside a tool call")
        if not key:
            raise InvalidInputError("subagents.spawn needs a non-empty key")
        name = agent if isinstance(agent, str) else agent.name
        initial_messages(input)  # a bad input fails this tool call, not the parent's commit
        try:
            child_id = ids.child_task_id(run.task_id, key)
        except ValueError as exc:
            raise InvalidInputError(f"cannot spawn {name!r}: {exc}") from exc
        if all(c.task_id != child_id for c in run.spawned):
            run.spawned.append(
                ChildSpec(
                    task_id=child_id,
                    parent_task_id=run.task_id,
                    agent=name,
                    input=input,
                    key=key,
                )
            )
        return ChildRef(task_id=child_id, agent=name, key=key)


subagents = _SubagentsNamespace()
