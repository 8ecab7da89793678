"""The maintenance sweep: the safety net behind every wake, expiry and dispatch.

It reads the due part of each global index shard (cost proportional to what is due) and repairs:
time waits whose wake message never came, hooks past their expiry, turn messages that were lost
(a crash between commit and send), leases that lapsed (a worker or the store died mid-turn: the
task's dispatch entry is scored at its lease expiry while it runs), finished trees whose keys
should get their TTL, and expiring trees whose tasks should leave the owner index. Every repair
is a transition that does nothing when it is not needed, so running the sweep twice, or beside
the normal path, is safe.

The dispatch index holds one entry per queued or running task, moved by the task's own
transitions (store/tasks.py), so the sweep reads only what is due: a message that was not consumed
in time, or a lease that lapsed. It never drops the entry of a task that still needs one: a
re-sent turn's entry is moved to a later check (the claim moves it again), a live lease's entry
to the lease's expiry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from factorial_aws.core import ids
from factorial_aws.store import keys
from factorial_aws.store.expire_tree import expire_tree_call
from factorial_aws.store.hooks import expire_hook
from factorial_aws.store.inbox import from_ms
from factorial_aws.store.reclaim_lapsed_lease import reclaim_lapsed_lease
from factorial_aws.store.scripts import IndexMove
from factorial_aws.store.tasks import dispatch_key, lease_score
from factorial_aws.store.views import tree_owners
from factorial_aws.store.wake_task import wake_task

if TYPE_CHECKING:
    from factorial_aws.runtime.dispatch import Dispatcher
    from factorial_aws.store.base import StoreContext

GC_RETRY_MS = 60_000
#: An expiring tree's tasks leave the owner index (``GET /tasks``) this long before its keys
#: expire: the sweep runs every minute, so it has several chances to read the tree's owners.
UNLIST_BEFORE_EXPIRY_MS = 10 * 60 * 1000


@dataclass
class SweepReport:
    """What one sweep did."""

    woke: int = 0
    expired: int = 0
    redispatched: int = 0
    reclaimed: int = 0
    trees_expiring: int = 0
    dropped: int = 0


def _due(sc: StoreContext, key: str, now: int, limit: int) -> list[str]:
    members: list[bytes] = sc.client.zrangebyscore(key, 0, now, start=0, num=limit)  # type: ignore[assignment]
    return [m.decode() for m in members]


def _drop(sc: StoreContext, key: str, member: str) -> None:
    sc.client.zrem(key, member)


def sweep(sc: StoreContext, dispatcher: Dispatcher, limit: int = 1000) -> SweepReport:
    """One pass over every shard's due entries (at most ``limit`` per index and shard)."""
    report = SweepReport()
    now = sc.now_ms()
    for shard in range(keys.SHARDS):
        _wakes(sc, dispatcher, keys.due_index(shard), now, limit, report)
        _expiries(sc, dispatcher, keys.expiry_index(shard), now, limit, report)
        _dispatches(sc, dispatcher, keys.dispatch_index(shard), now, limit, report)
        _trees(sc, keys.gc_index(shard), now, limit, report)
    return report


def _wakes(
    sc: StoreContext, d: Dispatcher, key: str, now: int, limit: int, report: SweepReport
) -> None:
    for member in _due(sc, key, now, limit):
        task_id, _, wait_id = member.partition(" ")
        result = wake_task(sc, task_id, wait_id, from_ms(now))
        if result.woke:
            d.turn(task_id, result.seq)
            report.woke += 1
        _drop(sc, key, member)


def _expiries(
    sc: StoreContext, d: Dispatcher, key: str, now: int, limit: int, report: SweepReport
) -> None:
    for hook_id in _due(sc, key, now, limit):
        result = expire_hook(sc, hook_id)
        if result.expired:
            report.expired += 1
            if result.seq:
                d.turn(result.task_id, result.seq)
        _drop(sc, key, hook_id)


def _dispatches(
    sc: StoreContext, d: Dispatcher, key: str, now: int, limit: int, report: SweepReport
) -> None:
    raw: list[tuple[bytes, float]] = sc.client.zrangebyscore(  # type: ignore[assignment]
        key, 0, now, start=0, num=limit, withscores=True
    )
    for member_bytes, score in raw:
        member = member_bytes.decode()
        task_id = member.partition(" ")[0]
        if task_id != member:  # an entry of the older "<task_id> <seq>" kind
            sc.client.zadd(dispatch_key(task_id), {task_id: now}, nx=True)  # seen next pass
            _drop(sc, key, member)
            continue
        _dispatch_one(sc, d, task_id, score, now, report)


