"""Follow a task live: poll its events and its status, print each event once, stop when it parks
or ends (or keeps going through parked states with ``until_done``).

Each round reads the task first, then every event after the cursor: the store appends a turn's
events in the same commit that changes the status, so once a status is seen, the events that led
to it are all there. Deadlines use ``time.monotonic``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from factorial_aws.cli.client import path
from factorial_aws.cli.output import event_line

if TYPE_CHECKING:
    from collections.abc import Callable

    from factorial_aws.cli.client import ApiClient
    from factorial_aws.cli.output import Console

TERMINAL = frozenset({"completed", "failed", "cancelled"})
PARKED = frozenset({"waiting_hook", "waiting_time", "waiting_children"})
#: The largest page the API serves.
PAGE = 1000
FIRST_POLL_S = 0.1
MAX_POLL_S = 1.0


class FollowTimeout(Exception):
    """The deadline passed; ``task`` is the last state seen."""

    def __init__(self, task: dict[str, Any]) -> None:
        super().__init__(task.get("status"))
        self.task = task


@dataclass
class Follower:
    """Prints a task's events as they appear (JSON lines with ``as_json``)."""

    api: ApiClient
    console: Console
    task_id: str
    cursor: str | None = None
    as_json: bool = False
    sleep: Callable[[float], None] = time.sleep

    def drain(self) -> int:
        """Print every event after the cursor; how many there were."""
        printed = 0
        while True:
            page = self.api.get(
                path("tasks", self.task_id, "events"), {"after": self.cursor, "limit": PAGE}
            )
            events: list[dict[str, Any]] = page.get("events") or []
            for event in events:
                if self.as_json:
                    self.console.json(event, compact=True)
                else:
                    self.console.line(event_line(event))
                self.cursor = str(event.get("id"))
            printed += len(events)
            if len(events) < PAGE:
                return printed

    def until(self, stop: frozenset[str], timeout_s: float | None) -> dict[str, Any]:
        """Follow until the task's status is in ``stop``; the task as last read.

        Raises:
            FollowTimeout: ``timeout_s`` passed first.
        """
        started = time.monotonic()
        deadline = None if timeout_s is None else started + timeout_s
        pause = FIRST_POLL_S
        while True:
            task: dict[str, Any] = self.api.get(path("tasks", self.task_id))
            fresh = self.drain()
            status = str(task.get("status"))
            if status in stop:
                self.console.clear_status()
                return task
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                self.console.clear_status()
                raise FollowTimeout(task)
            pause = FIRST_POLL_S if fresh else min(MAX_POLL_S, pause * 1.5)
            self.console.status(
                f"{self.task_id}: {status} (turn {task.get('turn', 0)}), {now - started:.0f}s"
            )
            step = pause if deadline is None else max(0.0, min(pause, deadline - now))
            self.sleep(step)
