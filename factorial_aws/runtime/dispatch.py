"""Dispatch: after a transition made a task runnable or parked it on time, send what moves it on.

Rules (docs/store.md, wake semantics): a runnable task gets one turn message carrying its new
``seq``; a time wait of up to 15 minutes is a delayed wake message on the turn queue, a longer one
an EventBridge Scheduler one-shot schedule named after the wait. Everything sent is idempotent on
the receiving side (``seq`` and wait ids), so a re-send after a crash is harmless.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from factorial_aws.core import ids
from factorial_aws.core.outcomes import Retry, TurnOutcome
from factorial_aws.core.records import QueueMessage
from factorial_aws.runtime.ports import MAX_QUEUE_DELAY_S, Scheduler, TurnQueue

if TYPE_CHECKING:
    from datetime import datetime

    from factorial_aws.core.clock import Clock
    from factorial_aws.store.tasks import Committed


def schedule_name(wait_id: str) -> str:
    """The deterministic schedule name of a wait: ``fa-<root id>-<hash>``, 49 characters of
    ``[0-9a-z-]`` (Scheduler allows 64), whatever the depth of the task in its tree."""
    digest = hashlib.sha256(wait_id.encode()).hexdigest()[:16]
    return f"fa-{ids.root_of(wait_id)}-{digest}"


@dataclass(frozen=True)
class Dispatcher:
    """Sends turn and wake messages through the ports."""

    queue: TurnQueue
    scheduler: Scheduler
    clock: Clock

    def turn(self, task_id: str, seq: int, delay_s: float = 0) -> None:
        """Send the turn message for ``seq``."""
        delay = min(MAX_QUEUE_DELAY_S, max(0, math.ceil(delay_s)))
        self.queue.send(QueueMessage(kind="turn", task_id=task_id, seq=seq), delay)

    def wake_at(self, task_id: str, wait_id: str, at: datetime) -> None:
        """Arrange for the wake of a time wait: a delayed message, or a schedule when far off."""
        remaining = (at - self.clock.now()).total_seconds()
        message = QueueMessage(kind="wake", task_id=task_id, wait_id=wait_id)
        if remaining <= MAX_QUEUE_DELAY_S:
            self.queue.send(message, max(0, math.ceil(remaining)))
        else:
            self.scheduler.schedule(schedule_name(wait_id), at, message)

    def cancel_wake(self, wait_id: str) -> None:
        """Delete the schedule of a time wait that will never be needed (its task was cancelled).
        A short wait's delayed queue message cannot be recalled; it arrives stale and does
        nothing."""
        self.scheduler.cancel(schedule_name(wait_id))

    def after_commit(self, committed: Committed, outcome: TurnOutcome) -> None:
        """Everything a commit asks for: the next turn, children's first turns, a woken parent,
        the wake of a time wait."""
        if committed.status == "queued":
            self.turn(
                committed.task_id,
                committed.seq,
                outcome.delay_s if isinstance(outcome, Retry) else 0,
            )
        for child in committed.created_children:
            self.turn(child, 1)
        if committed.parent_id and committed.parent_seq:
            self.turn(committed.parent_id, committed.parent_seq)
        if committed.status == "waiting_time" and outcome.kind == "park_time":
            self.wake_at(committed.task_id, outcome.wait_id, outcome.wake_at)
        if outcome.kind == "park_hooks":
            for request in outcome.requests:
                self.expire_at(committed.task_id, request.hook_id, request.expires_at)

    def expire_at(self, task_id: str, hook_id: str, at: datetime) -> None:
        """A delayed expiry message for a hook that expires within a queue delay (the
        maintenance sweep expires the others, with its one-minute period)."""
        remaining = (at - self.clock.now()).total_seconds()
        if remaining <= MAX_QUEUE_DELAY_S:
            message = QueueMessage(kind="expire", task_id=task_id, hook_id=hook_id)
            self.queue.send(message, max(0, math.ceil(remaining)))
