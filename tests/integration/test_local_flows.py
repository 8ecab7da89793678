"""End to end on the local runtime: control plane -> queue -> turn runner -> store, on a real
server, with a fake clock. Each flow checks the task's state through the same views the API uses."""

from __future__ import annotations

from typing import Annotated, Any

import pytest

from factorial_aws import Agent, App, Hook, HookRequestContext, PendingHook, hook, subagents, tool
from factorial_aws import wait as waits
from factorial_aws.errors import TaskFinishedError
from factorial_aws.llm.base import ModelRequest
from factorial_aws.testing import ScriptedModel
from tests.integration.conftest import StackFactory, token_for

call = ScriptedModel.call


class Approval(Hook):
    approved: bool
    reviewer: str


class Note(Hook):
    text: str


def ask(ctx: HookRequestContext, amount: int) -> PendingHook[Approval]:
    return Approval.pending(ctx=ctx, title=f"approve {amount}", timeout_s=600)


def ask_note(ctx: HookRequestContext) -> PendingHook[Note]:
    return Note.pending(ctx=ctx, title="note please", timeout_s=600)


@tool
def pay(amount: int, approval: Annotated[Approval, hook.requires(ask)]) -> str:
    """Pay once approved."""
    return f"paid {amount}" if approval.approved else f"refused by {approval.reviewer}"


def last(req: ModelRequest) -> Any:
    return req.messages[-1]


def pay_rule(req: ModelRequest) -> Any:
    if last(req).role == "tool":
        return f"done: {last(req).content}"
    return [call("pay", amount=42)]


def test_approval_parks_then_completes_when_the_hook_is_resolved(make_stack: StackFactory) -> None:
    stack = make_stack(App([Agent(name="pay", instructions="i", model="m", tools=[pay])]), pay_rule)
    task = stack.control.create_task("pay", "pay 42", owner_id="alice")
    stack.run_due()
    view = stack.control.get_task(task.task_id)
    assert view.status == "waiting_hook" and view.turn == 1
    (pending,) = view.pending_hooks
    assert pending.title == "approve 42"
    described = stack.control.describe_hook(pending.hook_id)
    assert described.status == "requested" and "approved" in described.schema["properties"]
    bad = stack.control.resolve_hook(pending.hook_id, {"approved": True, "reviewer": "b"}, "bad")
    assert bad.outcome == "not_found"
    res = stack.control.resolve_hook(
        pending.hook_id, {"approved": True, "reviewer": "bob"}, token_for(pending.hook_id)
    )
    assert res.task_resumed
    stack.run_due()
    done = stack.control.get_task(task.task_id)
    assert done.status == "completed" and done.output == "done: paid 42"
    assert done.pending_hooks == ()
    # what is left is the hook's expiry message; when it comes, it finds nothing to do
    assert stack.queue.pending() == 1
    stack.clock.advance(600)  # type: ignore[attr-defined]
    stack.run_due()
    assert stack.queue.handled[-1][1] == "hook_not_requested"
    assert stack.queue.pending() == 0 and not stack.queue.dead_letters


@tool
def two(
    amount: int,
    approval: Annotated[Approval, hook.requires(ask)],
    note: Annotated[Note, hook.requires(ask_note)],
) -> str:
    """Two hooks in one stage."""
    return f"{amount} {approval.reviewer} {note.text}"


def test_hook_resolved_after_registration_but_before_the_park_commits_leaves_it_runnable(
    make_stack: StackFactory,
) -> None:
    """Two sessions park together; while the turn that advances the first runs, the second's
    hook is resolved. The engine did not see it, and parks on it; the commit must not."""
    holder: dict[str, Any] = {}

    @tool
    def first(approval: Annotated[Approval, hook.requires(ask)], amount: int) -> str:
        """Resolves the other session's hook from inside its body (a concurrent resolver)."""
        stack, note_id = holder["stack"], holder["note_id"]
        stack.control.resolve_hook(note_id, {"text": "hi"}, token_for(note_id))
        return "first ran"

    @tool
    def second(note: Annotated[Note, hook.requires(ask_note)]) -> str:
        """Waits for a note."""
        return f"second ran with {note.text}"

    def rule(req: ModelRequest) -> Any:
        tool_msgs = [m for m in req.messages if m.role == "tool"]
        if len(tool_msgs) == 2:
            return "both ran"
        return [call("first", amount=1), call("second")]

    agent = Agent(name="a", instructions="i", model="m", tools=[first, second])
    stack = make_stack(App([agent]), rule)
    holder["stack"] = stack
    task = stack.control.create_task("a", "go")
    stack.run_due()
    hooks = {h.title: h.hook_id for h in stack.control.get_task(task.task_id).pending_hooks}
    holder["note_id"] = hooks["note please"]
    stack.control.resolve_hook(
        hooks["approve 1"], {"approved": True, "reviewer": "r"}, token_for(hooks["approve 1"])
    )
    stack.run_due()
    done = stack.control.get_task(task.task_id)
    assert done.status == "completed" and done.output == "both ran"


