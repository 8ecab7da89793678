"""create_task, claim_turn and commit_turn on a real server (standalone and cluster)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from factorial_aws.core.outcomes import Complete, Continue, ParkTime, Retry
from factorial_aws.core.records import Message
from factorial_aws.errors import IdempotencyConflictError, InvalidInputError
from factorial_aws.store import keys
from factorial_aws.store.base import StoreContext, StoreSettings
from factorial_aws.store.tasks import Claimed, NotClaimed, claim_turn, create_task
from factorial_aws.testing import FakeClock
from tests.store.helpers import Client, claim, commit, dump_all, stale, tree_state, with_context


def test_idempotent_create_replays_and_conflicts(redis_client: Client) -> None:
    sc = StoreContext(redis_client)
    first = create_task(sc, "a", "hello", owner_id="o", idempotency_key="k")
    again = create_task(sc, "a", "hello", owner_id="o", idempotency_key="k")
    assert first.created and not again.created and again.task_id == first.task_id
    other_owner = create_task(sc, "a", "hello", owner_id="p", idempotency_key="k")
    assert other_owner.task_id != first.task_id
    before = tree_state(redis_client)
    with pytest.raises(IdempotencyConflictError):
        create_task(sc, "a", "something else", owner_id="o", idempotency_key="k")
    assert tree_state(redis_client) == before
    assert create_task(sc, "a", "x").task_id != create_task(sc, "a", "x").task_id


def test_bad_input_is_rejected_before_anything_is_written(redis_client: Client) -> None:
    sc = StoreContext(redis_client)
    for bad in ("", "  ", [], [{"role": "tool", "content": "x"}], [{"role": "user"}]):
        with pytest.raises(InvalidInputError):
            create_task(sc, "a", bad)  # type: ignore[arg-type]
    assert dump_all(redis_client) == {}


def test_duplicate_claim_and_duplicate_commit_have_one_effect(redis_client: Client) -> None:
    sc = StoreContext(redis_client)
    task = create_task(sc, "a", "hi")
    results: list[object] = []
    barrier = threading.Barrier(8)

    def racer() -> None:
        barrier.wait()
        results.append(claim_turn(sc, task.task_id, 1))

    threads = [threading.Thread(target=racer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claims = [r for r in results if isinstance(r, Claimed)]
    assert len(claims) == 1
    assert {r.reason for r in results if isinstance(r, NotClaimed)} == {"leased"}
    c = claims[0]
    ctx = with_context(c, messages=[*c.context.messages, Message.user("more")], turn=1)
    done = commit(sc, c, Continue(context=ctx))
    assert done.status == "queued" and done.seq == 2
    stale(sc, c, Continue(context=ctx))  # the same commit again: refused, nothing written
    assert int(redis_client.hget(keys.task(task.task_id), "seq")) == 2
    # the old message (seq 1) is stale now; the new one (seq 2) claims
    old = claim_turn(sc, task.task_id, 1)
    assert isinstance(old, NotClaimed) and old.reason == "stale" and old.seq == 2
    assert claim(sc, task.task_id, 2).context.messages[-1] == Message.user("more")


def test_commit_with_an_old_fence_after_the_lease_was_reclaimed_is_rejected(
    redis_client: Client,
) -> None:
    clock = FakeClock()
    sc = StoreContext(redis_client, clock=clock, settings=StoreSettings(lease_ms=1000))
    task = create_task(sc, "a", "hi")
    slow = claim(sc, task.task_id, 1)
    assert isinstance(claim_turn(sc, task.task_id, 1), NotClaimed)  # lease alive
    clock.advance(2)
    fresh = claim(sc, task.task_id, 1)  # redelivered message after the lease lapsed
    assert fresh.reclaimed and fresh.fence == slow.fence + 1
    before = tree_state(redis_client)
    stale(sc, slow, Complete(context=with_context(slow, turn=1), output="late"))
    assert tree_state(redis_client) == before
    commit(sc, fresh, Complete(context=with_context(fresh, turn=1), output="ok"))
    assert redis_client.hget(keys.task(task.task_id), "output") == b'"ok"'


def test_retry_and_park_time_record_their_times(redis_client: Client) -> None:
    clock = FakeClock()
    sc = StoreContext(redis_client, clock=clock)
    task = create_task(sc, "a", "hi")
    c = claim(sc, task.task_id, 1)
    r = commit(sc, c, Retry(context=c.context, code="model_unavailable", message="429", delay_s=4))
    assert r.status == "queued" and r.seq == 2
    queued_at = int(redis_client.hget(keys.task(task.task_id), "queued_at"))
    assert queued_at == int(clock.now().timestamp() * 1000) + 4000
    c2 = claim(sc, task.task_id, 2)
    wake_at = clock.now() + timedelta(minutes=30)
    parked = commit(sc, c2, ParkTime(context=c2.context, wait_id="w1", wake_at=wake_at))
    assert parked.status == "waiting_time" and parked.seq == 2
    fields = redis_client.hgetall(keys.task(task.task_id))
    assert fields[b"wait"] == b"w1"
    assert int(fields[b"wake_at"]) == int(wake_at.timestamp() * 1000)
    shard = keys.shard_of(task.task_id)
    due = redis_client.zrange(keys.due_index(shard), 0, -1, withscores=True)
    assert due == [(f"{task.task_id} w1".encode(), float(int(wake_at.timestamp() * 1000)))]


def test_a_replayed_create_keeps_the_task_s_place_in_its_owner_s_list(redis_client: Client) -> None:
    clock = FakeClock()
    sc = StoreContext(redis_client, clock=clock)
    first = create_task(sc, "a", "hello", owner_id="o", idempotency_key="k")
    score = redis_client.zscore(keys.owner_index("o"), first.task_id)
    clock.advance(60)
    create_task(sc, "a", "hello", owner_id="o", idempotency_key="k")
    assert redis_client.zscore(keys.owner_index("o"), first.task_id) == score
