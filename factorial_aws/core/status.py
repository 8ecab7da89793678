"""Task statuses and the one table of allowed transitions (the Lua scripts mirror it)."""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    """Where a task is in its life. The three terminal names are part of the HTTP API."""

    QUEUED = "queued"
    RUNNING = "running"
    WAITING_HOOK = "waiting_hook"
    WAITING_TIME = "waiting_time"
    WAITING_CHILDREN = "waiting_children"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """Whether no transition leaves this status."""
        return self in TERMINAL


TERMINAL = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})
WAITING = frozenset({TaskStatus.WAITING_HOOK, TaskStatus.WAITING_TIME, TaskStatus.WAITING_CHILDREN})

_S = TaskStatus

#: status -> the statuses it may move to.
TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    _S.QUEUED: frozenset({_S.RUNNING, _S.CANCELLED}),
    # a running turn commits one of these (queued = continue / retry)
    _S.RUNNING: frozenset({_S.QUEUED, *WAITING, _S.COMPLETED, _S.FAILED, _S.CANCELLED}),
    # a wake, a resolve or an expiry makes a parked task runnable again
    _S.WAITING_HOOK: frozenset({_S.QUEUED, _S.CANCELLED}),
    _S.WAITING_TIME: frozenset({_S.QUEUED, _S.CANCELLED}),
    _S.WAITING_CHILDREN: frozenset({_S.QUEUED, _S.CANCELLED}),
    _S.COMPLETED: frozenset(),
    _S.FAILED: frozenset(),
    _S.CANCELLED: frozenset(),
}


def can_transition(src: TaskStatus, dst: TaskStatus) -> bool:
    """Whether the status table allows ``src -> dst``."""
    return dst in TRANSITIONS[src]
