"""examples/monitor: a real 2-second sleep on the dev server, then the cron wait; the cron tick
itself (a minute away) is driven through the local stack with a fake clock."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from examples.monitor.app import app
from examples.monitor.stub import stub_reply
from factorial_aws.llm.openai_client import OpenAIModel
from factorial_aws.local.stack import LocalStack
from factorial_aws.testing import FakeClock, StubOpenAIServer

ASK = "Watch https://status.example.com/health and pause 2 s between the first two checks."


def waits(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [
        (e["kind"], e["data"]["wait_kind"])
        for e in events
        if e["kind"] in ("wait_registered", "wait_ended")
    ]


def test_the_task_sleeps_two_seconds_then_parks_on_the_cron_wait(serve) -> None:
    api = serve(app, stub_reply)
    task_id = api.create("monitor", ASK)
    asleep = api.wait(task_id, lambda t: t["status"] != "queued" and t["turn"] >= 2)
    slept_at = time.monotonic()
    assert asleep["status"] == "waiting_time" and asleep["turn"] == 2, api.log()
    assert waits(api.events(task_id)) == [("wait_registered", "sleep")]

    on_cron = api.wait(task_id, lambda t: t["turn"] >= 4 and t["status"] == "waiting_time")
    assert time.monotonic() - slept_at >= 1.5  # the sleep really took (about) 2 s
    assert on_cron["pending_hooks"] == []
    assert waits(api.events(task_id)) == [
        ("wait_registered", "sleep"),
        ("wait_ended", "sleep"),
        ("wait_registered", "cron"),
    ]


@pytest.fixture
def model() -> Iterator[OpenAIModel]:
    with StubOpenAIServer(default_reply=stub_reply) as stub:
        yield OpenAIModel("stub-key", stub.base_url)


def test_the_cron_tick_wakes_the_task_on_a_fake_clock(
    redis_client: Any, model: OpenAIModel
) -> None:
    clock = FakeClock(datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC))
    stack = LocalStack(
        app=app,
        client=redis_client,
        model=model,
        clock=clock,
        hook_secret=b"monitor-secret",
        public_base_url="http://127.0.0.1:9",
        fake_time=True,
    )
    try:
        task = stack.control.create_task("monitor", ASK)
        stack.run_due()
        assert stack.control.get_task(task.task_id).status == "waiting_time"  # the sleep
        clock.advance(2)
        stack.run_due()
        parked = stack.control.get_task(task.task_id)
        assert parked.status == "waiting_time" and parked.turn == 4  # now on the cron wait
        clock.advance(57)  # 09:00:59: before the tick
        assert stack.run_due() == 0
        assert stack.control.get_task(task.task_id).status == "waiting_time"
        clock.advance(1)  # 09:01:00: the tick
        stack.run_due()
        done = stack.control.get_task(task.task_id)
        assert done.status == "completed"
        report = str(done.output)
        assert report.startswith("https://status.example.com/health: 3 checks")
        assert "paused 2.0 s between checks 1 and 2" in report
        assert "cron tick of 2026-03-02T09:01:00+00:00 (* * * * *)" in report
    finally:
        stack.stop()
