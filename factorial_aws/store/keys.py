"""Every Redis key of the project is built here, and nowhere else.

Per-tree keys share the hash tag ``{<root task id>}`` so that every script touches one cluster slot.
Global indexes are split into ``SHARDS`` shard keys with their own tags. docs/store.md lists each
key's type and fields.
"""

from __future__ import annotations

import zlib

from factorial_aws.core.ids import is_valid_id, root_of

SHARDS = 16
PREFIX = "fa"


def tag(any_id: str) -> str:
    """The hash tag of the tree ``any_id`` belongs to."""
    return "{" + root_of(any_id) + "}"


def task(task_id: str) -> str:
    """The task hash."""
    return f"{PREFIX}:{tag(task_id)}:t:{task_id}"


def ctx(task_id: str) -> str:
    """The encoded TaskContext string."""
    return f"{PREFIX}:{tag(task_id)}:ctx:{task_id}"


def inbox(task_id: str) -> str:
    """The inbox list."""
    return f"{PREFIX}:{tag(task_id)}:in:{task_id}"


def events(task_id: str) -> str:
    """The capped event list (JSON entries with increasing ids)."""
    return f"{PREFIX}:{tag(task_id)}:ev:{task_id}"


def hook(hook_id: str) -> str:
    """A hook hash."""
    return f"{PREFIX}:{tag(hook_id)}:h:{hook_id}"


def task_hooks(task_id: str) -> str:
    """The set of a task's hook ids."""
    return f"{PREFIX}:{tag(task_id)}:hs:{task_id}"


def kids(task_id: str) -> str:
    """The set of a task's child task ids."""
    return f"{PREFIX}:{tag(task_id)}:kids:{task_id}"


def join(task_id: str) -> str:
    """The join hash: child id -> JSON outcome."""
    return f"{PREFIX}:{tag(task_id)}:j:{task_id}"


def registry(any_id: str) -> str:
    """The set of every key of the tree (for TTL cleanup), as members relative to the tree's
    prefix (``t:<id>``, ``h:<id>``; the Lua helper ``registry_member`` strips it).
    A task's member ``t:<id>`` stands for all its keys (:func:`task_key_set`)."""
    return f"{PREFIX}:{tag(any_id)}:keys"


def from_registry_member(any_id: str, member: str) -> str:
    """The full key of a registry member of the tree ``any_id`` belongs to."""
    return f"{PREFIX}:{tag(any_id)}:{member}"


def task_id_of(key: str) -> str | None:
    """The task id when ``key`` is a task hash (as built by :func:`task`), else ``None``."""
    _, sep, task_id = key.rpartition(":t:")
    if not sep or not is_valid_id(task_id):
        return None
    return task_id if key == task(task_id) else None


def task_key_set(task_id: str) -> list[str]:
    """Every key of one task (its hash first): the registry's ``t:<id>`` member stands for all."""
    return [*task_keys(task_id), task_hooks(task_id), kids(task_id), join(task_id)]


def task_pattern() -> str:
    """A ``SCAN MATCH`` pattern that finds every task hash (and a few other keys: filter the
    matches with :func:`task_id_of`)."""
    return f"{PREFIX}:*:t:*"


def task_keys(task_id: str) -> list[str]:
    """The per-task keys, in the order scripts take them: task, ctx, inbox, events."""
    return [task(task_id), ctx(task_id), inbox(task_id), events(task_id)]


# --- global indexes (one single-key ZADD each, never inside a per-tree script) ---


def shard_of(name: str) -> int:
    """The shard of a root id or owner id."""
    return zlib.crc32(name.encode()) % SHARDS


def _index(shard: int, name: str) -> str:
    return f"{PREFIX}:{{ix:{shard}}}:{name}"


def due_index(shard: int) -> str:
    """Waits by wake time."""
    return _index(shard, "due")


def expiry_index(shard: int) -> str:
    """Requested hooks by expiry."""
    return _index(shard, "exp")


def dispatch_index(shard: int) -> str:
    """Dispatched turn messages by when they should have been consumed."""
    return _index(shard, "disp")


def gc_index(shard: int) -> str:
    """Trees to try to expire."""
    return _index(shard, "gc")


def owner_index(owner: str) -> str:
    """An owner's tasks by creation time."""
    return _index(shard_of(owner), f"own:{owner}")


def all_indexes() -> list[str]:
    """Every shard key of the time-ordered indexes (for the maintenance sweep)."""
    kinds = (due_index, expiry_index, dispatch_index, gc_index)
    return [f(s) for s in range(SHARDS) for f in kinds]


# --- webhook routing: one slot per source (hash tag ``{wh:<source>}``) ---


def _wh(source: str) -> str:
    return f"{PREFIX}:{{wh:{source}}}"


def webhook_shapes(source: str) -> str:
    """ZSET: the JSON list of sorted match paths of open hooks -> latest expiry (ms) among them."""
    return f"{_wh(source)}:shapes"


def webhook_match(source: str, digest: str) -> str:
    """ZSET: hook id -> expiry (ms), for the open hooks of ``source`` waiting on the match whose
    digest (``webhooks.match.match_digest``) is ``digest``."""
    return f"{_wh(source)}:m:{digest}"


def webhook_early(source: str) -> str:
    """ZSET: early event id -> when it is dropped (ms): verified events that matched nothing."""
    return f"{_wh(source)}:early"


def webhook_early_events(source: str) -> str:
    """HASH: early event id -> JSON ``{"event", "delivery"}``."""
    return f"{_wh(source)}:early:ev"


def webhook_delivery(source: str, delivery_digest: str) -> str:
    """STRING: the JSON list of hook ids a delivery resolved (for idempotent replays)."""
    return f"{_wh(source)}:dlv:{delivery_digest}"


def webhook_keys(source: str) -> list[str]:
    """The fixed keys of a source's routing (shapes, early, early events), in script order."""
    return [webhook_shapes(source), webhook_early(source), webhook_early_events(source)]
