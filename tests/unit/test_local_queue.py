"""The in-process turn queue's worker pool: tasks run concurrently, one task's messages never do,
and in order; what it remembers is bounded."""

from __future__ import annotations

import asyncio
import threading
import time

from factorial_aws.core.clock import SystemClock
from factorial_aws.core.records import QueueMessage
from factorial_aws.local.queue import HISTORY, LocalQueue

WAIT_S = 20


def turn(task_id: str, seq: int) -> QueueMessage:
    return QueueMessage(kind="turn", task_id=task_id, seq=seq)


def test_messages_of_different_tasks_are_handled_at_once() -> None:
    queue = LocalQueue(SystemClock())
    barrier = threading.Barrier(3, timeout=WAIT_S)  # one worker alone would never pass it

    async def handler(message: QueueMessage) -> str:
        await asyncio.to_thread(barrier.wait)
        return "ok"

    queue.start(handler, workers=3)
    try:
        for name in ("a", "b", "c"):
            queue.send(turn(f"t-{name}", 1))
        deadline = time.monotonic() + WAIT_S
        while len(queue.handled) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        queue.stop()
    assert sorted(m.task_id for m, outcome in queue.handled if outcome == "ok") == [
        "t-a",
        "t-b",
        "t-c",
    ]
    assert not queue.dead_letters and queue.workers == 0


def test_one_tasks_messages_run_one_at_a_time_and_in_order() -> None:
    queue = LocalQueue(SystemClock())
    lock = threading.Lock()
    running: set[str] = set()
    overlaps: list[str] = []
    order: dict[str, list[int]] = {}

    async def handler(message: QueueMessage) -> str:
        with lock:
            if message.task_id in running:
                overlaps.append(message.task_id)
            running.add(message.task_id)
            order.setdefault(message.task_id, []).append(message.seq or 0)
        await asyncio.sleep(0.005)  # long enough for the other workers to try the same task
        with lock:
            running.discard(message.task_id)
        return "ok"

    for seq in range(1, 11):  # all due before the workers start: they race for them
        for task_id in ("t-a", "t-b"):
            queue.send(turn(task_id, seq))
    queue.start(handler, workers=4)
    try:
        deadline = time.monotonic() + WAIT_S
        while len(queue.handled) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        queue.stop()
    assert overlaps == []
    assert order == {"t-a": list(range(1, 11)), "t-b": list(range(1, 11))}
    assert queue.pending() == 0


def test_handled_messages_are_remembered_up_to_a_bound() -> None:
    queue = LocalQueue(SystemClock())

    async def handler(message: QueueMessage) -> str:
        return "ok"

    for seq in range(HISTORY + 50):
        queue.send(turn("t-a", seq))
    assert asyncio.run(queue.drain(handler)) == HISTORY + 50
    assert len(queue.handled) == HISTORY
    assert queue.handled[-1][0].seq == HISTORY + 49  # the newest are kept
