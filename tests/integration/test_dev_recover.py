"""What the dev server does at start on a store a dead process left behind (local/state.py):
queued tasks get their turn message again, running ones are reclaimed (at once when the state
directory's lock proves their turn died, else when their lease lapses), and every task ends."""

from __future__ import annotations

from typing import Any

from factorial_aws import Agent, App, tool
from factorial_aws.llm.base import ModelRequest
from factorial_aws.local.state import Recovered, recover, task_ids
from factorial_aws.store.tasks import Claimed, claim_turn
from factorial_aws.testing import ScriptedModel
from tests.integration.conftest import StackFactory


@tool
def step(n: int) -> str:
    """Count."""
    return f"step {n}"


def rule(req: ModelRequest) -> Any:
    done = any(m.role == "tool" for m in req.messages)
    return "finished" if done else [ScriptedModel.call("step", n=1)]


def _left_behind(make_stack: StackFactory) -> tuple[Any, str, str]:
    """A store as a killed dev server leaves it: one task queued whose message was lost, one
    running whose turn died (its lease still live), and an empty in-process queue."""
    stack = make_stack(App([Agent(name="s", instructions="i", model="m", tools=[step])]), rule)
    queued = stack.control.create_task("s", "a").task_id
    running = stack.control.create_task("s", "b").task_id
    assert isinstance(claim_turn(stack.store, running, 1), Claimed)
    while stack.queue._pop_due() is not None:  # lost with the dead process
        pass
    assert stack.queue.pending() == 0
    return stack, queued, running


def test_task_ids_finds_every_task_and_nothing_else(make_stack: StackFactory) -> None:
    stack, queued, running = _left_behind(make_stack)
    assert sorted(task_ids(stack.store)) == sorted([queued, running])


def test_forced_recovery_runs_every_task_to_its_end(make_stack: StackFactory) -> None:
    stack, queued, running = _left_behind(make_stack)
    found = recover(stack.store, stack.dispatcher, force=True)
    assert found == Recovered(requeued=1, rerun=1)
    assert found.summary() == "re-sent 1 queued turn, re-ran 1 interrupted turn"
    stack.run_due()
    for task_id in (queued, running):
        assert stack.control.get_task(task_id).status == "completed"


def test_without_force_a_live_lease_is_left_to_lapse(make_stack: StackFactory) -> None:
    stack, queued, running = _left_behind(make_stack)
    found = recover(stack.store, stack.dispatcher, force=False)
    assert found == Recovered(requeued=1, leased=1)
    stack.run_due()
    assert stack.control.get_task(queued).status == "completed"
    assert stack.control.get_task(running).status == "running"
    assert recover(stack.store, stack.dispatcher, force=False) == Recovered(leased=1)
