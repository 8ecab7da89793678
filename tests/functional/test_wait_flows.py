"""Waits through the handlers: SQS delays, EventBridge schedules (moto never fires them: the test
delivers the schedule's target input itself), cron across a DST change, children joins."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

import pytest

from factorial_aws import App
from factorial_aws.core.records import QueueMessage
from factorial_aws.runtime.dispatch import schedule_name
from factorial_aws.testing import FakeClock, call, tool_calls_reply
from tests.functional.apps import after_tool, agent, fan_out_tool, fan_rule, nap, researcher, tick
from tests.functional.conftest import ROLE_ARN, HarnessFactory
from tests.functional.harness import Harness


def nap_harness(make_harness: HarnessFactory, seconds: int, **kwargs: Any) -> tuple[Harness, str]:
    rule = after_tool(tool_calls_reply(call("nap", seconds=seconds)))
    h = make_harness(App([agent("napper", nap)]), rule, **kwargs)
    task_id = h.create("napper", "nap")
    h.run_turns()
    return h, task_id


def test_a_30_s_sleep_is_a_delayed_sqs_message(make_harness: HarnessFactory) -> None:
    h, task_id = nap_harness(make_harness, 30)
    task = h.http("GET", f"/tasks/{task_id}").json()
    assert task["status"] == "waiting_time"
    wake = h.sqs.sent[-1]
    assert wake["DelaySeconds"] == 30
    message = QueueMessage.model_validate_json(wake["MessageBody"])
    assert message.kind == "wake" and message.task_id == task_id and message.wait_id
    assert h.delayed() == 1 and h.receive() == []  # SQS holds it back (for 30 real seconds)

    h.clock.advance(25)  # an early delivery is re-delayed for the rest, not run
    h.deliver(wake["MessageBody"])
    assert h.task(task_id)["status"] == "waiting_time"
    assert h.sqs.sent[-1]["DelaySeconds"] == 5

    h.clock.advance(5)
    h.deliver(wake["MessageBody"])
    assert h.task(task_id)["status"] == "queued"
    h.run_turns()
    done = h.task(task_id)
    assert done["status"] == "completed" and "slept_for" in done["output"]

    h.deliver(wake["MessageBody"])  # a duplicate wake changes nothing
    assert h.run_turns() == 0 and h.task(task_id)["status"] == "completed"


def test_a_2_h_sleep_is_a_one_shot_schedule(make_harness: HarnessFactory) -> None:
    h, task_id = nap_harness(make_harness, 7200)
    task = h.task(task_id)
    assert task["status"] == "waiting_time"
    wait_id = h.wiring.control.get_task(task_id).wait_id
    assert wait_id is not None
    schedule = h.schedule(schedule_name(wait_id))
    assert schedule["ScheduleExpression"] == "at(2026-01-01T02:00:00)"
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["ActionAfterCompletion"] == "DELETE"
    target = schedule["Target"]
    assert target["Arn"] == h.queue_arn and target["RoleArn"] == ROLE_ARN
    assert json.loads(target["Input"])["wait_id"] == wait_id
    assert h.receive() == [] and h.delayed() == 0

    h.clock.advance(hours=2)  # "fire" the schedule: SQS delivers its input to the turn function
    assert h.deliver(target["Input"]) == {"batchItemFailures": []}
    h.run_turns()
    assert h.task(task_id)["status"] == "completed"


def test_a_lost_schedule_is_repaired_by_the_maintenance_handler(
    make_harness: HarnessFactory,
) -> None:
    h, task_id = nap_harness(make_harness, 7200)
    wait_id = h.wiring.control.get_task(task_id).wait_id
    assert wait_id is not None
    h.scheduler.delete_schedule(Name=schedule_name(wait_id), GroupName="factorial-wakes")
    h.clock.advance(hours=2)
    report = h.sweep()
    assert report["woke"] == 1 and set(report) >= {"expired", "redispatched", "reclaimed"}
    h.run_turns()
    assert h.task(task_id)["status"] == "completed"


def cron_harness(make_harness: HarnessFactory, start: datetime, expr: str) -> tuple[Harness, str]:
    rule = after_tool(tool_calls_reply(call("tick", expr=expr, tz="Europe/Paris")))
    h = make_harness(App([agent("ticker", tick)]), rule, clock=FakeClock(start))
    task_id = h.create("ticker", "wait for the tick")
    h.run_turns()
    assert h.task(task_id)["status"] == "waiting_time"
    return h, task_id


def test_cron_across_the_spring_dst_change_uses_the_new_offset(
    make_harness: HarnessFactory,
) -> None:
    # Paris moves from +01:00 to +02:00 on 2026-03-29 at 02:00 local: 09:00 is then 07:00 UTC
    h, task_id = cron_harness(make_harness, datetime(2026, 3, 28, 10, 0, tzinfo=UTC), "0 9 * * *")
    wait_id = h.wiring.control.get_task(task_id).wait_id
    assert wait_id is not None
    schedule = h.schedule(schedule_name(wait_id))
    assert schedule["ScheduleExpression"] == "at(2026-03-29T07:00:00)"
    h.clock.advance(hours=21)
    h.deliver(schedule["Target"]["Input"])
    h.run_turns()
    done = h.task(task_id)
    assert done["status"] == "completed" and "cron_tick" in done["output"]


def test_cron_minutes_before_the_dst_change_is_a_short_sqs_delay(
    make_harness: HarnessFactory,
) -> None:
    # 01:58 CET; the next 03:00 local is 03:00 CEST = 01:00 UTC, two minutes away (not 62)
    h, task_id = cron_harness(make_harness, datetime(2026, 3, 29, 0, 58, tzinfo=UTC), "0 3 * * *")
    wake = h.sqs.sent[-1]
    assert wake["DelaySeconds"] == 120
    h.clock.advance(120)
    h.deliver(wake["MessageBody"])
    h.run_turns()
    assert h.task(task_id)["status"] == "completed"


@pytest.mark.parametrize("join", ["all", "any"])
def test_fan_out_to_three_children_and_join(
    make_harness: HarnessFactory, join: Literal["all", "any"]
) -> None:
    lead = agent("lead", fan_out_tool(join))
    h = make_harness(App([lead, researcher]), fan_rule)
    task_id = h.create("lead", "go")
    h.run_turns()
    done = h.task(task_id)
    assert done["status"] == "completed" and len(done["children"]) == 3
    for child in done["children"]:
        view = h.task(child)
        assert view["status"] == "completed" and view["parent_id"] == task_id
    topics_seen = sum(f"notes on topic {t}" in str(done["output"]) for t in "abc")
    assert topics_seen == (3 if join == "all" else 1)
    assert not h.failures
