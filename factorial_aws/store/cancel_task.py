"""``cancel_task``: cancel a task and its subtree (lua/cancel_task.lua)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from factorial_aws.core import ids
from factorial_aws.errors import StateCorruptedError, StoreUnavailableError, TaskFinishedError
from factorial_aws.store import keys
from factorial_aws.store.scripts import IndexWrite
from factorial_aws.store.tasks import dispatch_intent, dispatch_key
from factorial_aws.store.transition import ATTEMPTS, call, check_task_id, read

if TYPE_CHECKING:
    from collections.abc import Sequence

    from factorial_aws.store.base import StoreContext
    from factorial_aws.store.scripts import Arg

log = logging.getLogger("factorial_aws.store")


@dataclass(frozen=True)
class CancelResult:
    """The tasks cancelled (the target first), and the parent's new seq when it was woken (or 0)."""

    cancelled: tuple[str, ...]
    parent_seq: int


@dataclass(frozen=True)
class _Subtree:
    parent: str  # the target's parent, "" for a root
    tasks: tuple[str, ...]  # the target first, parents before children
    hooks: tuple[tuple[str, ...], ...]  # each task's hook ids
    kid_counts: tuple[int, ...]


def _subtree(sc: StoreContext, task_id: str, cascade: bool) -> _Subtree:
    """Read the subtree level by level (one pipelined round trip per level)."""
    (parent,) = read(sc, lambda p: p.hget(keys.task(task_id), "parent"))
    tasks: list[str] = []
    hooks: list[tuple[str, ...]] = []
    kid_counts: list[int] = []
    level = [task_id]
    while level:
        batch = level

        def build(p: Any, batch: list[str] = batch) -> None:
            for t in batch:
                p.smembers(keys.kids(t))
                p.smembers(keys.task_hooks(t))

        sets = read(sc, build)
        level = []
        for t, kids, hs in zip(batch, sets[0::2], sets[1::2], strict=True):
            tasks.append(t)
            hooks.append(tuple(sorted(hs)))
            kid_counts.append(len(kids))
            level += sorted(kids) if cascade else []
    return _Subtree(parent or "", tuple(tasks), tuple(hooks), tuple(kid_counts))


def _cancel_call(
    sub: _Subtree, task_id: str, reason: str, cascade: bool
) -> tuple[list[str], list[Arg]]:
    """KEYS and ARGV (after now_ms) of cancel_task.lua for a subtree read."""
    up = sub.parent or task_id
    ks = [keys.task(up), keys.join(up), keys.inbox(up), keys.events(up)]
    for t in sub.tasks:
        ks += [keys.task(t), keys.inbox(t), keys.events(t)]
        ks += [keys.task_hooks(t), keys.kids(t), keys.join(t)]
    hook_ids = [h for hs in sub.hooks for h in hs]
    ks += [keys.hook(h) for h in hook_ids]
    counts = [c for kc, hs in zip(sub.kid_counts, sub.hooks, strict=True) for c in (kc, len(hs))]
    policy = "cascade" if cascade else "single"
    args: list[Arg] = [reason, policy, len(sub.tasks), len(hook_ids), *sub.tasks, *hook_ids]
    return ks, [*args, *counts]


def cancel_task(
    sc: StoreContext, task_id: str, reason: str = "cancelled", cascade: bool = True
) -> CancelResult:
    """Cancel a task and (``cascade``) its unfinished descendants and their requested hooks.

    The cancelled task is reported to its parent's join, which may wake the parent.

    Raises:
        TaskNotFoundError: no such task.
        TaskFinishedError: the task had already ended (nothing was written).
        StoreUnavailableError: the subtree kept changing under ``ATTEMPTS`` reads (retryable).
    """
    check_task_id(task_id)
    for _ in range(ATTEMPTS):
        sub = _subtree(sc, task_id, cascade)
        ks, args = _cancel_call(sub, task_id, reason, cascade)
        root = ids.root_of(task_id)  # a cancelled tree must expire like a finished one
        index = [IndexWrite(keys.gc_index(keys.shard_of(root)), sc.now_ms(), root)]
        if sub.parent:  # the cancel may complete the parent's join: its turn must not be lost
            index.append(dispatch_intent(sc, sub.parent))
        res = call(sc, "cancel_task", task_id, ks, args, index)
        if res[0] == "finished":
            raise TaskFinishedError(f"task {task_id} is {res[1]}")
        if res[0] == "cancelled":
            _forget_dispatch(sc, res[1])
            return CancelResult(cancelled=tuple(res[1]), parent_seq=int(res[2]))
        if res[0] != "retry":
            raise StateCorruptedError(f"cancel_task on {task_id}: {res[0]}")
    raise StoreUnavailableError(f"cancel_task on {task_id}: the subtree kept changing")


def _forget_dispatch(sc: StoreContext, task_ids: Sequence[str]) -> None:
    """Remove the dispatch entries of cancelled tasks (a cancelled task never runs again). One
    pipelined round trip; if it fails, the sweep drops the entries when they come due."""
    pipe = sc.client.pipeline(transaction=False)
    for task_id in task_ids:
        pipe.zrem(dispatch_key(task_id), task_id)
    try:
        pipe.execute()
    except (RedisConnectionError, RedisTimeoutError) as exc:
        log.warning("cancelled %s; its dispatch entries are left to the sweep: %s", task_ids, exc)
