"""Control transitions from outside a turn: wake, steer, cancel, reclaim, expire.

One script call each (docs/store.md, and each ``lua/<name>.lua`` header for KEYS/ARGV). A script
that must touch a whole subtree or tree (``cancel_task``, ``expire_tree``) is given every key up
front: the wrapper reads the subtree first, and the script returns ``retry`` without writing when
it changed meanwhile; the wrapper then reads again (at most ``ATTEMPTS`` times).

Results are small frozen dataclasses or ints; ``not_found`` raises :class:`TaskNotFoundError`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from factorial_aws.core import ids
from factorial_aws.core.records import check_text
from factorial_aws.errors import (
    ContextTooLargeError,
    StateCorruptedError,
    StoreUnavailableError,
    TaskFinishedError,
    TaskNotFoundError,
)
from factorial_aws.store import keys
from factorial_aws.store.base import to_ms
from factorial_aws.store.inbox import from_ms
from factorial_aws.store.scripts import IndexMove, IndexWrite, decode
from factorial_aws.store.tasks import dispatch_intent, dispatch_key, lease_score

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from datetime import datetime

    from factorial_aws.store.base import StoreContext
    from factorial_aws.store.scripts import Arg

ATTEMPTS = 5
_PARKED_OR_ENDED = frozenset(
    {"waiting_hook", "waiting_time", "waiting_children", "completed", "failed", "cancelled"}
)
log = logging.getLogger("factorial_aws.store")


@dataclass(frozen=True)
class WakeResult:
    """``woke``: the task was made queued; send a turn message with ``seq``. ``early_until``:
    the wake came before the wait's time; send it again for then. Otherwise it was stale."""

    woke: bool
    seq: int
    early_until: datetime | None = None


@dataclass(frozen=True)
class CancelResult:
    """The tasks cancelled (the target first), and the parent's new seq when it was woken (or 0)."""

    cancelled: tuple[str, ...]
    parent_seq: int


def _check_id(task_id: str) -> None:
    if not ids.is_valid_id(task_id):
        raise TaskNotFoundError(f"no task {task_id!r}")


def _call(
    sc: StoreContext,
    name: str,
    task_id: str,
    ks: list[str],
    args: list[Arg],
    index: Sequence[IndexWrite] = (),
) -> list[Any]:
    res = sc.scripts.call_indexed(name, ks, [sc.now_arg(), *args], index)
    if res[0] == "not_found":
        raise TaskNotFoundError(f"no task {task_id!r}")
    return res


def _text(value: Any) -> Any:
    if isinstance(value, set):
        return {decode(v) for v in value}
    return decode(value)


def _read(sc: StoreContext, build: Callable[[Any], object]) -> list[Any]:
    """One pipelined round trip of reads (one slot: a tree's keys); replies decoded to str."""
    pipe = sc.client.pipeline(transaction=False)
    build(pipe)
    try:
        return [_text(r) for r in pipe.execute()]
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise StoreUnavailableError(f"read: {exc}") from exc


def wake_task(sc: StoreContext, task_id: str, wait_id: str, fired_at: datetime) -> WakeResult:
    """Wake a task parked on the time wait ``wait_id``; any other wake is stale and does nothing."""
    _check_id(task_id)
    ks = [keys.task(task_id), keys.inbox(task_id), keys.events(task_id)]
    # the task's dispatch entry first: if the caller dies before sending the turn, the sweep
    # sends it. A wake that did not wake (early, or stale for a parked or ended task) takes it
    # back, if it is still the one written here.
    intent = dispatch_intent(sc, task_id)
    res = _call(sc, "wake_task", task_id, ks, [wait_id, to_ms(fired_at)], [intent])
    if res[0] == "woke":
        return WakeResult(woke=True, seq=int(res[1]))
    if res[0] == "early" or res[1] in _PARKED_OR_ENDED:
        sc.scripts.move(IndexMove(intent.key, intent.member, intent.score))
    if res[0] == "early":
        return WakeResult(False, 0, early_until=from_ms(res[1]))
    return WakeResult(False, 0)


def steer_task(sc: StoreContext, task_id: str, text: str) -> None:
    """Push a steering message, delivered at the task's next turn (a parked task is not woken).

    Raises:
        TaskNotFoundError: no such task.
        TaskFinishedError: the task ended.
        ContextTooLargeError: the task's context would pass its cap (nothing written).
    """
    _check_id(task_id)
    check_text(text, "text")
    ks = [keys.task(task_id), keys.inbox(task_id), keys.events(task_id)]
    cap = sc.settings.max_context_bytes
    res = _call(sc, "steer_task", task_id, ks, [text, cap])
    if res[0] == "finished":
        raise TaskFinishedError(f"task {task_id} is {res[1]}")
    if res[0] == "too_large":
        raise ContextTooLargeError(
            f"task {task_id}: this message would take its context to {res[1]} bytes, "
            f"over the cap of {cap}"
        )