@tool
def nap(seconds: int) -> object:
    """Sleep."""
    return waits.sleep(seconds=seconds, data={"slept_for": seconds})


def nap_rule(req: ModelRequest) -> Any:
    return "awake" if last(req).role == "tool" else [call("nap", seconds=30)]


def test_short_sleep_wakes_through_a_delayed_queue_message(make_stack: StackFactory) -> None:
    stack = make_stack(App([Agent(name="n", instructions="i", model="m", tools=[nap])]), nap_rule)
    task = stack.control.create_task("n", "nap")
    stack.run_due()
    assert stack.control.get_task(task.task_id).status == "waiting_time"
    stack.clock.advance(29)  # type: ignore[attr-defined]
    stack.run_due()
    assert stack.control.get_task(task.task_id).status == "waiting_time"
    stack.clock.advance(1)  # type: ignore[attr-defined]
    stack.run_due()
    assert stack.control.get_task(task.task_id).status == "completed"


def test_long_sleep_goes_through_the_scheduler_and_the_sweep_repairs_a_lost_wake(
    make_stack: StackFactory,
) -> None:
    def rule(req: ModelRequest) -> Any:
        return "late" if last(req).role == "tool" else [call("nap", seconds=7200)]

    stack = make_stack(App([Agent(name="n", instructions="i", model="m", tools=[nap])]), rule)
    task = stack.control.create_task("n", "nap")
    stack.run_due()
    view = stack.control.get_task(task.task_id)
    assert view.status == "waiting_time" and view.wait_id
    from factorial_aws.runtime.dispatch import schedule_name

    stack.queue.cancel(schedule_name(view.wait_id))  # the schedule is lost
    stack.clock.advance(7200)  # type: ignore[attr-defined]
    assert stack.run_due() == 0
    report = stack.sweep()
    assert report.woke == 1
    stack.run_due()
    assert stack.control.get_task(task.task_id).status == "completed"


researcher = Agent(name="researcher", instructions="research", model="m")


def fan_out_tool(join: str | int) -> Any:
    @tool
    def fan_out(topics: list[str]) -> object:
        """Spawn children and wait."""
        refs = [subagents.spawn(researcher, f"topic {t}", key=t) for t in topics]
        return waits.children(refs, join=join)

    return fan_out


def fan_rule(req: ModelRequest) -> Any:
    if req.messages[0].content == "research":
        return f"notes on {req.messages[1].content}"
    if last(req).role == "tool":
        return "summary: " + str(last(req).content)
    return [call("fan_out", topics=["a", "b", "c"])]


@pytest.mark.parametrize("join", ["all", "any"])
def test_fan_out_to_three_children_and_join(make_stack: StackFactory, join: str) -> None:
    lead = Agent(name="lead", instructions="lead", model="m", tools=[fan_out_tool(join)])
    stack = make_stack(App([lead, researcher]), fan_rule)
    task = stack.control.create_task("lead", "go")
    stack.run_due()
    done = stack.control.get_task(task.task_id)
    assert done.status == "completed"
    assert len(done.children) == 3
    for child in done.children:
        assert stack.control.get_task(child).status == "completed"
    topics_seen = sum(f"notes on topic {t}" in str(done.output) for t in "abc")
    # "any" wakes the parent with the first finished child; "all" with the three
    assert topics_seen == (3 if join == "all" else 1)


