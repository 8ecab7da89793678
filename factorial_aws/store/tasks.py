"""Task transitions: create a task, claim a turn (and renew its lease), commit what it decided.

One round trip each (index entries are pipelined in front of the script). Returns ``core``
records and the small result types below; no Redis type leaves this module.

The dispatch index holds **one entry per task** (member: the task id), moved by every transition
in the same pipeline as its script: while the task is ``queued`` it is scored at the time its turn
message should have been consumed; while it is ``running``, at its lease expiry (+
``LEASE_SLACK_MS``, with a ``.5`` fraction that marks a lease entry); a commit that parks or ends
the task removes it. So the sweep finds a task exactly when a message was lost or a lease lapsed,
and nothing is left for it to clean up after a normal turn (docs/store.md, "The dispatch index").
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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
from factorial_aws.store.scripts import ANY_LEASE, IndexMove, IndexWrite

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


#: A lease entry is due this long after the lease it stands for (the index is scored with the
#: worker's clock, the lease with the server's): the sweep then finds the lease lapsed.
LEASE_SLACK_MS = 1000


def dispatch_key(task_id: str) -> str:
    """The dispatch index shard of ``task_id``'s tree."""
    return keys.dispatch_index(keys.shard_of(ids.root_of(task_id)))


def dispatch_intent(sc: StoreContext, task_id: str, *, delay_ms: int = 0) -> IndexWrite:
    """The task's dispatch-index entry, scored for a task that is (or may have become) queued:
    when its turn message should have been consumed. It replaces the task's entry (one per task,
    whatever the seq: the sweep reads the current one). The task's next transition moves or
    removes it; the sweep re-sends the turn only when it is still there when due."""
    score = sc.now_ms() + delay_ms + sc.settings.dispatch_grace_ms
    return IndexWrite(dispatch_key(task_id), score, task_id)


def lease_score(lease_expiry_ms: int) -> float:
    """The dispatch-index score of a running task whose lease expires at ``lease_expiry_ms``:
    due just after it, with the ``.5`` fraction that marks a lease entry."""
    return lease_expiry_ms + LEASE_SLACK_MS + 0.5


def lease_entry(sc: StoreContext, task_id: str) -> IndexWrite:
    """The entry of a task being claimed now (or renewed now): due when the lease lapses."""
    return IndexWrite(
        dispatch_key(task_id), lease_score(sc.now_ms() + sc.settings.lease_ms), task_id
    )


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
    task_keys = [*keys.task_key_set(task_id), keys.registry(task_id), keys.kids(task_id)]
    index = [dispatch_intent(sc, task_id)]
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
    """Take the lease of a runnable task for the turn message carrying ``seq``.

    The task's dispatch-index entry is moved to the lease expiry in the same round trip, so a
    worker that dies holding the lease is found by the sweep once it lapses. A message that does
    not claim (a duplicate, a stale seq) puts the entry back where the task's state needs it: one
    more round trip, on that abnormal path only.
    """
    if not ids.is_valid_id(task_id):
        return NotClaimed(task_id, "not_found")
    entry = lease_entry(sc, task_id)
    res = sc.scripts.call_indexed(
        "claim_turn", keys.task_keys(task_id), [sc.now_arg(), seq, sc.settings.lease_ms], [entry]
    )
    if res[0] != "claimed":
        claim = NotClaimed(
            task_id,
            res[0],
            status=res[1] if len(res) > 1 and res[0] != "leased" else None,
            seq=int(res[2]) if res[0] == "stale" else None,
            queued_at_ms=int(res[3]) if res[0] == "stale" else None,
        )
        _put_back(sc, claim, entry, res)
        return claim
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


def _put_back(sc: StoreContext, claim: NotClaimed, entry: IndexWrite, res: list[Any]) -> None:
    """After a claim that did not take the lease, leave the task's entry as its state needs it
    (only if it is still the one this claim wrote): at the live lease of a running task, at the
    due time of a queued one, and gone for a parked, finished or missing task."""
    lease = 0
    if claim.reason == "leased":
        lease = int(res[1])
    elif claim.reason == "stale" and claim.status == "running" and len(res) > 4:
        lease = int(res[4])
    if lease:
        new: float | None = lease_score(lease)
    elif claim.reason == "stale" and claim.status == "queued":
        new = (claim.queued_at_ms or sc.now_ms()) + sc.settings.dispatch_grace_ms
    else:
        new = None
    moved = sc.scripts.move(IndexMove(entry.key, entry.member, entry.score, new))
    if moved == "absent" and new is not None:  # the claim's own index write was lost
        sc.client.zadd(entry.key, {entry.member: new}, nx=True)


def renew_lease(sc: StoreContext, claim: Claimed) -> int | None:
    """Extend the lease of a turn still running (a heartbeat), and move its dispatch-index entry
    with it, in one round trip.

    Returns:
        The new lease expiry (ms), or ``None`` when the lease was lost (reclaimed after it
        lapsed, or the task was cancelled): the turn's commit will be refused.
    """
    entry = lease_entry(sc, claim.task_id)
    move = IndexMove(entry.key, entry.member, ANY_LEASE, entry.score)
    res = sc.scripts.call_indexed(
        "renew_lease",
        [keys.task(claim.task_id)],
        [sc.now_arg(), claim.fence, sc.settings.lease_ms],
        [move],
    )
    return int(res[1]) if res[0] == "renewed" else None