def reclaim_lapsed_lease(
    sc: StoreContext, task_id: str, fence: int | None = None, *, force: bool = False
) -> int:
    """Queue again a ``running`` task whose lease lapsed (its turn died).

    Args:
        fence: the fence the caller saw; if the task was claimed again since, nothing happens.
        force: reclaim even a lease that has not lapsed: the caller knows the turn holding it
            died (the dev server at start, on a state dir no other process holds).

    Returns:
        The new seq (send a turn message with it), or 0: live lease, fenced, or not running.
    """
    _check_id(task_id)
    ks = [keys.task(task_id), keys.events(task_id)]
    args: list[Arg] = ["" if fence is None else fence, "force" if force else ""]
    intent = dispatch_intent(sc, task_id)
    res = _call(sc, "reclaim_lapsed_lease", task_id, ks, args, [intent])
    if res[0] == "requeued":
        return int(res[1])
    # put the entry back as the task needs it, if it is still the one written here
    if res[0] == "live":
        sc.scripts.move(
            IndexMove(intent.key, intent.member, intent.score, lease_score(int(res[1])))
        )
    elif res[0] == "not_running" and res[1] in _PARKED_OR_ENDED:
        sc.scripts.move(IndexMove(intent.key, intent.member, intent.score))
    return 0


@dataclass(frozen=True)
class _Subtree:
    parent: str  # the target's parent, "" for a root
    tasks: tuple[str, ...]  # the target first, parents before children
    hooks: tuple[tuple[str, ...], ...]  # each task's hook ids
    kid_counts: tuple[int, ...]


def _subtree(sc: StoreContext, task_id: str, cascade: bool) -> _Subtree:
    """Read the subtree level by level (one pipelined round trip per level)."""
    (parent,) = _read(sc, lambda p: p.hget(keys.task(task_id), "parent"))
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

        sets = _read(sc, build)
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
    _check_id(task_id)
    for _ in range(ATTEMPTS):
        sub = _subtree(sc, task_id, cascade)
        ks, args = _cancel_call(sub, task_id, reason, cascade)
        root = ids.root_of(task_id)  # a cancelled tree must expire like a finished one
        index = [IndexWrite(keys.gc_index(keys.shard_of(root)), sc.now_ms(), root)]
        if sub.parent:  # the cancel may complete the parent's join: its turn must not be lost
            index.append(dispatch_intent(sc, sub.parent))
        res = _call(sc, "cancel_task", task_id, ks, args, index)
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


def expire_tree(sc: StoreContext, root_id: str) -> bool:
    """Set the tree TTL (``settings.tree_ttl_s``) on every key of an ended tree.

    Returns:
        True when the TTL was set; False when some task of the tree has not ended yet.

    Raises:
        TaskNotFoundError: the tree has no key (never existed, or already expired).
        StoreUnavailableError: the tree kept growing under ``ATTEMPTS`` reads (retryable).
    """
    _check_id(root_id)
    registry = keys.registry(root_id)
    for _ in range(ATTEMPTS):
        (members,) = _read(sc, lambda p: p.smembers(registry))
        ks, args = expire_tree_call(sc, root_id, members)
        res = _call(sc, "expire_tree", root_id, ks, args)
        if res[0] != "retry":
            return bool(res[0] == "expiring")
    raise StoreUnavailableError(f"expire_tree on {root_id}: the tree kept growing")


def expire_tree_call(
    sc: StoreContext, root_id: str, members: Iterable[Any]
) -> tuple[list[str], list[Arg]]:
    """KEYS and ARGV (after now_ms) of expire_tree.lua for the registry members read."""
    full = sorted(keys.from_registry_member(root_id, _text(m)) for m in members)
    found = {k: keys.task_id_of(k) for k in full}
    task_keys = [k for k, t in found.items() if t is not None]
    task_ids: list[Arg] = [t for t in found.values() if t is not None]
    others = [k for k, t in found.items() if t is None]
    listed = set(full)
    parts = sorted({k for t in task_ids for k in keys.task_key_set(str(t))[1:] if k not in listed})
    args: list[Arg] = [sc.settings.tree_ttl_s, len(found), len(task_ids), *task_ids, len(parts)]
    return [keys.registry(root_id), *task_keys, *others, *parts], args
