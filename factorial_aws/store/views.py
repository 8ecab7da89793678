"""Read-only views for the task API: a task with its pending hooks, and its events.

Reads are plain commands on one slot (pipelined), never scripts: they change nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from factorial_aws.core import ids
from factorial_aws.errors import InvalidInputError
from factorial_aws.store import keys
from factorial_aws.store.inbox import from_ms

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from factorial_aws.store.base import StoreContext

_EVENT_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


@dataclass(frozen=True)
class PendingHookView:
    """A hook of a task that is still waiting for its input (no token, ever)."""

    hook_id: str
    title: str
    status: str
    expires_at: datetime


@dataclass(frozen=True)
class TaskView:
    """What ``GET /tasks/{id}`` shows."""

    task_id: str
    agent: str
    status: str
    turn: int
    owner_id: str | None
    parent_id: str | None
    output: Any = None
    error: dict[str, str] | None = None
    pending_hooks: tuple[PendingHookView, ...] = ()
    seq: int = 0
    wait_id: str | None = None
    wake_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    children: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class EventView:
    """One entry of a task's event stream."""

    id: str
    kind: str
    data: dict[str, Any]
    at: datetime


def _s(fields: dict[bytes, bytes], name: str) -> str:
    return fields.get(name.encode(), b"").decode()


def get_task(sc: StoreContext, task_id: str) -> TaskView | None:
    """The task and its requested hooks, or None when there is no such task."""
    if not ids.is_valid_id(task_id):
        return None
    pipe = sc.client.pipeline(transaction=False)
    pipe.hgetall(keys.task(task_id))
    pipe.smembers(keys.task_hooks(task_id))
    pipe.smembers(keys.kids(task_id))
    fields, hook_ids, kid_ids = pipe.execute()
    if not fields:
        return None
    pending = _pending_hooks(sc, sorted(h.decode() for h in hook_ids))
    status = _s(fields, "status")
    ecode = _s(fields, "ecode")
    output = _s(fields, "output")
    wake_at = _s(fields, "wake_at")
    return TaskView(
        task_id=task_id,
        agent=_s(fields, "agent"),
        status=status,
        turn=int(_s(fields, "turn") or 0),
        owner_id=_s(fields, "owner") or None,
        parent_id=_s(fields, "parent") or None,
        output=json.loads(output) if output else None,
        error={"code": ecode, "message": _s(fields, "emsg")} if ecode else None,
        pending_hooks=pending,
        seq=int(_s(fields, "seq") or 0),
        wait_id=_s(fields, "wait") or None,
        wake_at=from_ms(wake_at) if wake_at else None,
        created_at=from_ms(_s(fields, "created") or 0),
        updated_at=from_ms(_s(fields, "updated") or 0),
        children=tuple(sorted(k.decode() for k in kid_ids)),
    )


def _pending_hooks(sc: StoreContext, hook_ids: list[str]) -> tuple[PendingHookView, ...]:
    if not hook_ids:
        return ()
    pipe = sc.client.pipeline(transaction=False)
    for hid in hook_ids:
        pipe.hmget(keys.hook(hid), ["title", "status", "exp"])
    out = []
    for hid, (title, status, exp) in zip(hook_ids, pipe.execute(), strict=True):
        if status == b"requested":
            out.append(PendingHookView(hid, (title or b"").decode(), "requested", from_ms(exp)))
    return tuple(out)


def read_events(
    sc: StoreContext, task_id: str, after: str | None = None, limit: int = 100
) -> list[EventView]:
    """Events of a task after the cursor ``after`` (an event id), oldest first.

    The list is capped (the newest 200 events), so one read and a filter is the whole cost.
    """
    if not ids.is_valid_id(task_id):
        return []
    cursor = _event_key(after) if after is not None else None
    raw: Any = sc.client.lrange(keys.events(task_id), 0, -1)
    out = []
    for item in raw:
        entry = json.loads(item)
        if cursor is not None and _event_key(entry["id"]) <= cursor:
            continue
        out.append(
            EventView(
                id=entry["id"],
                kind=entry["k"],
                data=entry.get("d") or {},
                at=from_ms(entry.get("t", 0)),
            )
        )
        if len(out) >= limit:
            break
    return out


def _event_key(event_id: str) -> tuple[int, int]:
    if not _EVENT_ID.match(event_id):
        raise InvalidInputError(f"after={event_id!r} is not an event id (like 1700000000000-0)")
    ms, _, n = event_id.partition("-")
    return int(ms), int(n)


def tree_owners(sc: StoreContext, root_id: str) -> dict[str, list[str]]:
    """Owner -> task ids of a tree (to clean the owner index when the tree expires)."""
    members: Any = sc.client.smembers(keys.registry(root_id))
    task_ids = [
        t
        for m in members
        if (t := keys.task_id_of(keys.from_registry_member(root_id, m.decode()))) is not None
    ]
    if not task_ids:
        return {}
    pipe = sc.client.pipeline(transaction=False)
    for t in task_ids:
        pipe.hget(keys.task(t), "owner")
    owners: dict[str, list[str]] = {}
    for t, owner in zip(task_ids, pipe.execute(), strict=True):
        if owner:
            owners.setdefault(owner.decode(), []).append(t)
    return owners


def time_waits(sc: StoreContext, task_ids: Sequence[str]) -> list[tuple[str, datetime]]:
    """(wait id, wake time) of the tasks among ``task_ids`` that have a time wait recorded."""
    if not task_ids:
        return []
    pipe = sc.client.pipeline(transaction=False)
    for t in task_ids:
        pipe.hmget(keys.task(t), ["wait", "wake_at"])
    out = []
    for wait, wake_at in pipe.execute():
        if wait and wake_at:
            out.append((wait.decode(), from_ms(wake_at.decode())))
    return out
