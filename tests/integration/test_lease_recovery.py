"""A claimed turn whose worker dies is run again once its lease lapses, found by the maintenance
sweep through the task's dispatch entry (scored at the lease while the task runs), with no queue
redelivery needed; a live lease is never taken; the dispatch index holds one entry per queued or
running task and nothing is left for the sweep after a normal life. Standalone and cluster.

Tools run at least once (docs/store.md, "Crashes and leases"): a turn cut off after its tool ran
runs the tool again.
"""

from __future__ import annotations

import random
from typing import Annotated, Any

from factorial_aws import Agent, App, Hook, HookRequestContext, PendingHook, hook, subagents, tool
from factorial_aws import wait as waits
from factorial_aws.core.records import QueueMessage
from factorial_aws.llm.base import ModelRequest
from factorial_aws.store import keys
from factorial_aws.store.tasks import (
    Claimed,
    NotClaimed,
    claim_turn,
    dispatch_key,
    lease_score,
    renew_lease,
)
from factorial_aws.testing import ScriptedModel
from tests.integration.conftest import StackFactory, token_for

call = ScriptedModel.call
RUNS: list[str] = []


@tool
def step(n: int) -> str:
    """Count."""
    RUNS.append(f"step {n}")
    return f"step {n}"


def two_steps(req: ModelRequest) -> Any:
    done = sum(1 for m in req.messages if m.role == "tool")
    return "finished" if done == 2 else [call("step", n=done + 1)]


def _app() -> App:
    RUNS.clear()
    return App([Agent(name="s", instructions="i", model="m", tools=[step])])


def dispatch_entries(stack: Any) -> dict[str, float]:
    """Every dispatch-index entry of every shard: member -> score."""
    out: dict[str, float] = {}
    for shard in range(keys.SHARDS):
        for member, score in stack.client.zrange(
            keys.dispatch_index(shard), 0, -1, withscores=True
        ):
            out[member.decode()] = score
    return out


def lease_of(stack: Any, task_id: str) -> int:
    return int(stack.client.hget(keys.task(task_id), "lease"))


def test_a_worker_that_dies_after_its_claim_is_recovered_once_its_lease_lapses(
    make_stack: StackFactory,
) -> None:
    stack = make_stack(_app(), two_steps, lease_ms=5000)
    task = stack.control.create_task("s", "go")
    stack.queue._heap.clear()  # the message is taken by a worker that then dies: never acked,
    dead = claim_turn(stack.store, task.task_id, 1)  # and (worst case) never redelivered
    assert isinstance(dead, Claimed)
    assert dispatch_entries(stack) == {task.task_id: lease_score(lease_of(stack, task.task_id))}
    stack.clock.advance(4)
    report = stack.sweep()  # the lease is live: not due, not touched
    assert (report.reclaimed, report.redispatched, report.dropped) == (0, 0, 0)
    assert stack.control.get_task(task.task_id).status == "running"
    stack.clock.advance(3)  # past the lease and its one second of slack
    assert stack.sweep().reclaimed == 1
    for _ in range(4):
        stack.run_due()
    view = stack.control.get_task(task.task_id)
    assert view.status == "completed" and view.output == "finished"
    assert RUNS == ["step 1", "step 2"]
    assert dispatch_entries(stack) == {}  # nothing left for a later sweep


def test_a_live_lease_is_never_taken_and_a_renewed_one_moves_its_entry(
    make_stack: StackFactory,
) -> None:
    stack = make_stack(_app(), two_steps, lease_ms=120_000)  # longer than the 60 s grace
    task = stack.control.create_task("s", "go")
    stack.queue._heap.clear()
    alive = claim_turn(stack.store, task.task_id, 1)
    assert isinstance(alive, Claimed)
    stack.clock.advance(100)  # past the dispatch grace, within the lease
    assert stack.sweep().reclaimed == 0
    lease = renew_lease(stack.store, alive)  # a heartbeat of the long turn
    assert lease is not None and lease == lease_of(stack, task.task_id)
    assert dispatch_entries(stack) == {task.task_id: lease_score(lease)}
    stack.clock.advance(100)  # past the first lease, within the renewed one
    report = stack.sweep()
    assert (report.reclaimed, report.redispatched) == (0, 0)
    assert stack.control.get_task(task.task_id).status == "running"
    # the turn goes on and ends normally: the commit moves the entry on to the next turn
    stack.queue.send(QueueMessage(kind="turn", task_id=task.task_id, seq=1))
    assert stack.run_due() == 1 and stack.queue.handled[-1][1] == "leased"
    assert task.task_id in dispatch_entries(stack)  # the duplicate left the task findable


