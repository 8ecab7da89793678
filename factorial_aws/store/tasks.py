"""Task transitions: create a task, claim a turn, commit what the turn decided.

One round trip each (index entries are pipelined in front of the script). Returns ``core``
records and the small result types below; no Redis type leaves this module.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from factorial_aws.core import ids
from factorial_aws.core.codec import decode as decode_record
from factorial_aws.core.codec import encode
from factorial_aws.core.records import (
    TaskContext,
    TaskInput,
    TurnInput,
    check_text,
    initial_messages,
)
from factorial_aws.errors import ContextTooLargeError, IdempotencyConflictError
from factorial_aws.store import keys
from factorial_aws.store.inbox import parse_inbox
from factorial_aws.store.scripts import IndexWrite

if TYPE_CHECKING:
    from factorial_aws.store.base import StoreContext


@dataclass(frozen=True)
class Created:
    """A created (or replayed) task: send a turn message with ``seq`` when ``created``."""

    task_id: str
    status: str
    created: bool
    seq: int = 1


@dataclass(frozen=True)
class Claimed:
    """A claimed turn: the lease is ours until commit, guarded by ``fence``."""

    task_id: str
    seq: int
    fence: int
    context: TaskContext
    turn_input: TurnInput
    inbox_len: int
    agent: str
    owner: str | None
    parent: str | None
    reclaimed: bool


@dataclass(frozen=True)
class NotClaimed:
    """Why a turn message does no work: leased, stale, not_runnable, finished or not_found."""

    task_id: str
    reason: str
    status: str | None = None
    seq: int | None = None
    queued_at_ms: int | None = None


@dataclass(frozen=True)
class Committed:
    """The state after a commit. ``status == "queued"``: send a turn message with ``seq``."""

    task_id: str
    status: str
    seq: int
    created_children: tuple[str, ...] = ()
    parent_id: str | None = None
    parent_seq: int = 0


@dataclass(frozen=True)
class StaleCommit:
    """The commit was refused (the lease was taken over): nothing was written."""

    task_id: str
    status: str | None


def _per_task_keys(task_id: str) -> list[str]:
    return [
        *keys.task_keys(task_id),
        keys.task_hooks(task_id),
        keys.kids(task_id),
        keys.join(task_id),
    ]


def dispatch_intent(
    sc: StoreContext, task_id: str, seq: int | str = "*", delay_ms: int = 0
) -> IndexWrite:
    """The dispatch-index entry that lets the sweep re-send a turn message that was lost:
    ``seq`` is the turn message's sequence, ``"*"`` whatever the task's current one is."""
    shard = keys.shard_of(ids.root_of(task_id))
    score = sc.now_ms() + delay_ms + sc.settings.dispatch_grace_ms
    return IndexWrite(keys.dispatch_index(shard), score, f"{task_id} {seq}")


def create_task(
    sc: StoreContext,
    agent: str,
    task_input: TaskInput,
    *,
    owner_id: str | None = None,
    idempotency_key: str | None = None,
) -> Created:
    """Create a root task as ``queued`` (seq 1).

    With an idempotency key the task id is derived from (owner, key): the same request returns the
    same task; a different request with the same key raises :class:`IdempotencyConflictError`.
    """
    messages = initial_messages(task_input)
    owner = owner_id or ""
    check_text(owner, "owner_id")
    if idempotency_key:
        check_text(idempotency_key, "idempotency key")
    task_id = (
        ids.idempotent_root_task_id(owner, idempotency_key)
        if idempotency_key
        else ids.new_root_task_id()
    )
    request = json.dumps({"agent": agent, "input": task_input, "owner": owner}, sort_keys=True)
    ctx = TaskContext(task_id=task_id, agent=agent, owner_id=owner_id, messages=messages)
    ctx_json = encode(ctx)
    if len(ctx_json) > sc.settings.max_context_bytes:
        raise ContextTooLargeError(
            f"input is {len(ctx_json)} bytes as a task context, over the cap of "
            f"{sc.settings.max_context_bytes}"
        )
    task_keys = [*_per_task_keys(task_id), keys.registry(task_id), keys.kids(task_id)]
    index = [dispatch_intent(sc, task_id, 1)]
    if owner:
        index.append(IndexWrite(keys.owner_index(owner), sc.now_ms(), task_id, keep_first=True))
    args: list[str | int | bytes] = [
        sc.now_arg(),
        task_id,
        agent,
        owner,
        "",
        task_id,
        ctx_json,
        hashlib.sha256(request.encode()).hexdigest(),
        idempotency_key or "",
    ]
    res = sc.scripts.call_indexed("create_task", task_keys, args, index)
    if res[0] == "conflict":
        raise IdempotencyConflictError(
            f"idempotency key {idempotency_key!r} was used with a different request"
        )
    return Created(
        task_id=task_id,
        status=res[1] if res[0] == "replay" else "queued",
        created=res[0] == "created",
    )


def claim_turn(sc: StoreContext, task_id: str, seq: int) -> Claimed | NotClaimed:
    """Take the lease of a runnable task for the turn message carrying ``seq``."""
    if not ids.is_valid_id(task_id):
        return NotClaimed(task_id, "not_found")
    res = sc.scripts.call(
        "claim_turn", keys.task_keys(task_id), [sc.now_arg(), seq, sc.settings.lease_ms]
    )
    if res[0] != "claimed":
        return NotClaimed(
            task_id,
            res[0],
            status=res[1] if len(res) > 1 and res[0] != "leased" else None,
            seq=int(res[2]) if res[0] == "stale" else None,
            queued_at_ms=int(res[3]) if res[0] == "stale" else None,
        )
    _, fence, ctx_json, inbox_len, items, agent, owner, parent, _turn, reclaimed = res
    return Claimed(
        task_id=task_id,
        seq=seq,
        fence=int(fence),
        context=decode_record(TaskContext, ctx_json),
        turn_input=parse_inbox(items),
        inbox_len=int(inbox_len),
        agent=agent,
        owner=owner or None,
        parent=parent or None,
        reclaimed=bool(reclaimed),
    )
