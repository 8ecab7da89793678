"""EventBridgeScheduler against moto (moto keeps schedules but never fires or validates them),
and the unix -> EventBridge cron translation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from factorial_aws.aws import clients
from factorial_aws.aws.scheduler import (
    RETRY_POLICY,
    EventBridgeScheduler,
    client_token,
    unix_cron_to_aws,
)
from factorial_aws.aws.sqs import parse_body
from factorial_aws.core.records import QueueMessage
from factorial_aws.testing import FakeClock
from tests.aws.helpers import Recorder

GROUP = "factorial-wakes"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:turns"
ROLE_ARN = "arn:aws:iam::123456789012:role/wakes"
NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
MESSAGE = QueueMessage(kind="wake", task_id="t-1", wait_id="w-1")


def _scheduler(client: Any, clock: FakeClock | None = None) -> EventBridgeScheduler:
    return EventBridgeScheduler(
        client, group=GROUP, target_arn=QUEUE_ARN, role_arn=ROLE_ARN, clock=clock or FakeClock(NOW)
    )


@pytest.fixture
def client(moto: None) -> Any:
    scheduler_client = clients.scheduler()
    scheduler_client.create_schedule_group(Name=GROUP)
    return scheduler_client


def test_schedule_creates_a_one_shot_utc_schedule_to_the_queue(client: Any) -> None:
    _scheduler(client).schedule("fa-w-1", NOW + timedelta(hours=2, seconds=5), MESSAGE)
    stored = client.get_schedule(Name="fa-w-1", GroupName=GROUP)
    assert stored["ScheduleExpression"] == "at(2026-03-01T14:00:05)"
    assert stored["ScheduleExpressionTimezone"] == "UTC"
    assert stored["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert stored["ActionAfterCompletion"] == "DELETE"
    assert stored["GroupName"] == GROUP
    target = stored["Target"]
    assert (target["Arn"], target["RoleArn"]) == (QUEUE_ARN, ROLE_ARN)
    assert parse_body(target["Input"]) == MESSAGE
    assert json.loads(target["Input"])["wait_id"] == "w-1"


def test_schedule_with_an_existing_name_is_success_and_keeps_the_first(client: Any) -> None:
    scheduler = _scheduler(client)
    scheduler.schedule("fa-w-1", NOW + timedelta(hours=2), MESSAGE)
    scheduler.schedule("fa-w-1", NOW + timedelta(hours=2), MESSAGE)
    scheduler.schedule("fa-w-1", NOW + timedelta(hours=5), MESSAGE)
    listed = client.list_schedules(GroupName=GROUP)["Schedules"]
    assert [s["Name"] for s in listed] == ["fa-w-1"]
    stored = client.get_schedule(Name="fa-w-1", GroupName=GROUP)
    assert stored["ScheduleExpression"] == "at(2026-03-01T14:00:00)"


def test_cancel_deletes_and_cancel_of_a_missing_schedule_is_success(client: Any) -> None:
    scheduler = _scheduler(client)
    scheduler.schedule("fa-w-1", NOW + timedelta(hours=2), MESSAGE)
    scheduler.cancel("fa-w-1")
    assert client.list_schedules(GroupName=GROUP)["Schedules"] == []
    scheduler.cancel("fa-w-1")
    scheduler.cancel("never-created")


def test_other_client_errors_are_not_swallowed() -> None:
    from botocore.exceptions import ClientError

    class Failing:
        def create_schedule(self, **kwargs: Any) -> None:
            raise ClientError({"Error": {"Code": "ValidationException"}}, "CreateSchedule")

        def delete_schedule(self, **kwargs: Any) -> None:
            raise ClientError({"Error": {"Code": "ThrottlingException"}}, "DeleteSchedule")

    scheduler = _scheduler(Failing())
    with pytest.raises(ClientError, match="ValidationException"):
        scheduler.schedule("fa-w-1", NOW + timedelta(hours=2), MESSAGE)
    with pytest.raises(ClientError, match="ThrottlingException"):
        scheduler.cancel("fa-w-1")


@pytest.mark.parametrize("name", ["", "a" * 65, "bad name", "a/b", "fa:w", "ü"])
def test_invalid_names_are_rejected_before_any_call(name: str) -> None:
    recorder = Recorder()
    scheduler = _scheduler(recorder)
    with pytest.raises(ValueError, match="schedule name"):
        scheduler.schedule(name, NOW + timedelta(hours=2), MESSAGE)
    with pytest.raises(ValueError, match="schedule name"):
        scheduler.cancel(name)
    assert recorder.calls == []


def test_longest_valid_name_and_its_client_token() -> None:
    recorder = Recorder()
    name = "fa-" + "x" * 59 + ".z"
    assert len(name) == 64
    _scheduler(recorder).schedule(name, NOW + timedelta(hours=2), MESSAGE)
    [(operation, kwargs)] = recorder.calls
    assert operation == "create_schedule"
    token = kwargs["ClientToken"]
    assert len(token) <= 64 and token.isalnum()
    assert token == client_token(
        GROUP, name, kwargs["ScheduleExpression"], kwargs["Target"]["Input"]
    )
    # Deterministic: the same request gives the same token; another time another token.
    _scheduler(recorder).schedule(name, NOW + timedelta(hours=2), MESSAGE)
    _scheduler(recorder).schedule(name, NOW + timedelta(hours=3), MESSAGE)
    assert recorder.calls[1][1]["ClientToken"] == token
    assert recorder.calls[2][1]["ClientToken"] != token


def test_invalid_group_is_rejected_at_construction() -> None:
    with pytest.raises(ValueError, match="group"):
        EventBridgeScheduler(
            Recorder(),
            group="bad group",
            target_arn=QUEUE_ARN,
            role_arn=ROLE_ARN,
            clock=FakeClock(),
        )


@pytest.mark.parametrize(
    ("at", "expression"),
    [
        # In the past or within the scheduler's one-minute precision: now + 60 s.
        (NOW - timedelta(hours=1), "at(2026-03-01T12:01:00)"),
        (NOW, "at(2026-03-01T12:01:00)"),
        (NOW + timedelta(seconds=59), "at(2026-03-01T12:01:00)"),
        (NOW + timedelta(seconds=61), "at(2026-03-01T12:01:01)"),
        # Fractions round up, never earlier than asked.
        (NOW + timedelta(hours=1, microseconds=1), "at(2026-03-01T13:00:01)"),
        # Other offsets are converted to UTC.
        (
            datetime(2026, 3, 1, 15, 30, tzinfo=timezone(timedelta(hours=2))),
            "at(2026-03-01T13:30:00)",
        ),
    ],
)
def test_at_expression(at: datetime, expression: str) -> None:
    assert _scheduler(Recorder()).at_expression(at) == expression


def test_naive_time_is_rejected_before_any_call() -> None:
    recorder = Recorder()
    with pytest.raises(ValueError, match="timezone-aware"):
        _scheduler(recorder).schedule("fa-w-1", datetime(2026, 3, 1, 15, 0), MESSAGE)  # noqa: DTZ001
    assert recorder.calls == []


@pytest.mark.parametrize(
    ("unix", "aws"),
    [
        # the examples of tooling.md section 6
        ("*/5 * * * *", "cron(0/5 * * * ? *)"),
        ("0 9 * * 1-5", "cron(0 9 ? * 2-6 *)"),
        ("30 2 1 * *", "cron(30 2 1 * ? *)"),
        # day of week: +1, 0 and 7 are Sunday, names unchanged, steps expanded
        ("0 0 * * 0", "cron(0 0 ? * 1 *)"),
        ("0 0 * * 7", "cron(0 0 ? * 1 *)"),
        ("0 0 * * 6", "cron(0 0 ? * 7 *)"),
        ("0 0 * * 0,6", "cron(0 0 ? * 1,7 *)"),
        ("0 0 * * 5-7", "cron(0 0 ? * 1,6-7 *)"),
        ("0 0 * * */2", "cron(0 0 ? * 1,3,5,7 *)"),
        ("0 0 * * MON-FRI", "cron(0 0 ? * MON-FRI *)"),
        ("0 0 * * sun", "cron(0 0 ? * SUN *)"),
        # other fields
        ("15 */2 */3 JAN-MAR *", "cron(15 0/2 1/3 JAN-MAR ? *)"),
        ("0,30 8-18 * * *", "cron(0,30 8-18 * * ? *)"),
        # macros
        ("@hourly", "cron(0 * * * ? *)"),
        ("@daily", "cron(0 0 * * ? *)"),
        ("@weekly", "cron(0 0 ? * 1 *)"),
        ("@monthly", "cron(0 0 1 * ? *)"),
    ],
)
def test_unix_cron_to_aws(unix: str, aws: str) -> None:
    assert unix_cron_to_aws(unix) == aws


@pytest.mark.parametrize(
    ("unix", "reason"),
    [
        ("0 0 1 * 1", "both day of month and day of week"),
        ("0 0 1-7 * MON", "both day of month and day of week"),
        ("* * * *", "5 fields"),
        ("* * * * * *", "5 fields"),
        ("@reboot", "5 fields"),
        ("60 * * * *", "minute"),
        ("0 24 * * *", "hour"),
        ("0 0 0 * *", "day-of-month"),
        ("0 0 * 13 *", "month"),
        ("0 0 * * 8", "day-of-week"),
        ("0 0 ? * *", "day-of-month"),
        ("0 0 * * 1#2", "day-of-week"),
        ("50-10 * * * *", "backwards"),
        ("*/0 * * * *", "step of 0"),
        ("0 0 * * MON-5", "mixes names and numbers"),
    ],
)
def test_unix_cron_to_aws_rejects(unix: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        unix_cron_to_aws(unix)


DLQ_ARN = "arn:aws:sqs:us-east-1:123456789012:schedule-dlq"


def test_wake_schedules_retry_and_dead_letter_to_the_configured_queue(client: Any) -> None:
    scheduler = EventBridgeScheduler(
        client,
        group=GROUP,
        target_arn=QUEUE_ARN,
        role_arn=ROLE_ARN,
        clock=FakeClock(NOW),
        dead_letter_arn=DLQ_ARN,
    )
    scheduler.schedule("fa-w-1", NOW + timedelta(hours=2), MESSAGE)
    target = client.get_schedule(Name="fa-w-1", GroupName=GROUP)["Target"]
    assert target["DeadLetterConfig"] == {"Arn": DLQ_ARN}
    assert target["RetryPolicy"] == RETRY_POLICY
    # Scheduler's limits: 60-86400 s of event age, 0-185 attempts.
    assert 60 <= RETRY_POLICY["MaximumEventAgeInSeconds"] <= 86_400
    assert 0 < RETRY_POLICY["MaximumRetryAttempts"] <= 185


def test_without_a_dead_letter_queue_the_target_has_none_but_still_retries() -> None:
    recorder = Recorder()
    _scheduler(recorder).schedule("fa-w-1", NOW + timedelta(hours=2), MESSAGE)
    [(_, kwargs)] = recorder.calls
    assert "DeadLetterConfig" not in kwargs["Target"]
    assert kwargs["Target"]["RetryPolicy"] == RETRY_POLICY
