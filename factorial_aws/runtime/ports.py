"""The ports the runtime drives: the turn queue and the scheduler. Adapters live in
``factorial_aws.aws`` (SQS, EventBridge Scheduler) and ``factorial_aws.local`` (in process)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from datetime import datetime

    from factorial_aws.core.records import QueueMessage

#: The longest delay the turn queue takes (SQS DelaySeconds); longer waits go to the scheduler.
MAX_QUEUE_DELAY_S = 900


class TurnQueue(Protocol):
    """Where turn and wake messages go."""

    def send(self, message: QueueMessage, delay_s: int = 0) -> None:
        """Send one message, delivered after ``delay_s`` (0..900) seconds, at least once."""
        ...


class Scheduler(Protocol):
    """One-shot schedules that drop a message on the turn queue at a given time."""

    def schedule(self, name: str, at: datetime, message: QueueMessage) -> None:
        """Create the schedule ``name`` (idempotent: an existing one with that name is success)."""
        ...

    def cancel(self, name: str) -> None:
        """Delete the schedule ``name`` if it exists."""
        ...
