"""``commit_turn``: write what one turn decided, in one script call guarded by the fence.

This module turns a ``TurnOutcome`` into the script's KEYS/ARGV (docs: commit_turn.lua's header)
and the index entries pipelined in front of it: the task's dispatch-index entry moved to its next
due time (continue, retry) or removed (a park or an end: only if it is still the lease entry the
claim wrote; anything that arrived during the turn re-scored it, and then it stays), one for each
spawned child and for a parent a finished child may wake, the wake time of a time wait, the
expiry of each new hook, a GC entry when a task ends, and an owner-index entry for each spawned
child of an owned task (children inherit the owner). The expiry entries of the hooks whose
outcome the turn consumed, and the due entry of a time wait it woke from, are removed in the same
pipeline: the sweep never has to find them.
"""

from __future__ import annotations

import json
from typing import Any

from factorial_aws.core import ids
from factorial_aws.core.codec import encode
from factorial_aws.core.outcomes import (
    Complete,
    Fail,
    ParkChildren,
    ParkHooks,
    ParkTime,
    Retry,
    TurnOutcome,
)
from factorial_aws.core.records import (
    ChildSpec,
    HookRequest,
    TaskContext,
    TaskEvent,
    initial_messages,
)
from factorial_aws.errors import ContextTooLargeError, StateCorruptedError
from factorial_aws.store import keys
from factorial_aws.store.base import StoreContext, to_ms
from factorial_aws.store.scripts import ANY_LEASE, IndexDrop, IndexMove, IndexOp, IndexWrite
from factorial_aws.store.tasks import (
    Claimed,
    Committed,
    StaleCommit,
    dispatch_intent,
    dispatch_key,
)


def _hook_fields(req: HookRequest) -> dict[str, str]:
    # no schema: the hook's type (its code ends the hook id) is in the App wherever the hook is
    # described or resolved, so a stored copy of its JSON Schema would only cost bytes
    return {
        "hook_id": req.hook_id,
        "task": req.task_id,
        "session": req.session_id,
        "tool_call": req.tool_call_id,
        "tool": req.tool_name,
        "param": req.param,
        "mode": req.mode.value,
        "type": req.hook_type,
        "title": req.title,
        "body": req.body,
        "channel": req.channel or "",
        "meta": json.dumps(req.metadata, separators=(",", ":"), default=str),
        "exp": str(to_ms(req.expires_at)),
        "th": req.token_hash,
        "tv": str(req.token_version),
        "src": req.source or "",
        "match": json.dumps(req.match, separators=(",", ":")) if req.match else "",
    }


def _child_fields(claimed: Claimed, child: ChildSpec) -> dict[str, str]:
    ctx = TaskContext(
        task_id=child.task_id,
        agent=child.agent,
        owner_id=claimed.owner,
        messages=initial_messages(child.input),
    )
    return {
        "task_id": child.task_id,
        "agent": child.agent,
        "owner": claimed.owner or "",
        "root": ids.root_of(child.task_id),
        "ctx": encode(ctx).decode(),
    }


def _detail(outcome: TurnOutcome) -> str:
    detail: dict[str, Any] = {}
    if isinstance(outcome, Complete):
        return json.dumps(outcome.output, separators=(",", ":"), default=str)
    if isinstance(outcome, Retry):
        detail = {
            "delay_ms": int(outcome.delay_s * 1000),
            "code": outcome.code,
            "message": outcome.message,
        }
    elif isinstance(outcome, Fail):
        detail = {"code": outcome.code, "message": outcome.message}
    elif isinstance(outcome, ParkTime):
        detail = {"wait_id": outcome.wait_id, "wake_at": str(to_ms(outcome.wake_at))}
    elif isinstance(outcome, ParkChildren):
        detail = {
            "wait_id": outcome.wait_id,
            "join": str(outcome.join),
            "kids": list(outcome.child_ids),
        }
    return json.dumps(detail, separators=(",", ":"))