def test_a_redelivery_that_finds_a_live_lease_leaves_the_task_findable(
    make_stack: StackFactory, monkeypatch: Any
) -> None:
    """The commit fails (the store went away mid-turn), the queue redelivers, the claim answers
    `leased` and the message is acknowledged: the lease entry stays, and the sweep takes over."""
    from factorial_aws.errors import StoreUnavailableError
    from factorial_aws.runtime import runner as runner_mod

    stack = make_stack(_app(), two_steps, lease_ms=10_000)
    task = stack.control.create_task("s", "go")
    real = runner_mod.commit_turn
    fails = {"left": 1}

    def flaky(sc: Any, claimed: Any, outcome: Any) -> Any:
        if fails["left"]:
            fails["left"] -= 1
            raise StoreUnavailableError("connection refused")
        return real(sc, claimed, outcome)

    monkeypatch.setattr(runner_mod, "commit_turn", flaky)
    stack.run_due()  # the turn ran, its commit failed: redelivery in 2 s
    stack.clock.advance(3)
    stack.run_due()
    assert [o for _, o in stack.queue.handled] == ["leased"]
    assert stack.queue.pending() == 0  # acknowledged: no message left for the task
    assert task.task_id in dispatch_entries(stack)
    stack.clock.advance(10)
    assert stack.sweep().reclaimed == 1
    for _ in range(4):
        stack.run_due()
    assert stack.control.get_task(task.task_id).status == "completed"
    assert RUNS == ["step 1", "step 1", "step 2"]  # at least once: the cut-off turn ran again


def test_a_duplicate_of_a_parked_tasks_message_leaves_no_entry(make_stack: StackFactory) -> None:
    @tool
    def nap() -> object:
        """Sleep an hour."""
        return waits.sleep(seconds=3600)

    app = App([Agent(name="n", instructions="i", model="m", tools=[nap])])
    stack = make_stack(app, lambda r: "up" if r.messages[-1].role == "tool" else [call("nap")])
    task = stack.control.create_task("n", "go")
    stack.run_due()
    assert stack.control.get_task(task.task_id).status == "waiting_time"
    assert dispatch_entries(stack) == {}
    dup = claim_turn(stack.store, task.task_id, 1)  # SQS delivers the turn message again
    assert isinstance(dup, NotClaimed) and dup.reason == "not_runnable"
    assert dispatch_entries(stack) == {}


# --- index size under many transitions -----------------------------------------------------------


class Ok(Hook):
    ok: bool


def ask(ctx: HookRequestContext) -> PendingHook[Ok]:
    return Ok.pending(ctx=ctx, title="ok?", timeout_s=3600)


@tool
def gated(ok: Annotated[Ok, hook.requires(ask)]) -> str:
    """Gated."""
    return "gated ran"


@tool
def nap() -> object:
    """Sleep a minute."""
    return waits.sleep(seconds=60)


kid = Agent(name="kid", instructions="kid", model="m", tools=[step])


@tool
def fan_out() -> object:
    """Three children, joined."""
    return waits.children([subagents.spawn(kid, str(i), key=str(i)) for i in range(3)])


def mixed_rule(req: ModelRequest) -> Any:
    first = req.messages[0].content
    done = sum(1 for m in req.messages if m.role == "tool")
    if first == "kid":
        return "kid done" if done else [call("step", n=1)]
    plan = {
        "steps": ["step", "step", "step"],
        "hook": ["gated"],
        "nap": ["nap"],
        "fan": ["fan_out"],
    }
    todo = plan[req.messages[1].content]
    if done >= len(todo):
        return "done"
    name = todo[done]
    return [call(name, n=done + 1)] if name == "step" else [call(name)]


