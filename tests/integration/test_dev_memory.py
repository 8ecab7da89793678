"""The dev server's memory stays flat: once warm, more tasks through it (the payments example, its
stub model over HTTP, a pool of turn workers) leave what it holds where it was (tracemalloc: what
was allocated and is still held). The queue and the stub model remember a bounded history only.
`benchmarks/dev_server.py --soak 10000` measures the RSS over 10,000 tasks."""

from __future__ import annotations

import gc
import time
import tracemalloc

import pytest

from examples.payments.app import app as payments_app
from examples.payments.stub import stub_reply
from factorial_aws.core import ids
from factorial_aws.local import dev as dev_module
from factorial_aws.local import queue as queue_module
from factorial_aws.local.dev import DevServer

BATCH = 30
APPROVE = {"approved": True, "reviewer": "ana", "comment": "ok"}
#: Growth allowed over the last 3 batches (90 tasks), once the bounded histories are full: the
#: caches that fill up to their own bound (pydantic-core's string cache) grow ~1.5 kB per task.
#: The stub model keeping every request body instead grows ~1.1 MB over those batches.
LIMIT_BYTES = 300_000


def wait_all(dev: DevServer, task_ids: list[str], status: str, timeout_s: float = 60) -> None:
    assert dev.stack is not None
    deadline = time.monotonic() + timeout_s
    left = set(task_ids)
    while left and time.monotonic() < deadline:
        left = {t for t in left if dev.stack.control.get_task(t).status != status}
        time.sleep(0.02)
    assert not left, f"{len(left)} tasks not {status}"


def batch(dev: DevServer, start: int) -> None:
    assert dev.stack is not None
    control = dev.stack.control
    task_ids = [
        control.create_task("payments", f"Pay {start + i}.00 USD to DE89370400440532013000").task_id
        for i in range(BATCH)
    ]
    wait_all(dev, task_ids, "waiting_hook")
    for task_id in task_ids:
        (pending,) = control.get_task(task_id).pending_hooks
        token = ids.hook_token(dev.stack.hook_secret, pending.hook_id, 1)
        control.resolve_hook(pending.hook_id, APPROVE, token)
    wait_all(dev, task_ids, "completed")


@pytest.fixture(autouse=True)
def small_queue_history(monkeypatch: pytest.MonkeyPatch) -> None:
    """A queue remembering 100 messages (not 1,000) fills its history within one batch."""
    monkeypatch.setattr(queue_module, "HISTORY", 100)


def growth(dev: DevServer) -> int:
    """Memory still held that was allocated after the histories filled, over 3 more batches."""
    batch(dev, 0)  # warm-up: connections, clients, caches, compiled scripts
    tracemalloc.start()
    try:
        for n in range(2):  # fill the histories with traced objects: later ones replace them
            batch(dev, (n + 1) * BATCH)
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for n in range(3):
            batch(dev, (n + 3) * BATCH)
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def serve() -> DevServer:
    return DevServer(payments_app, port=0, say=lambda _: None, stub_reply=stub_reply, workers=4)


def test_memory_is_flat_after_the_warm_up() -> None:
    with serve() as dev:
        grown = growth(dev)
        assert dev.stack is not None
        assert len(dev.stack.queue.handled) == 100
    assert grown < LIMIT_BYTES, f"{grown:,} bytes more held after {3 * BATCH} more tasks"


def test_the_limit_catches_an_unbounded_history(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same run with the stub model keeping every request body: over the limit."""
    monkeypatch.setattr(dev_module, "STUB_HISTORY", None)
    with serve() as dev:
        assert growth(dev) > LIMIT_BYTES