def _index(sc: StoreContext, claimed: Claimed, outcome: TurnOutcome) -> list[IndexOp]:
    task_id, shard = claimed.task_id, keys.shard_of(ids.root_of(claimed.task_id))
    index: list[IndexOp] = []
    if outcome.kind in ("continue", "retry"):
        delay = int(outcome.delay_s * 1000) if isinstance(outcome, Retry) else 0
        index.append(dispatch_intent(sc, task_id, delay_ms=delay))
    else:
        index.append(IndexMove(dispatch_key(task_id), task_id, ANY_LEASE))
    consumed = claimed.turn_input
    index += [IndexDrop(keys.expiry_index(shard), u.hook_id) for u in consumed.hook_updates]
    index += [
        IndexDrop(keys.due_index(shard), f"{task_id} {w.wait_id}")
        for w in consumed.wakes
        if not w.children
    ]
    index += [dispatch_intent(sc, c.task_id) for c in outcome.spawned]
    if claimed.owner:
        now = sc.now_ms()
        index += [
            IndexWrite(keys.owner_index(claimed.owner), now, c.task_id, keep_first=True)
            for c in outcome.spawned
        ]
    if isinstance(outcome, ParkTime):
        index.append(
            IndexWrite(
                keys.due_index(shard), to_ms(outcome.wake_at), f"{task_id} {outcome.wait_id}"
            )
        )
    if isinstance(outcome, ParkHooks):
        index += [
            IndexWrite(keys.expiry_index(shard), to_ms(r.expires_at), r.hook_id)
            for r in outcome.requests
        ]
    if isinstance(outcome, Complete | Fail):
        index.append(IndexWrite(keys.gc_index(shard), sc.now_ms(), ids.root_of(task_id)))
        if claimed.parent:
            index.append(dispatch_intent(sc, claimed.parent))
    return index


def _context_too_large(claimed: Claimed, size: int, cap: int) -> Fail:
    err = ContextTooLargeError(
        f"the turn would write a task context of {size} bytes, over the cap of {cap}"
    )
    event = TaskEvent(kind="failed", data={"code": err.code, "message": err.message})
    return Fail(context=claimed.context, code=err.code, message=err.message, events=(event,))


def commit_turn(
    sc: StoreContext, claimed: Claimed, outcome: TurnOutcome
) -> Committed | StaleCommit:
    """Commit a turn's outcome for the claim that ran it (one round trip).

    An outcome whose context (or a spawned child's first context) would pass the cap
    (``max_context_bytes``) is not written: the task fails with ``context_too_large`` instead,
    keeping the context it had (the turn engine cuts oversized tool results first, so this is the
    last line: a model reply or a transcript that grew past the cap anyway).
    """
    task_id = claimed.task_id
    ctx_json = encode(outcome.context)
    kids = [_child_fields(claimed, c) for c in outcome.spawned]
    largest = max([len(ctx_json), *(len(k["ctx"].encode()) for k in kids)])
    if largest > sc.settings.max_context_bytes:
        outcome = _context_too_large(claimed, largest, sc.settings.max_context_bytes)
        ctx_json, kids = encode(outcome.context), []
    parent = claimed.parent or task_id
    requests = outcome.requests if isinstance(outcome, ParkHooks) else ()
    waiting = outcome.waiting_on if isinstance(outcome, ParkHooks) else ()
    script_keys = [
        *keys.task_key_set(task_id),
        keys.registry(task_id),
        keys.task(parent),
        keys.join(parent),
        keys.inbox(parent),
        keys.events(parent),
        *(keys.hook(r.hook_id) for r in requests),
    ]
    for child in outcome.spawned:
        script_keys += keys.task_key_set(child.task_id)
    script_keys += [keys.hook(h) for h in waiting]
    events = [
        [e.kind, json.dumps(e.data, separators=(",", ":"), default=str)] for e in outcome.events
    ]
    args: list[str | int] = [
        sc.now_arg(),
        claimed.fence,
        outcome.kind,
        ctx_json.decode(),
        json.dumps(events),
        claimed.inbox_len,
        outcome.context.turn,
        len(requests),
        len(outcome.spawned),
        len(waiting),
        _detail(outcome),
        *(json.dumps(_hook_fields(r)) for r in requests),
        *(json.dumps(k) for k in kids),
    ]
    res = sc.scripts.call_indexed("commit_turn", script_keys, args, _index(sc, claimed, outcome))
    if res[0] == "stale":
        return StaleCommit(task_id, res[1])
    if res[0] != "ok":
        raise StateCorruptedError(f"commit_turn on {task_id}: {res[0]}")
    if res[1] == "queued" and outcome.kind not in ("continue", "retry"):
        # A park that became queued at once (an early resolve applied at registration, a child
        # that ended first): the pipelined index op removed the lease entry, so the task needs
        # its dispatch entry back before the turn message is sent (rare: one more round trip).
        entry = dispatch_intent(sc, task_id)
        sc.client.zadd(entry.key, {entry.member: entry.score})
    return Committed(
        task_id=task_id,
        status=res[1],
        seq=int(res[2]),
        created_children=tuple(res[3]),
        parent_id=claimed.parent,
        parent_seq=int(res[4]),
    )
