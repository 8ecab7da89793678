"""Waits in a turn: turn a returned wait into a pending wait, end it when its wake arrives, and
choose what a task with pending tool calls parks on.

A wait's tool message is written when the wait ends, so the model reads the wait's ``data`` and
what happened (time elapsed, the cron tick, the children's outcomes) as the tool's result, and the
transcript keeps exactly one tool message per tool call.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from factorial_aws.agents.waits import ChildrenWait, CronWait, SleepWait, WaitInstruction
from factorial_aws.core import ids
from factorial_aws.core.outcomes import ParkChildren, ParkHooks, ParkTime, TurnOutcome
from factorial_aws.core.records import PendingWait, WaitKind, Wake
from factorial_aws.runtime.hook_flow import waiting_hook_ids

if TYPE_CHECKING:
    from factorial_aws.runtime.env import TurnState


def register(
    st: TurnState, call_id: str, call_key: str, tool_name: str, instruction: WaitInstruction
) -> None:
    """Record a wait returned by a tool call; its tool message waits for the wake. The wait id
    comes from ``call_key`` (replay-stable), the tool message answers ``call_id``."""
    now = st.env.clock.now()
    common: dict[str, Any] = {
        "wait_id": ids.wait_id(st.ctx.task_id, call_key),
        "tool_call_id": call_id,
        "call_key": call_key,
        "tool_name": tool_name,
        "created_at": now,
        "data": instruction.data,
    }
    if isinstance(instruction, SleepWait):
        pending = PendingWait(kind=WaitKind.SLEEP, wake_at=instruction.wake_at(now), **common)
    elif isinstance(instruction, CronWait):
        pending = PendingWait(
            kind=WaitKind.CRON,
            wake_at=instruction.wake_at(now),
            cron=instruction.expr,
            tz=instruction.tz,
            **common,
        )
    else:
        assert isinstance(instruction, ChildrenWait)
        pending = PendingWait(
            kind=WaitKind.CHILDREN, child_ids=instruction.child_ids, join=instruction.join, **common
        )
    st.ctx.waits[call_id] = pending
    st.event("wait_registered", wait_id=pending.wait_id, wait_kind=pending.kind.value)


def _wake_content(pending: PendingWait, wake: Wake) -> str:
    body: dict[str, Any] = {"data": pending.data}
    if pending.kind is WaitKind.SLEEP:
        body["status"] = "slept"
        body["slept_s"] = round((wake.fired_at - pending.created_at).total_seconds(), 3)
    elif pending.kind is WaitKind.CRON:
        body["status"] = "cron_tick"
        body["tick"] = pending.wake_at.isoformat() if pending.wake_at else None
        body["cron"] = pending.cron
    else:
        body["status"] = "children_finished"
        body["children"] = [c.model_dump(mode="json") for c in wake.children]
    return json.dumps(body, ensure_ascii=False, default=str)


def apply_wakes(st: TurnState, wakes: tuple[Wake, ...]) -> None:
    """End the waits these wakes are for; a stale or duplicate wake does nothing."""
    by_wait = {w.wait_id: call_id for call_id, w in st.ctx.waits.items()}
    for wake in wakes:
        call_id = by_wait.pop(wake.wait_id, None)
        if call_id is None:
            continue
        pending = st.ctx.waits.pop(call_id)
        st.tool_message(call_id, _wake_content(pending, wake))
        st.event("wait_ended", wait_id=pending.wait_id, wait_kind=pending.kind.value)


def park(st: TurnState) -> TurnOutcome:
    """The park outcome of a task with pending tool calls: hooks first, then the earliest wait."""
    common = {
        "context": st.ctx,
        "spawned": tuple(st.spawned),
        "events": tuple(st.events),
    }
    waiting = waiting_hook_ids(st)
    if waiting:
        return ParkHooks(requests=tuple(st.requests), waiting_on=tuple(waiting), **common)
    first = min(
        st.ctx.waits.values(),
        key=lambda w: (w.wake_at is None, w.wake_at or w.created_at, w.created_at),
    )
    if first.kind is WaitKind.CHILDREN:
        return ParkChildren(
            wait_id=first.wait_id, child_ids=first.child_ids, join=first.join, **common
        )
    assert first.wake_at is not None
    return ParkTime(wait_id=first.wait_id, wake_at=first.wake_at, **common)
