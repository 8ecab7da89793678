"""Early resolves on the local stack: a builder's own resolve reaches the control plane before
the commit that registers its hook. Applied when the hook registers; when the tool call is never
committed (the turn crashed before its commit and the replay asked for something else), the kept
payload is never applied and goes with the tree."""

from __future__ import annotations

from typing import Annotated, Any

import pytest

from factorial_aws import Agent, App, Hook, HookRequestContext, PendingHook, hook, tool
from factorial_aws.llm.base import ModelRequest
from factorial_aws.runtime import runner
from factorial_aws.runtime.dispatch import Dispatcher
from factorial_aws.store import keys
from factorial_aws.store.control import expire_tree
from factorial_aws.store.hooks import ResolveResult
from factorial_aws.store.tasks import dispatch_key, lease_score
from factorial_aws.store.views import read_events
from factorial_aws.testing import ScriptedModel
from tests.integration.conftest import StackFactory

STACK: list[Any] = []
EARLY: list[ResolveResult] = []
RAN: list[bool] = []


class Go(Hook):
    go: bool


def ask_and_answer(ctx: HookRequestContext) -> PendingHook[Go]:
    pending = Go.pending(ctx=ctx, title="Go?")
    EARLY.append(STACK[0].control.resolve_hook(ctx.hook_id, {"go": True}, pending.token))
    return pending


@tool
def launch(go: Annotated[Go, hook.requires(ask_and_answer)]) -> str:
    """Launch when told to go."""
    RAN.append(go.go)
    return "launched"


def _stack(make_stack: StackFactory, rule: Any) -> Any:
    STACK.clear()
    EARLY.clear()
    RAN.clear()
    stack = make_stack(App([Agent(name="l", instructions="i", model="m", tools=[launch])]), rule)
    STACK.append(stack)
    return stack


def test_a_builders_own_early_resolve_lets_the_task_continue(make_stack: StackFactory) -> None:
    def rule(req: ModelRequest) -> Any:
        tools = sum(1 for m in req.messages if m.role == "tool")
        return "done" if tools else [ScriptedModel.call("launch")]

    stack = _stack(make_stack, rule)
    task = stack.control.create_task("l", "go")
    for _ in range(5):
        stack.run_due()
    (early,) = EARLY
    assert (early.outcome, early.task_id) == ("accepted", task.task_id)
    view = stack.control.get_task(task.task_id)
    assert (view.status, view.output, RAN) == ("completed", "done", [True])
    kinds = [e.kind for e in read_events(stack.store, task.task_id)]
    # kept, then applied by the commit that registered the hook (the stage complete at once)
    assert (
        kinds.index("hook_accepted") < kinds.index("hook_requested") < kinds.index("hook_resolved")
    )
    assert len(stack.model.requests) == 2


def test_an_early_resolve_for_a_call_never_committed_goes_with_the_tree(
    make_stack: StackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    def rule(req: ModelRequest) -> Any:  # the first reply asks to launch; the replay does not
        return [ScriptedModel.call("launch")] if not EARLY else "changed my mind"

    stack = _stack(make_stack, rule)
    real = runner.commit_turn
    crashes = {"left": 1}

    def crash_once(*args: Any) -> Any:
        if crashes["left"]:
            crashes["left"] -= 1
            raise RuntimeError("power cut before the commit")
        return real(*args)

    monkeypatch.setattr(runner, "commit_turn", crash_once)
    task = stack.control.create_task("l", "go")
    for _ in range(20):
        stack.run_due()
        stack.clock.advance(seconds=stack.settings.lease_ms / 1000 + 61)
        if stack.control.get_task(task.task_id).status == "completed":
            break
    (early,) = EARLY
    assert early.outcome == "accepted" and crashes["left"] == 0
    view = stack.control.get_task(task.task_id)
    assert (view.status, view.output, RAN) == ("completed", "changed my mind", [])
    hook_key = keys.hook(early.hook_id)
    client = stack.store.client
    assert client.hget(hook_key, "status") == b"accepted"  # never applied
    life = client.pttl(hook_key)
    assert 0 < life <= 2 * stack.settings.lease_ms + stack.settings.early_resolve_ttl_s * 1000
    assert expire_tree(stack.store, task.task_id)
    assert 0 < client.ttl(hook_key) <= stack.settings.tree_ttl_s
    member = f"h:{early.hook_id}".encode()
    assert member in client.smembers(keys.registry(task.task_id))


def test_a_park_made_runnable_by_an_early_resolve_survives_a_lost_turn_message(
    make_stack: StackFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit that registers the hook finds the early payload and leaves the task queued.
    Even when the task's index entry is a lease entry by then (the sweep re-scored it during a
    long turn) and the turn message after the commit is lost, the sweep finds the task."""

    def rule(req: ModelRequest) -> Any:
        tools = sum(1 for m in req.messages if m.role == "tool")
        return "done" if tools else [ScriptedModel.call("launch")]

    stack = _stack(make_stack, rule)
    task = stack.control.create_task("l", "go")
    client = stack.store.client
    entry_key = dispatch_key(task.task_id)
    real_turn = Dispatcher.turn
    lost: list[int] = []
    real_commit = runner.commit_turn

    def commit_after_a_sweep(sc: Any, claimed: Any, outcome: Any) -> Any:
        if outcome.kind == "park_hooks":  # what the sweep does to the entry of a running task
            client.zadd(entry_key, {task.task_id: lease_score(sc.now_ms() + 30_000)})
        return real_commit(sc, claimed, outcome)

    def lose_the_second_turn_message(
        self: Dispatcher, task_id: str, seq: int, delay_s: float = 0
    ) -> None:
        if seq == 2 and not lost:
            lost.append(seq)  # the process died between the commit and the send
            return
        real_turn(self, task_id, seq, delay_s)

    monkeypatch.setattr(runner, "commit_turn", commit_after_a_sweep)
    monkeypatch.setattr(Dispatcher, "turn", lose_the_second_turn_message)
    for _ in range(3):
        stack.run_due()
    assert lost == [2]
    assert stack.control.get_task(task.task_id).status == "queued"
    assert client.zscore(entry_key, task.task_id) is not None  # findable by the sweep
    stack.clock.advance(seconds=stack.settings.dispatch_grace_ms / 1000 + 1)
    assert stack.sweep().redispatched == 1
    for _ in range(3):
        stack.run_due()
    view = stack.control.get_task(task.task_id)
    assert (view.status, view.output) == ("completed", "done")
