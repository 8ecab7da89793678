"""Run tool bodies: async ones on the loop, sync ones off it, each under its timeout.

A tool body's failure is a tool result the model sees, never a task failure. Children spawned by
the body are collected from the tool run it executes under.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from factorial_aws.agents.context import ToolContext
from factorial_aws.agents.results import ToolResult, error_result, normalize_return, timeout_result
from factorial_aws.agents.subagents import ToolRun, current_tool_run
from factorial_aws.core import logctx

if TYPE_CHECKING:
    from factorial_aws.agents.tools import Tool
    from factorial_aws.agents.waits import WaitInstruction
    from factorial_aws.core.records import ChildSpec


@dataclass
class BodyResult:
    """What a tool body produced: a result or a wait, and the children it spawned."""

    value: ToolResult | WaitInstruction
    spawned: list[ChildSpec] = field(default_factory=list)


def tool_context(
    tool: Tool,
    task_id: str,
    agent: str,
    call_id: str,
    turn: int,
    owner_id: str | None,
    call_key: str = "",
) -> ToolContext:
    """The ToolContext injected into ``tool``'s context parameter (``call_id``: the provider's;
    ``call_key``: the replay-stable key)."""
    return ToolContext(
        task_id=task_id,
        agent=agent,
        tool_name=tool.name,
        tool_call_id=call_id,
        turn=turn,
        owner_id=owner_id,
        call_key=call_key,
    )


async def run_body(tool: Tool, kwargs: dict[str, Any], tctx: ToolContext) -> BodyResult:
    """Call the tool body with ``kwargs`` (plus the injected context) and normalize the result."""
    if tool.context_param:
        kwargs = {**kwargs, tool.context_param: tctx}
    run = ToolRun(task_id=tctx.task_id, tool_call_id=tctx.tool_call_id)
    token = current_tool_run.set(run)
    try:
        with logctx.bind(tool_call_id=tctx.tool_call_id, tool=tool.name):
            raw = await _call(tool, kwargs)
    except TimeoutError:
        return BodyResult(timeout_result(tool.name, tool.timeout_s))
    except Exception as exc:  # noqa: BLE001 - a tool's failure is a result the model sees
        return BodyResult(error_result(exc))
    finally:
        current_tool_run.reset(token)
    return BodyResult(normalize_return(raw), list(run.spawned))


async def _call(tool: Tool, kwargs: dict[str, Any]) -> Any:
    if tool.is_async:
        return await asyncio.wait_for(tool.func(**kwargs), timeout=tool.timeout_s)
    # to_thread copies the context, so subagents.spawn and the log context follow the call into
    # the worker thread. A sync body that overruns keeps its thread until it returns; its result
    # is ignored.
    return await asyncio.wait_for(asyncio.to_thread(tool.func, **kwargs), timeout=tool.timeout_s)
