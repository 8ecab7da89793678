"""A full task-tree life through the local stack that uses every transition once or more."""

from __future__ import annotations

from typing import Annotated, Any

from factorial_aws import Agent, App, Hook, HookRequestContext, PendingHook, hook, subagents, tool
from factorial_aws import wait as waits
from factorial_aws.core import ids
from factorial_aws.llm.base import ModelRequest
from factorial_aws.local.stack import LocalStack
from factorial_aws.store.base import StoreSettings
from factorial_aws.store.expire_tree import expire_tree
from factorial_aws.store.hooks import expire_hook
from factorial_aws.testing import FakeClock, ScriptedModel

SECRET = b"scenario"


class Ok(Hook):
    ok: bool


def ask(ctx: HookRequestContext) -> PendingHook[Ok]:
    return Ok.pending(ctx=ctx, title="ok?", timeout_s=60)


@tool
def gated(ok: Annotated[Ok, hook.requires(ask)]) -> str:
    """Gated."""
    return "gated ran"


kid = Agent(name="kid", instructions="kid", model="m")


@tool
def spawn_and_sleep() -> object:
    """Spawn two children, wait for them."""
    return waits.children([subagents.spawn(kid, "a", key="a"), subagents.spawn(kid, "b", key="b")])


@tool
def nap() -> object:
    """Sleep a minute."""
    return waits.sleep(seconds=60)


class _Model:
    async def complete(self, request: ModelRequest) -> Any:
        tools = [m for m in request.messages if m.role == "tool"]
        if request.messages[0].content == "kid":
            step: Any = "kid done"
        elif len(tools) == 0:
            step = [ScriptedModel.call("gated")]
        elif len(tools) == 1:
            step = [ScriptedModel.call("nap")]
        elif len(tools) == 2:
            step = [ScriptedModel.call("spawn_and_sleep")]
        else:
            step = "all done"
        return await ScriptedModel(step).complete(request)


def run_full_life(client: Any) -> None:
    lead = Agent(name="lead", instructions="lead", model="m", tools=[gated, nap, spawn_and_sleep])
    clock = FakeClock()
    stack = LocalStack(
        App([lead, kid]),
        client,
        _Model(),
        clock,
        SECRET,
        "http://x",
        settings=StoreSettings(lease_ms=5000, tree_ttl_s=1),
        fake_time=True,
    )
    c = stack.control
    task = c.create_task("lead", "go", owner_id="o")
    stack.run_due()
    (h,) = c.get_task(task.task_id).pending_hooks
    from factorial_aws.store.tasks import Claimed, NotClaimed, claim_turn, renew_lease

    dup = claim_turn(stack.store, task.task_id, 1)  # a duplicate message: takes its entry back
    assert isinstance(dup, NotClaimed) and dup.reason == "not_runnable", dup
    c.steer_task(task.task_id, "note")
    new = c.rotate_hook_token(h.hook_id, revoke_previous=False)
    expire_hook(stack.store, h.hook_id)  # not due: no write
    c.resolve_hook(h.hook_id, {"ok": True}, new.token)
    stack.run_due()  # gated ran -> nap
    clock.advance(60)
    stack.run_due()  # wake_task -> spawn children -> children run -> join
    view = c.get_task(task.task_id)
    assert view.status == "completed", view
    # a second tree: cancelled while parked, then a lapsed lease reclaimed by the sweep
    other = c.create_task("lead", "again")
    stack.run_due()
    c.cancel_task(other.task_id)
    third = c.create_task("lead", "third")
    claim = claim_turn(stack.store, third.task_id, 1)  # a turn that dies holding its lease
    assert isinstance(claim, Claimed)
    assert renew_lease(stack.store, claim)  # after one heartbeat
    stack.queue._heap.clear()
    clock.advance(120)  # past the lease and the dispatch grace period
    report = stack.sweep()  # reclaim_lapsed_lease + gc
    assert report.reclaimed == 1, report
    assert expire_tree(stack.store, ids.root_of(task.task_id))
