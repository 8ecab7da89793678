"""Crashes between a transition that makes a task runnable and the turn message it calls for.

docs/concepts.md: "Whatever is left (a wake that was never scheduled, a message that was never
sent) is repaired by the maintenance sweep"; docs/store.md, wake semantics: "the caller sends one
turn message carrying that seq (SQS) and pipelines a disp index entry so a lost message is re-sent
by maintenance".
"""

from __future__ import annotations

from typing import Any

from factorial_aws import Agent, App, subagents, tool
from factorial_aws import wait as waits
from factorial_aws.llm.base import ModelRequest
from factorial_aws.runtime.dispatch import Dispatcher
from factorial_aws.store.cancel_task import cancel_task
from factorial_aws.testing import ScriptedModel
from tests.integration.conftest import StackFactory

call = ScriptedModel.call


@tool
def nap(seconds: int) -> object:
    """Sleep."""
    return waits.sleep(seconds=seconds)


def nap_rule(req: ModelRequest) -> Any:
    return "awake" if req.messages[-1].role == "tool" else [call("nap", seconds=600)]


def _settle(stack: Any, rounds: int = 12, step_s: int = 30) -> None:
    for _ in range(rounds):
        stack.run_due()
        stack.clock.advance(step_s)
        stack.sweep()
    stack.run_due()


def test_crash_after_wake_task_before_its_turn_message_is_repaired(
    make_stack: StackFactory, monkeypatch: Any
) -> None:
    """The wake message's handler dies after wake_task made the task queued (seq+1) and before
    dispatcher.turn. The wake message is redelivered (stale: the task is no longer waiting_time),
    the sweep's due entry is stale too, and no disp entry exists for the new seq."""
    stack = make_stack(App([Agent(name="n", instructions="i", model="m", tools=[nap])]), nap_rule)
    task = stack.control.create_task("n", "nap")
    stack.run_due()
    assert stack.control.get_task(task.task_id).status == "waiting_time"

    real_turn = Dispatcher.turn
    crashed = {"n": 0}

    def flaky_turn(self: Dispatcher, task_id: str, seq: int, delay_s: float = 0) -> None:
        if not crashed["n"]:
            crashed["n"] += 1
            raise RuntimeError("power cut after wake_task")
        real_turn(self, task_id, seq, delay_s)

    for _ in range(9):  # the maintenance sweep runs every minute while the task sleeps
        stack.clock.advance(60)
        stack.sweep()
        stack.run_due()
    assert stack.control.get_task(task.task_id).status == "waiting_time"
    monkeypatch.setattr(Dispatcher, "turn", flaky_turn)
    stack.clock.advance(60)
    stack.run_due()  # the wake message: wake_task woke the task, then the handler died
    assert crashed["n"] == 1
    _settle(stack)
    assert stack.control.get_task(task.task_id).status == "completed"


kid = Agent(name="kid", instructions="kid", model="m")


@tool
def fan_out() -> object:
    """Spawn one child and wait for it."""
    return waits.children([subagents.spawn(kid, "x", key="x")])


def fan_rule(req: ModelRequest) -> Any:
    if req.messages[0].content == "kid":
        return [call("nap", seconds=3600)]  # the child sleeps for an hour
    return "joined" if req.messages[-1].role == "tool" else [call("fan_out")]


def test_crash_after_cancelling_a_child_before_waking_its_parent_is_repaired(
    make_stack: StackFactory,
) -> None:
    """cancel_task of a child meets its parent's join and makes the parent queued; the API
    process dies before it sends the parent's turn message (simulated by calling the store
    transition alone). Nothing re-sends it: cancel pipelines only a gc entry, no disp entry."""
    kid_agent = Agent(name="kid", instructions="kid", model="m", tools=[nap])
    lead = Agent(name="lead", instructions="lead", model="m", tools=[fan_out])
    stack = make_stack(App([lead, kid_agent]), fan_rule)
    task = stack.control.create_task("lead", "go")
    stack.run_due()
    parent = stack.control.get_task(task.task_id)
    assert parent.status == "waiting_children"
    (child,) = parent.children
    assert stack.control.get_task(child).status == "waiting_time"
    for _ in range(3):  # the maintenance sweep runs every minute while the parent waits
        stack.clock.advance(60)
        stack.sweep()
        stack.run_due()
    assert stack.control.get_task(task.task_id).status == "waiting_children"

    result = cancel_task(stack.store, child, "stop")  # then the process dies
    assert result.parent_seq > 0
    assert stack.control.get_task(task.task_id).status == "queued"
    _settle(stack, rounds=4)
    assert stack.control.get_task(task.task_id).status == "completed"
