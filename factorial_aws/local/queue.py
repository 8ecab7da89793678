"""An in-process turn queue with real delays, and a scheduler on top of it.

Messages wait in a heap until due (read from the Clock, so tests can drive a FakeClock and call
:meth:`LocalQueue.drain`), then a pool of workers hands them to the turn runner, each worker on
its own thread and event loop. Two messages of one task are never handled at once: a due message
whose task is being handled waits, in order, until that handling ends (the store's claim fences
anyway; this only saves the wasted claim). Like SQS, delivery is at-least-once: a message whose
handling raises is delivered again after ``redelivery_s``, up to ``max_receives`` times, then kept
in :attr:`LocalQueue.dead_letters`. Only the most recent ``HISTORY`` outcomes and dead letters
are kept, so a long-running dev server's memory stays flat.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from factorial_aws.core.clock import Clock
    from factorial_aws.core.records import QueueMessage

log = logging.getLogger("factorial_aws.local")
Handler = Callable[["QueueMessage"], Awaitable[str]]
#: How many handled messages (and dead letters) a queue remembers, newest last.
HISTORY = 1000
#: How long :meth:`LocalQueue.stop` waits for the turns in progress, in all.
STOP_TIMEOUT_S = 10.0


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
        self.dead_letters: deque[QueueMessage] = deque(maxlen=HISTORY)
        self.handled: deque[tuple[QueueMessage, str]] = deque(maxlen=HISTORY)
        self._busy: set[str] = set()  # tasks a worker is handling a message of
        self._held: dict[str, list[_Entry]] = {}  # due messages of busy tasks, in order
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def send(self, message: QueueMessage, delay_s: int = 0) -> None:
        """Enqueue ``message`` to be delivered after ``delay_s`` seconds."""
        self._push(
            _Entry(self._clock.now() + timedelta(seconds=delay_s), next(self._order), message)
        )

    def send_at(self, message: QueueMessage, at: datetime, name: str | None = None) -> None:
        """Enqueue ``message`` for ``at`` (a named entry can be cancelled)."""
        with self._cond:
            if name and any(e.name == name for e in self._entries()):
                return  # idempotent, like a schedule that already exists
        self._push(_Entry(at, next(self._order), message, name=name))

    def cancel(self, name: str) -> None:
        """Drop the named entry, if it is still waiting."""
        with self._cond:
            self._heap = [e for e in self._heap if e.name != name]
            heapq.heapify(self._heap)
            for task_id, held in list(self._held.items()):
                self._held[task_id] = [e for e in held if e.name != name]

    def _push(self, entry: _Entry) -> None:
        with self._cond:
            heapq.heappush(self._heap, entry)
            self._cond.notify_all()

    def pending(self) -> int:
        """Messages not yet delivered (due or not)."""
        with self._cond:
            return len(self._heap) + sum(len(h) for h in self._held.values())

    def _entries(self) -> list[_Entry]:
        return [*self._heap, *(e for held in self._held.values() for e in held)]

    def _pop_due(self) -> _Entry | None:
        with self._cond:
            if self._heap and self._heap[0].due <= self._clock.now():
                return heapq.heappop(self._heap)
            return None

    def _take_due(self) -> _Entry | None:
        """The next due message of a task no worker is handling; it marks the task busy."""
        with self._cond:
            while (entry := self._pop_due()) is not None:
                task_id = entry.message.task_id
                if task_id in self._busy:
                    self._held.setdefault(task_id, []).append(entry)
                    continue
                self._busy.add(task_id)
                return entry
            return None

    def _release(self, task_id: str) -> None:
        """The task's message was handled: its held messages are due again, in their order."""
        with self._cond:
            self._busy.discard(task_id)
            for entry in self._held.pop(task_id, []):
                heapq.heappush(self._heap, entry)
            self._cond.notify_all()

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

    def start(self, handler: Handler, *, workers: int = 1, poll_s: float = 0.02) -> None:
        """Deliver messages on ``workers`` background threads as they come due (real time)."""

        def run() -> None:
            loop = asyncio.new_event_loop()
            try:
                while not self._stop.is_set():
                    with self._cond:  # check and wait under one lock: a push cannot slip between
                        entry = self._take_due()
                        if entry is None:
                            self._cond.wait(poll_s)
                            continue
                    try:
                        loop.run_until_complete(self._deliver(entry, handler))
                    finally:
                        self._release(entry.message.task_id)
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._stop.clear()
        for i in range(max(1, workers)):
            thread = threading.Thread(target=run, name=f"factorial-turn-{i}", daemon=True)
            self._threads.append(thread)
            thread.start()

    @property
    def workers(self) -> int:
        """How many worker threads run (0 before :meth:`start` and after :meth:`stop`)."""
        return len(self._threads)

    def stop(self) -> None:
        """Stop the background workers (pending messages stay queued)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        threads, self._threads = self._threads, []
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for thread in threads:  # a turn in progress gets STOP_TIMEOUT_S in all to finish
            thread.join(timeout=max(0.0, deadline - time.monotonic()))


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
