"""The task context's cap holds on every write path (DESIGN section 8), on real Valkey (standalone
and cluster): create, steering, hook payloads (refused whole, atomically with the write: nothing
written) and the turn's own commit (a context over the cap fails the task instead of growing the
store). The byte counts the scripts keep (``cb``, ``ib``) follow what is stored."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from factorial_aws.core.outcomes import Continue, ParkHooks
from factorial_aws.core.records import Message
from factorial_aws.errors import ContextTooLargeError
from factorial_aws.store import control, keys
from factorial_aws.store.base import StoreContext, StoreSettings
from factorial_aws.store.tasks import create_task
from factorial_aws.testing import FakeClock
from tests.store.helpers import Client, claim, commit, tree_state
from tests.store.test_hooks import Approval, park, resolve_hook

CAP = 20_000


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sc(redis_client: Client, clock: FakeClock) -> StoreContext:
    return StoreContext(redis_client, clock=clock, settings=StoreSettings(max_context_bytes=CAP))


def _counted(sc: StoreContext, task_id: str) -> tuple[int, int]:
    """(cb, ib) as the scripts keep them, and check them against what is stored."""
    raw = sc.client.hmget(keys.task(task_id), ["cb", "ib"])
    cb, ib = (int(v or 0) for v in raw)
    assert cb == sc.client.strlen(keys.ctx(task_id))
    assert ib == sum(len(i) for i in sc.client.lrange(keys.inbox(task_id), 0, -1))
    return cb, ib


def test_create_over_the_cap_is_context_too_large_and_writes_nothing(sc: StoreContext) -> None:
    before = tree_state(sc.client)
    with pytest.raises(ContextTooLargeError) as caught:
        create_task(sc, "agent", "x" * CAP)
    assert caught.value.code == "context_too_large"
    assert tree_state(sc.client) == before
    task_id = create_task(sc, "agent", "x" * (CAP // 2)).task_id
    assert _counted(sc, task_id)[0] > CAP // 2


def test_steering_a_parked_task_stops_at_the_cap_and_writes_nothing_more(
    sc: StoreContext,
) -> None:
    task_id = park(sc, FakeClock(), Approval).task_id
    text = "s" * 3000
    accepted = 0
    with pytest.raises(ContextTooLargeError, match="over the cap of 20000"):
        for _ in range(CAP // len(text) + 2):
            control.steer_task(sc, task_id, text)
            accepted += 1
    cb, ib = _counted(sc, task_id)
    assert 0 < accepted <= CAP // len(text) and cb + ib <= CAP
    assert cb + ib + len(text) + 25 > CAP  # it was refused because the next one would pass
    frozen = tree_state(sc.client)
    with pytest.raises(ContextTooLargeError):
        control.steer_task(sc, task_id, text)
    assert tree_state(sc.client) == frozen  # no inbox item, no event, no counter change
    control.steer_task(sc, task_id, "ok")  # a small one still fits


def test_concurrent_steers_never_pass_the_cap(sc: StoreContext) -> None:
    """The check is atomic with the push: 16 threads racing cannot overshoot."""
    task_id = park(sc, FakeClock(), Approval).task_id
    outcomes: list[str] = []
    barrier = threading.Barrier(16)

    def steer() -> None:
        barrier.wait()
        for _ in range(4):
            try:
                control.steer_task(sc, task_id, "c" * 1000)
                outcomes.append("ok")
            except ContextTooLargeError:
                outcomes.append("too_large")

    threads = [threading.Thread(target=steer) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cb, ib = _counted(sc, task_id)
    assert cb + ib <= CAP
    assert "too_large" in outcomes and outcomes.count("ok") == len(
        sc.client.lrange(keys.inbox(task_id), 0, -1)
    )


def test_a_hook_payload_that_would_pass_the_cap_is_refused_whole(sc: StoreContext) -> None:
    clock = FakeClock()
    parked = park(sc, clock, Approval, Approval)
    first, second = parked.hooks
    control.steer_task(sc, parked.task_id, "n" * (CAP - _counted(sc, parked.task_id)[0] - 600))
    before = tree_state(sc.client)
    big: dict[str, Any] = {"approved": True, "comment": "p" * 1000}
    with pytest.raises(ContextTooLargeError, match="over its cap"):
        resolve_hook(sc, first, big, parked.tokens[first])
    assert tree_state(sc.client) == before  # the hook is still requested, nothing queued
    result = resolve_hook(sc, first, {"approved": True}, parked.tokens[first])
    assert result.outcome == "resolved"
    cb, ib = _counted(sc, parked.task_id)
    assert cb + ib <= CAP
    assert json.loads(sc.client.lindex(keys.inbox(parked.task_id), -1))["hook_id"] == first
    assert sc.client.hget(keys.hook(second), "status") == b"requested"  # the other one is open


def test_the_commit_uncounts_consumed_items_and_counts_the_new_context(sc: StoreContext) -> None:
    parked = park(sc, FakeClock(), Approval)
    control.steer_task(sc, parked.task_id, "early")
    (hook_id,) = parked.hooks
    resolve_hook(sc, hook_id, {"approved": True}, parked.tokens[hook_id])
    claimed = claim(sc, parked.task_id, int(sc.client.hget(keys.task(parked.task_id), "seq")))
    control.steer_task(sc, parked.task_id, "during the turn")  # arrives after the claim
    ctx = claimed.context.model_copy(
        update={"messages": [*claimed.context.messages, Message.user("early")]}
    )
    commit(sc, claimed, Continue(context=ctx))
    cb, ib = _counted(sc, parked.task_id)
    assert ib == len(sc.client.lindex(keys.inbox(parked.task_id), 0)) and cb > 0


def test_a_turn_whose_context_would_pass_the_cap_fails_the_task(sc: StoreContext) -> None:
    task_id = create_task(sc, "agent", "hello").task_id
    claimed = claim(sc, task_id, 1)
    grown = claimed.context.model_copy(
        update={
            "messages": [*claimed.context.messages, Message(role="assistant", content="a" * CAP)]
        }
    )
    committed = commit(sc, claimed, ParkHooks(context=grown))
    assert committed.status == "failed"
    task = sc.client.hgetall(keys.task(task_id))
    assert task[b"ecode"] == b"context_too_large" and b"over the cap" in task[b"emsg"]
    assert sc.client.strlen(keys.ctx(task_id)) < CAP  # the old context was kept, not the new one
    assert _counted(sc, task_id)[0] == sc.client.strlen(keys.ctx(task_id))


def test_a_child_whose_input_would_pass_the_cap_fails_the_parent_turn(sc: StoreContext) -> None:
    from factorial_aws.core import ids
    from factorial_aws.core.outcomes import ParkChildren
    from factorial_aws.core.records import ChildSpec

    task_id = create_task(sc, "agent", "hello").task_id
    claimed = claim(sc, task_id, 1)
    child = ids.child_task_id(task_id, "big")
    spec = ChildSpec(
        task_id=child, parent_task_id=task_id, agent="agent", input="i" * CAP, key="big"
    )
    outcome = ParkChildren(
        context=claimed.context, spawned=(spec,), wait_id="w", child_ids=(child,)
    )
    assert commit(sc, claimed, outcome).status == "failed"
    assert sc.client.exists(keys.task(child)) == 0  # the child was never written
    assert sc.client.hget(keys.task(task_id), "ecode") == b"context_too_large"