def test_cancel_while_parked_cancels_hooks_and_refuses_resolve(make_stack: StackFactory) -> None:
    stack = make_stack(App([Agent(name="pay", instructions="i", model="m", tools=[pay])]), pay_rule)
    task = stack.control.create_task("pay", "pay 42")
    stack.run_due()
    (pending,) = stack.control.get_task(task.task_id).pending_hooks
    stack.control.cancel_task(task.task_id)
    view = stack.control.get_task(task.task_id)
    assert view.status == "cancelled" and view.pending_hooks == ()
    late = stack.control.resolve_hook(
        pending.hook_id, {"approved": True, "reviewer": "x"}, token_for(pending.hook_id)
    )
    assert late.outcome == "cancelled"
    with pytest.raises(TaskFinishedError):
        stack.control.steer_task(task.task_id, "too late")


def test_steering_reaches_the_next_turn(make_stack: StackFactory) -> None:
    def rule(req: ModelRequest) -> Any:
        texts = [m.content for m in req.messages if m.role == "user"]
        return "ok, in euros" if "use euros" in texts else [call("nap", seconds=10)]

    stack = make_stack(App([Agent(name="n", instructions="i", model="m", tools=[nap])]), rule)
    task = stack.control.create_task("n", "start")
    stack.run_due()
    stack.control.steer_task(task.task_id, "use euros")
    stack.clock.advance(10)  # type: ignore[attr-defined]
    stack.run_due()
    assert stack.control.get_task(task.task_id).output == "ok, in euros"


def test_cancel_deletes_the_schedule_of_a_long_sleep(make_stack: StackFactory) -> None:
    def rule(req: ModelRequest) -> Any:
        return "late" if last(req).role == "tool" else [call("nap", seconds=7200)]

    stack = make_stack(App([Agent(name="n", instructions="i", model="m", tools=[nap])]), rule)
    task = stack.control.create_task("n", "nap")
    stack.run_due()
    assert stack.queue.pending() == 1  # the wake schedule
    stack.control.cancel_task(task.task_id)
    assert stack.queue.pending() == 0
    assert stack.control.get_task(task.task_id).status == "cancelled"


def test_an_early_wake_is_sent_again_for_the_rest_of_the_wait(make_stack: StackFactory) -> None:
    from factorial_aws.core.records import QueueMessage

    def rule(req: ModelRequest) -> Any:
        return "rested" if last(req).role == "tool" else [call("nap", seconds=7200)]

    stack = make_stack(App([Agent(name="n", instructions="i", model="m", tools=[nap])]), rule)
    task = stack.control.create_task("n", "nap")
    stack.run_due()
    wait_id = stack.control.get_task(task.task_id).wait_id
    assert wait_id is not None
    stack.clock.advance(3600)  # the scheduler fires an hour early (or a stray message arrives)
    stack.queue.send(QueueMessage(kind="wake", task_id=task.task_id, wait_id=wait_id))
    stack.run_due()
    assert stack.queue.handled[-1][1] == "early_wake"
    assert stack.control.get_task(task.task_id).status == "waiting_time"
    stack.clock.advance(3600)
    stack.run_due()
    assert stack.control.get_task(task.task_id).status == "completed"


def test_a_short_hook_expires_by_its_delayed_message_without_the_sweep(
    make_stack: StackFactory,
) -> None:
    def rule(req: ModelRequest) -> Any:
        return (
            f"gave up: {last(req).content}" if last(req).role == "tool" else [call("pay", amount=7)]
        )

    stack = make_stack(App([Agent(name="pay", instructions="i", model="m", tools=[pay])]), rule)
    task = stack.control.create_task("pay", "pay 7")
    stack.run_due()
    assert stack.control.get_task(task.task_id).status == "waiting_hook"
    stack.clock.advance(599)
    stack.run_due()
    assert stack.control.get_task(task.task_id).status == "waiting_hook"
    stack.clock.advance(1)  # the hook's timeout_s=600 is up; no sweep runs in this test
    stack.run_due()
    assert "hook_expired" in [o for _, o in stack.queue.handled]
    view = stack.control.get_task(task.task_id)
    assert view.status == "completed" and "expired" in str(view.output)


def test_rotating_a_hook_past_its_expiry_is_refused_as_expired(make_stack: StackFactory) -> None:
    from factorial_aws.errors import HookExpiredError

    stack = make_stack(App([Agent(name="pay", instructions="i", model="m", tools=[pay])]), pay_rule)
    task = stack.control.create_task("pay", "pay 42")
    stack.run_due()
    (pending,) = stack.control.get_task(task.task_id).pending_hooks
    stack.clock.advance(601)  # past the hook's timeout; neither the sweep nor its message ran
    with pytest.raises(HookExpiredError):
        stack.control.rotate_hook_token(pending.hook_id)
