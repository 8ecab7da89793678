"""Shared helpers for store tests: a store context and a dump of every key."""

from __future__ import annotations

from typing import Any

import redis
from redis.cluster import RedisCluster

from factorial_aws.core.outcomes import TurnOutcome
from factorial_aws.core.records import TaskContext
from factorial_aws.store.base import StoreContext
from factorial_aws.store.commit import commit_turn
from factorial_aws.store.tasks import Claimed, Committed, StaleCommit, claim_turn

Client = redis.Redis | RedisCluster


def dump_all(client: Client) -> dict[str, Any]:
    """Every key and its value (streams without their generated ids' times), for before/after."""
    out: dict[str, Any] = {}
    for raw in client.scan_iter(match="*", count=1000):
        key = raw.decode()
        kind = client.type(raw).decode()
        if kind == "hash":
            out[key] = client.hgetall(raw)
        elif kind == "string":
            out[key] = client.get(raw)
        elif kind == "list":
            out[key] = client.lrange(raw, 0, -1)
        elif kind == "set":
            out[key] = sorted(client.smembers(raw))
        elif kind == "zset":
            out[key] = client.zrange(raw, 0, -1, withscores=True)
        elif kind == "stream":
            out[key] = [fields for _, fields in client.xrange(raw)]
    return out


def tree_state(client: Client) -> dict[str, Any]:
    """Every key of every task tree (global index entries excluded: they may be written ahead)."""
    return {k: v for k, v in dump_all(client).items() if ":{ix:" not in k}


def claim(sc: StoreContext, task_id: str, seq: int) -> Claimed:
    c = claim_turn(sc, task_id, seq)
    assert isinstance(c, Claimed), c
    return c


def commit(sc: StoreContext, claimed: Claimed, outcome: TurnOutcome) -> Committed:
    res = commit_turn(sc, claimed, outcome)
    assert isinstance(res, Committed), res
    return res


def stale(sc: StoreContext, claimed: Claimed, outcome: TurnOutcome) -> StaleCommit:
    res = commit_turn(sc, claimed, outcome)
    assert isinstance(res, StaleCommit), res
    return res


def with_context(claimed: Claimed, **changes: Any) -> TaskContext:
    return claimed.context.model_copy(update=changes)