def test_the_dispatch_index_holds_only_tasks_in_flight_and_ends_empty_without_a_sweep(
    make_stack: StackFactory,
) -> None:
    lead = Agent(name="lead", instructions="lead", model="m", tools=[step, gated, nap, fan_out])
    stack = make_stack(App([lead, kid]), mixed_rule)
    rng = random.Random(7)
    kinds = ["steps", "hook", "nap", "fan"] * 8
    rng.shuffle(kinds)
    tasks = [stack.control.create_task("lead", kind).task_id for kind in kinds]
    biggest = 0
    for _ in range(40):
        stack.run_due()
        for task_id in tasks:
            for h in stack.control.get_task(task_id).pending_hooks:
                if rng.random() < 0.5:
                    stack.control.resolve_hook(h.hook_id, {"ok": True}, token_for(h.hook_id))
        in_flight = [
            t
            for t in stack.client.scan_iter(match="fa:{*}:t:*")
            if stack.client.hget(t, "status") in (b"queued", b"running")
        ]
        entries = dispatch_entries(stack)
        biggest = max(biggest, len(entries))
        # one entry per queued task at most (+ parents a child's end could have woken)
        assert len(entries) <= len(in_flight) + len(kinds)
        stack.clock.advance(5)
        if all(stack.control.get_task(t).status == "completed" for t in tasks):
            break
    assert all(stack.control.get_task(t).status == "completed" for t in tasks)
    assert biggest > 0
    assert dispatch_entries(stack) == {}  # every entry was removed by a transition, none swept
    # and the hooks' expiry entries and the naps' due entries went with the turns that used them
    for shard in range(keys.SHARDS):
        assert stack.client.zcard(keys.expiry_index(shard)) == 0
        assert stack.client.zcard(keys.due_index(shard)) == 0


def test_a_lost_lease_entry_is_written_again_by_the_next_message_that_finds_the_lease(
    make_stack: StackFactory,
) -> None:
    """The claim's index write did not land (another node failed) while its script did: the
    redelivered message that finds the live lease writes the entry the task needs."""
    stack = make_stack(_app(), two_steps, lease_ms=5000)
    task = stack.control.create_task("s", "go")
    stack.queue._heap.clear()
    assert isinstance(claim_turn(stack.store, task.task_id, 1), Claimed)
    stack.client.zrem(dispatch_key(task.task_id), task.task_id)
    dup = claim_turn(stack.store, task.task_id, 1)
    assert isinstance(dup, NotClaimed) and dup.reason == "leased"
    assert dispatch_entries(stack) == {task.task_id: lease_score(lease_of(stack, task.task_id))}
    stack.clock.advance(7)
    assert stack.sweep().reclaimed == 1


def test_the_sweep_reads_only_what_is_due(make_stack: StackFactory, monkeypatch: Any) -> None:
    """Tasks in flight (queued within the grace period, running within the lease) cost the sweep
    nothing but its one read per shard; only the entries that are due are looked at."""
    from factorial_aws.runtime import maintenance

    looked: list[str] = []
    real = maintenance._dispatch_one

    def spy(sc: Any, d: Any, task_id: str, *rest: Any) -> None:
        looked.append(task_id)
        real(sc, d, task_id, *rest)

    monkeypatch.setattr(maintenance, "_dispatch_one", spy)
    stack = make_stack(_app(), two_steps, lease_ms=120_000)
    queued = [stack.control.create_task("s", "go").task_id for _ in range(30)]
    running = queued[:10]
    for task_id in running:
        assert isinstance(claim_turn(stack.store, task_id, 1), Claimed)
    stack.queue._heap.clear()  # every turn message was lost
    stack.clock.advance(30)
    assert stack.sweep().redispatched == 0 and looked == []
    stack.clock.advance(31)  # the queued ones are due (grace), the running ones are not
    report = stack.sweep()
    assert sorted(looked) == sorted(queued[10:]) and report.redispatched == 20
    stack.clock.advance(60.5)  # their leases lapse; the re-sent ones are not due again yet
    looked.clear()
    report = stack.sweep()
    assert sorted(looked) == sorted(running) and report.reclaimed == 10
