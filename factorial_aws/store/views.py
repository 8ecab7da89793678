"""Read-only views for the task API: a task with its pending hooks, its events, and an owner's
tasks.

Reads are plain commands (pipelined), never scripts: they change no task. The one write a read
does is best-effort housekeeping of the owner index: :func:`list_tasks` drops the entries of
tasks whose record is gone (an expired tree whose cleanup did not run, a crash between the index
write and the create), the same entries the maintenance sweep exists to drop.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from factorial_aws.core import ids
from factorial_aws.core.status import TaskStatus
from factorial_aws.errors import InvalidInputError
from factorial_aws.store import keys
from factorial_aws.store.inbox import from_ms

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from factorial_aws.store.base import StoreContext

_EVENT_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
_TASK_CURSOR = re.compile(r"^(\d{1,20}):(t-[a-z2-7.0-9]+)$")

#: Largest page of :func:`list_tasks`, and its default.
MAX_TASKS_PAGE = 100
DEFAULT_TASKS_PAGE = 20
#: Index entries :func:`list_tasks` examines at most per call (a status filter may skip most).
MAX_EXAMINED = 1000
#: Index entries fetched per round when a status filter may skip some.
_FILTERED_BATCH = 100
#: An index entry without a task record is dropped only once it is this old: the entry is
#: written just before the create script runs, so a younger one may belong to a task being made.
STALE_ENTRY_AGE_MS = 5 * 60 * 1000
_STATUSES = tuple(s.value for s in TaskStatus)
_SUMMARY_FIELDS = ("agent", "status", "turn", "parent", "owner", "created", "updated")


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
class TaskSummary:
    """One task of ``GET /tasks``."""

    task_id: str
    agent: str
    status: str
    turn: int
    parent_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class TaskPage:
    """A page of an owner's tasks, newest first; ``next`` resumes after it (None: the end).

    ``dropped``: index entries this read removed because their task record is gone.
    """

    tasks: tuple[TaskSummary, ...]
    next: str | None
    dropped: tuple[str, ...] = ()


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
                # the id's ms is the event's time (older entries also carry it as "t")
                at=from_ms(entry.get("t") or _event_key(entry["id"])[0]),
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


def tree_owners(sc: StoreContext, roots: Sequence[str]) -> dict[str, list[str]]:
    """Owner -> task ids of the trees ``roots`` (to clean the owner index when they expire): two
    pipelined round trips, however many trees."""
    if not roots:
        return {}
    pipe = sc.client.pipeline(transaction=False)
    for root in roots:
        pipe.smembers(keys.registry(root))
    task_ids = [
        t
        for root, members in zip(roots, pipe.execute(), strict=True)
        for m in members
        if (t := keys.task_id_of(keys.from_registry_member(root, m.decode()))) is not None
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


def list_tasks(
    sc: StoreContext,
    owner: str,
    *,
    status: str | None = None,
    limit: int = DEFAULT_TASKS_PAGE,
    after: str | None = None,
) -> TaskPage:
    """The owner's tasks (roots and children), newest first, from the owner index.

    ``after`` is the ``next`` of the previous page. Each round reads a slice of the index
    (``ZREVRANGEBYSCORE``) and the fields of its tasks (one pipelined ``HMGET`` per task). A task
    whose record is gone is skipped, and its entry removed (best effort, once it is older than
    ``STALE_ENTRY_AGE_MS``). With a ``status`` filter, or after skipped entries, more rounds fill
    the page, up to ``MAX_EXAMINED`` entries: a page may then hold fewer than ``limit`` tasks
    while ``next`` is not None.

    Raises:
        InvalidInputError: a malformed ``after`` cursor, an unknown ``status``, or ``limit``
            outside 1..``MAX_TASKS_PAGE``.
    """
    if not 1 <= limit <= MAX_TASKS_PAGE:
        raise InvalidInputError(f"limit must be 1..{MAX_TASKS_PAGE}, not {limit}")
    if status is not None and status not in _STATUSES:
        raise InvalidInputError(
            f"status={status[:40]!r} is not a task status ({', '.join(_STATUSES)})"
        )
    cursor = parse_task_cursor(after) if after is not None else None
    key = keys.owner_index(owner)
    stale_before = sc.now_ms() - STALE_ENTRY_AGE_MS
    tasks: list[TaskSummary] = []
    stale: list[str] = []
    examined = 0
    while True:
        want = limit - len(tasks)
        batch = min(max(want, _FILTERED_BATCH) if status else want, MAX_EXAMINED - examined)
        entries = _index_after(sc, key, cursor, batch + 1)  # one more: is there a next page?
        page, more = entries[:batch], len(entries) > batch
        rest = len(page)
        for entry, fields in zip(page, _summary_fields(sc, [t for _, t in page]), strict=True):
            examined, rest, cursor = examined + 1, rest - 1, entry
            summary = _summary(entry[1], fields)
            if summary is None:
                if entry[0] < stale_before:
                    stale.append(entry[1])
                continue
            if _field(fields, "owner") != owner or (status and summary.status != status):
                continue
            tasks.append(summary)
            if len(tasks) == limit:
                break
        if len(tasks) == limit:
            next_cursor = cursor if more or rest else None
            break
        if not more:
            next_cursor = None  # the whole index was read
            break
        if examined >= MAX_EXAMINED:
            next_cursor = cursor
            break
    dropped = _drop_stale(sc, key, stale)
    return TaskPage(tuple(tasks), format_task_cursor(next_cursor), dropped)


def parse_task_cursor(cursor: str) -> tuple[int, str]:
    """``<created ms>:<task id>`` (the ``next`` of a page of :func:`list_tasks`) as a pair.

    Raises:
        InvalidInputError: anything else.
    """
    match = _TASK_CURSOR.match(cursor)
    if match is None or not ids.is_task_id(match.group(2)):
        raise InvalidInputError(f"after={cursor[:80]!r} is not a task list cursor")
    return int(match.group(1)), match.group(2)


def format_task_cursor(cursor: tuple[int, str] | None) -> str | None:
    """The text form of a cursor (see :func:`parse_task_cursor`)."""
    return None if cursor is None else f"{cursor[0]}:{cursor[1]}"


def _index_after(
    sc: StoreContext, key: str, cursor: tuple[int, str] | None, count: int
) -> list[tuple[int, str]]:
    """Up to ``count`` owner-index entries (score, task id) after ``cursor``, in the index's
    newest-first order: by score, descending, then by task id, descending (Valkey's order of
    ``ZREVRANGEBYSCORE`` for equal scores). Entries of the cursor's own millisecond that come
    before it are at the start of the range and skipped (a spawn creates several children in
    the same millisecond)."""
    top: int | str = "+inf" if cursor is None else cursor[0]
    out: list[tuple[int, str]] = []
    offset = 0
    while len(out) < count:
        num = count - len(out) + (1 if cursor is not None else 0)
        raw: Any = sc.client.zrevrangebyscore(
            key, top, "-inf", start=offset, num=num, withscores=True
        )
        for member, score in raw:
            entry = (int(score), member.decode())
            if cursor is not None and entry[0] == cursor[0] and entry[1] >= cursor[1]:
                continue
            out.append(entry)
        if len(raw) < num:
            break
        offset += len(raw)
    return out[:count]


def _summary_fields(sc: StoreContext, task_ids: list[str]) -> list[list[bytes | None]]:
    """The summary fields of each task (all None for a missing task or a member that is not a
    task id), in one pipelined round trip."""
    valid = [t for t in task_ids if ids.is_task_id(t)]
    found: dict[str, list[bytes | None]] = {}
    if valid:
        pipe = sc.client.pipeline(transaction=False)
        for task_id in valid:
            pipe.hmget(keys.task(task_id), list(_SUMMARY_FIELDS))
        found = dict(zip(valid, pipe.execute(), strict=True))
    missing: list[bytes | None] = [None] * len(_SUMMARY_FIELDS)
    return [found.get(t, missing) for t in task_ids]


def _field(fields: list[bytes | None], name: str) -> str:
    value = fields[_SUMMARY_FIELDS.index(name)]
    return value.decode() if value is not None else ""


def _summary(task_id: str, fields: list[bytes | None]) -> TaskSummary | None:
    if not _field(fields, "status"):
        return None
    return TaskSummary(
        task_id=task_id,
        agent=_field(fields, "agent"),
        status=_field(fields, "status"),
        turn=int(_field(fields, "turn") or 0),
        parent_id=_field(fields, "parent") or None,
        created_at=from_ms(_field(fields, "created") or 0),
        updated_at=from_ms(_field(fields, "updated") or 0),
    )


def _drop_stale(sc: StoreContext, key: str, task_ids: list[str]) -> tuple[str, ...]:
    """Remove index entries whose task record is gone; a failure changes nothing of the read."""
    if not task_ids:
        return ()
    try:
        sc.client.zrem(key, *task_ids)
    except RedisError:
        return ()
    return tuple(task_ids)
