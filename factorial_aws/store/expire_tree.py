"""``expire_tree``: the TTL of an ended tree's keys (lua/expire_tree.lua)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from factorial_aws.errors import StoreUnavailableError
from factorial_aws.store import keys
from factorial_aws.store.transition import ATTEMPTS, call, check_task_id, read, text

if TYPE_CHECKING:
    from collections.abc import Iterable

    from factorial_aws.store.base import StoreContext
    from factorial_aws.store.scripts import Arg


def expire_tree(sc: StoreContext, root_id: str) -> bool:
    """Set the tree TTL (``settings.tree_ttl_s``) on every key of an ended tree.

    Returns:
        True when the TTL was set; False when some task of the tree has not ended yet.

    Raises:
        TaskNotFoundError: the tree has no key (never existed, or already expired).
        StoreUnavailableError: the tree kept growing under ``ATTEMPTS`` reads (retryable).
    """
    check_task_id(root_id)
    registry = keys.registry(root_id)
    for _ in range(ATTEMPTS):
        (members,) = read(sc, lambda p: p.smembers(registry))
        ks, args = expire_tree_call(sc, root_id, members)
        res = call(sc, "expire_tree", root_id, ks, args)
        if res[0] != "retry":
            return bool(res[0] == "expiring")
    raise StoreUnavailableError(f"expire_tree on {root_id}: the tree kept growing")


def expire_tree_call(
    sc: StoreContext, root_id: str, members: Iterable[Any]
) -> tuple[list[str], list[Arg]]:
    """KEYS and ARGV (after now_ms) of expire_tree.lua for the registry members read."""
    full = sorted(keys.from_registry_member(root_id, text(m)) for m in members)
    found = {k: keys.task_id_of(k) for k in full}
    task_keys = [k for k, t in found.items() if t is not None]
    task_ids: list[Arg] = [t for t in found.values() if t is not None]
    others = [k for k, t in found.items() if t is None]
    listed = set(full)
    parts = sorted({k for t in task_ids for k in keys.task_key_set(str(t))[1:] if k not in listed})
    args: list[Arg] = [sc.settings.tree_ttl_s, len(found), len(task_ids), *task_ids, len(parts)]
    return [keys.registry(root_id), *task_keys, *others, *parts], args