def _dispatch_one(
    sc: StoreContext, d: Dispatcher, task_id: str, score: float, now: int, report: SweepReport
) -> None:
    """A due entry: the task's turn message was not consumed in time, or its lease lapsed."""
    fields = ["status", "seq", "lease", "queued_at", "fence"]
    values: list[bytes | None] = sc.client.hmget(keys.task(task_id), fields)  # type: ignore[assignment]
    status, seq, lease, queued_at, fence = (v.decode() if v else None for v in values)
    key, grace = dispatch_key(task_id), sc.settings.dispatch_grace_ms

    def move(new: float | None) -> None:
        sc.scripts.move(IndexMove(key, task_id, score, new))

    if status == "queued":
        waited = now - int(queued_at or 0)
        if waited < 0:  # a retry still backing off
            move(int(queued_at or 0) + grace)
            return
        d.turn(task_id, int(seq or 0))
        report.redispatched += 1
        # keep it findable: the claim moves the entry; if this message is lost too, look again
        # (later each time, so a long queue backlog is not flooded with duplicates)
        move(now + max(grace, waited))
    elif status == "running":
        if int(lease or 0) > now:  # a live lease is never taken over: look again when it lapses
            move(lease_score(int(lease or 0)))
            return
        new_seq = reclaim_lapsed_lease(sc, task_id, int(fence or 0))
        if new_seq:
            d.turn(task_id, new_seq)
            report.reclaimed += 1
    else:  # parked, ended or gone: a wake that might have happened did not
        move(None)
        report.dropped += 1


def _trees(sc: StoreContext, key: str, now: int, limit: int, report: SweepReport) -> None:
    """Give an ended tree its TTL, and take its tasks out of the owner index shortly before its
    keys go: the gc entry stays for that second look. So ``GET /tasks`` lists a finished task
    about as long as ``GET /tasks/{id}`` shows it, and the index never outlives the tree.

    Batched: a handful of pipelined round trips per shard and pass, however many trees are due
    (a tree's end costs the sweep no round trip of its own)."""
    due = _due(sc, key, now, limit)
    if not due:
        return
    roots = [r for r in due if ids.is_valid_id(r) and ids.root_of(r) == r]
    moves: dict[str, float | None] = {r: None for r in due if r not in roots}  # None: drop
    lefts = _pipelined(sc, [("pttl", keys.registry(r)) for r in roots])
    expiring: dict[str, int] = {}
    for root, left in zip(roots, lefts, strict=True):
        if int(left) >= 0:
            expiring[root] = int(left)
        elif int(left) == -2:  # no registry: gone already (expired, or never written)
            moves[root] = None
    to_expire = [r for r, left in zip(roots, lefts, strict=True) if int(left) == -1]
    _expire_trees(sc, to_expire, now, moves, expiring, report)
    unlist = [r for r, left in expiring.items() if left <= UNLIST_BEFORE_EXPIRY_MS]
    for root, left in expiring.items():
        moves[root] = None if root in unlist else now + left - UNLIST_BEFORE_EXPIRY_MS
    pipe = sc.client.pipeline(transaction=False)
    for owner, task_ids in tree_owners(sc, unlist).items():
        pipe.zrem(keys.owner_index(owner), *task_ids)
    for member, score in moves.items():
        if score is None:
            pipe.zrem(key, member)
        else:
            pipe.zadd(key, {member: score})
    pipe.execute()


def _expire_trees(
    sc: StoreContext,
    roots: list[str],
    now: int,
    moves: dict[str, float | None],
    expiring: dict[str, int],
    report: SweepReport,
) -> None:
    """expire_tree on each of ``roots`` (two pipelined round trips); where each gc entry goes."""
    members = _pipelined(sc, [("smembers", keys.registry(r)) for r in roots])
    calls = [expire_tree_call(sc, r, m) for r, m in zip(roots, members, strict=True)]
    results = sc.scripts.call_many("expire_tree", [(k, [sc.now_arg(), *a]) for k, a in calls])
    for root, res in zip(roots, results, strict=True):
        if res[0] == "expiring":
            report.trees_expiring += 1
            expiring[root] = sc.settings.tree_ttl_s * 1000
        elif res[0] == "busy":  # some task of the tree still runs: look again later
            moves[root] = now + GC_RETRY_MS
        elif res[0] == "retry":  # the tree changed since it was read: next pass
            moves[root] = now
        else:
            moves[root] = None


def _pipelined(sc: StoreContext, reads: list[tuple[str, str]]) -> list[Any]:
    """One pipelined round trip of single-key reads (per cluster node)."""
    if not reads:
        return []
    pipe = sc.client.pipeline(transaction=False)
    for command, key in reads:
        getattr(pipe, command)(key)
    return list(pipe.execute())
