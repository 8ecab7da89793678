"""Crash injection: the turn handler dies between commit and dispatch, or between dispatch and
the acknowledgement. Redelivery must finish the task with exactly one commit per turn."""

from __future__ import annotations

from typing import Any

import pytest

from factorial_aws import Agent, App, tool
from factorial_aws.llm.base import ModelRequest
from factorial_aws.runtime.dispatch import Dispatcher
from factorial_aws.runtime.runner import TurnRunner
from factorial_aws.store.views import read_events
from factorial_aws.testing import ScriptedModel
from tests.integration.conftest import StackFactory

RUNS: list[int] = []


@tool
def step(n: int) -> str:
    """Count."""
    RUNS.append(n)
    return f"step {n}"


def rule(req: ModelRequest) -> Any:
    done = sum(1 for m in req.messages if m.role == "tool")
    return "finished" if done == 3 else [ScriptedModel.call("step", n=done + 1)]


def _stack(make_stack: StackFactory) -> Any:
    RUNS.clear()
    app = App([Agent(name="s", instructions="i", model="m", tools=[step])])
    return make_stack(app, rule, dispatch_grace_ms=1000)


def _assert_one_commit_per_turn(stack: Any, task_id: str) -> None:
    view = stack.control.get_task(task_id)
    assert view.status == "completed" and view.output == "finished"
    assert RUNS == [1, 2, 3]  # no tool ran twice
    assert len(stack.model.requests) == 4  # one model call per turn
    replied = [e for e in read_events(stack.store, task_id) if e.kind == "model_replied"]
    assert [e.data["turn"] for e in replied] == [1, 2, 3, 4]


def test_crash_after_commit_before_dispatch(make_stack: StackFactory, monkeypatch: Any) -> None:
    stack = _stack(make_stack)
    real = Dispatcher.after_commit
    crashes = {"left": 2}

    def flaky(self: Dispatcher, committed: Any, outcome: Any) -> None:
        if crashes["left"] and committed.status == "queued":
            crashes["left"] -= 1
            raise RuntimeError("power cut after commit")
        real(self, committed, outcome)

    monkeypatch.setattr(Dispatcher, "after_commit", flaky)
    task = stack.control.create_task("s", "go")
    for _ in range(10):
        stack.run_due()
        stack.clock.advance(3)  # the redelivery comes; the grace period has passed
    assert crashes["left"] == 0
    _assert_one_commit_per_turn(stack, task.task_id)


def test_crash_after_dispatch_before_ack(make_stack: StackFactory, monkeypatch: Any) -> None:
    stack = _stack(make_stack)
    real = TurnRunner.handle
    crashes = {"left": 2}

    async def flaky(self: TurnRunner, message: Any) -> str:
        outcome = await real(self, message)
        if crashes["left"] and message.kind == "turn" and outcome == "queued":
            crashes["left"] -= 1
            raise RuntimeError("power cut before the ack")
        return outcome

    monkeypatch.setattr(TurnRunner, "handle", flaky)
    task = stack.control.create_task("s", "go")
    for _ in range(10):
        stack.run_due()
        stack.clock.advance(3)
    assert crashes["left"] == 0
    _assert_one_commit_per_turn(stack, task.task_id)
    redelivered = [o for _, o in stack.queue.handled if o in ("stale", "finished", "redispatched")]
    assert redelivered, "the redelivered messages did no work"


@pytest.mark.parametrize("lost", ["first_turn"])
def test_lost_first_message_is_resent_by_the_sweep(make_stack: StackFactory, lost: str) -> None:
    stack = _stack(make_stack)
    task = stack.control.create_task("s", "go")
    assert stack.queue.pending() == 1
    stack.queue._heap.clear()  # the SQS message was lost
    stack.clock.advance(2)
    report = stack.sweep()
    assert report.redispatched == 1
    for _ in range(5):
        stack.run_due()
    _assert_one_commit_per_turn(stack, task.task_id)
