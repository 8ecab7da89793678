"""An in-process turn queue with real delays, and a scheduler on top of it.

Messages wait in a heap until due (read from the Clock, so tests can drive a FakeClock and call
:meth:`LocalQueue.drain`), then a worker hands them to the turn runner. Like SQS, delivery is
at-least-once: a message whose handling raises is delivered again after ``redelivery_s``, up to
``max_receives`` times, then kept in :attr:`LocalQueue.dead_letters`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from factorial_aws.core.clock import Clock
    from factorial_aws.core.records import QueueMessage

log = logging.getLogger("factorial_aws.local")
Handler = Callable[["QueueMessage"], Awaitable[str]]


@dataclass(order=True)
class _Entry:
    due: datetime
    order: int
    message: QueueMessage = field(compare=False)
    receives: int = field(default=0, compare=False)
    name: str | None = field(default=None, compare=False)


class LocalQueue:
    """A delayed, at-least-once, in-process queue of turn and wake messages."""

    def __init__(self, clock: Clock, *, redelivery_s: float = 2.0, max_receives: int = 5) -> None:
        self._clock = clock
        self._heap: list[_Entry] = []
        self._order = itertools.count()
        self._cond = threading.Condition(threading.RLock())
        self._redelivery = timedelta(seconds=redelivery_s)
        self._max_receives = max_receives
        self.dead_letters: list[QueueMessage] = []
        self.handled: list[tuple[QueueMessage, str]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def send(self, message: QueueMessage, delay_s: int = 0) -> None:
        """Enqueue ``message`` to be delivered after ``delay_s`` seconds."""
        self._push(
            _Entry(self._clock.now() + timedelta(seconds=delay_s), next(self._order), message)
        )

    def send_at(self, message: QueueMessage, at: datetime, name: str | None = None) -> None:
        """Enqueue ``message`` for ``at`` (a named entry can be cancelled)."""
        with self._cond:
            if name and any(e.name == name for e in self._heap):
                return  # idempotent, like a schedule that already exists
        self._push(_Entry(at, next(self._order), message, name=name))

    def cancel(self, name: str) -> None:
        """Drop the named entry, if it is still waiting."""
        with self._cond:
            self._heap = [e for e in self._heap if e.name != name]
            heapq.heapify(self._heap)

    def _push(self, entry: _Entry) -> None:
        with self._cond:
            heapq.heappush(self._heap, entry)
            self._cond.notify_all()

    def pending(self) -> int:
        """Messages not yet delivered (due or not)."""
        with self._cond:
            return len(self._heap)

    def _pop_due(self) -> _Entry | None:
        with self._cond:
            if self._heap and self._heap[0].due <= self._clock.now():
                return heapq.heappop(self._heap)
            return None

    async def _deliver(self, entry: _Entry, handler: Handler) -> None:
        entry.receives += 1
        try:
            outcome = await handler(entry.message)
        except Exception:
            log.exception("handling %s failed (receive %d)", entry.message, entry.receives)
            if entry.receives >= self._max_receives:
                self.dead_letters.append(entry.message)
                return
            entry.due = self._clock.now() + self._redelivery
            self._push(entry)
            return
        self.handled.append((entry.message, outcome))

    async def drain(self, handler: Handler, *, limit: int = 10_000) -> int:
        """Deliver every message due now, and those they make due now; return the count."""
        n = 0
        while n < limit and (entry := self._pop_due()) is not None:
            await self._deliver(entry, handler)
            n += 1
        return n

    def start(self, handler: Handler, *, poll_s: float = 0.02) -> None:
        """Deliver messages on a background thread as they come due (real-time mode)."""

        def run() -> None:
            loop = asyncio.new_event_loop()
            try:
                while not self._stop.is_set():
                    with self._cond:  # check and wait under one lock: a push cannot slip between
                        entry = self._pop_due()
                        if entry is None:
                            self._cond.wait(poll_s)
                            continue
                    loop.run_until_complete(self._deliver(entry, handler))
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="factorial-local-queue", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background worker (pending messages stay queued)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


@dataclass(frozen=True)
class LocalScheduler:
    """One-shot schedules as timed entries of the local queue."""

    queue: LocalQueue

    def schedule(self, name: str, at: datetime, message: QueueMessage) -> None:
        """Deliver ``message`` at ``at`` (idempotent per name)."""
        self.queue.send_at(message, at, name=name)

    def cancel(self, name: str) -> None:
        """Drop the schedule."""
        self.queue.cancel(name)
