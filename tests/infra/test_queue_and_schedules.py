"""Turn queue, event source mapping, schedules and alarms."""

from __future__ import annotations

from factorial_aws.aws.settings import LEASE_MARGIN_S
from tests.infra.template import cfn_template, sam_template


def _timeouts() -> list[int]:
    return [int(v) for v in sam_template()["Parameters"]["TurnTimeoutSeconds"]["AllowedValues"]]


def test_visibility_timeout_is_at_least_six_turn_timeouts_for_every_allowed_timeout() -> None:
    table = sam_template()["Mappings"]["TurnTimeouts"]
    assert sorted(int(k) for k in table) == sorted(_timeouts())
    for timeout in _timeouts():
        row = table[str(timeout)]
        assert int(row["VisibilityTimeout"]) >= 6 * timeout, timeout
        assert int(row["VisibilityTimeout"]) <= 43_200, timeout  # SQS maximum
        assert timeout <= 900, timeout  # Lambda maximum
        assert int(row["LeaseSeconds"]) == timeout + LEASE_MARGIN_S, timeout


def test_queue_and_function_take_the_same_timeout_parameter() -> None:
    resources = cfn_template()["Resources"]
    assert resources["TurnFunction"]["Properties"]["Timeout"] == {"Ref": "TurnTimeoutSeconds"}
    assert resources["TurnQueue"]["Properties"]["VisibilityTimeout"] == {
        "Fn::FindInMap": ["TurnTimeouts", {"Ref": "TurnTimeoutSeconds"}, "VisibilityTimeout"]
    }
    lease = {"Fn::FindInMap": ["TurnTimeouts", {"Ref": "TurnTimeoutSeconds"}, "LeaseSeconds"]}
    for name in ("ApiFunction", "TurnFunction", "MaintenanceFunction"):
        env = resources[name]["Properties"]["Environment"]["Variables"]
        assert env["FACTORIAL_LEASE_S"] == lease, name


def test_dead_letter_queue_redrive() -> None:
    queue = cfn_template()["Resources"]["TurnQueue"]["Properties"]
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["TurnDeadLetterQueue", "Arn"]},
        "maxReceiveCount": {"Ref": "MaxReceiveCount"},
    }
    assert "FifoQueue" not in queue  # standard queue: per-message delays


def test_event_source_mapping() -> None:
    template = cfn_template()
    mapping = template["Resources"]["TurnFunctionTurns"]
    assert mapping["Type"] == "AWS::Lambda::EventSourceMapping"
    props = mapping["Properties"]
    assert props["EventSourceArn"] == {"Fn::GetAtt": ["TurnQueue", "Arn"]}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BatchSize"] == {"Ref": "BatchSize"}
    assert props["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "MaxConcurrency"}}
    params = template["Parameters"]
    assert (params["MaxConcurrency"]["MinValue"], params["MaxConcurrency"]["MaxValue"]) == (2, 1000)
    # Above 10 a batching window is required; turns of one batch share one timeout anyway.
    assert params["BatchSize"]["MaxValue"] <= 10


def test_maintenance_runs_every_minute_under_a_stack_unique_name() -> None:
    schedule = cfn_template()["Resources"]["MaintenanceFunctionSweep"]
    assert schedule["Type"] == "AWS::Scheduler::Schedule"
    props = schedule["Properties"]
    assert props["ScheduleExpression"] == "rate(1 minute)"
    assert props["Name"] == {"Fn::Sub": "${AWS::StackName}-maintenance"}
    assert props["Target"]["Arn"] == {"Fn::GetAtt": ["MaintenanceFunction", "Arn"]}


def test_wake_schedule_group_is_named_after_the_stack() -> None:
    group = sam_template()["Resources"]["WakeScheduleGroup"]["Properties"]
    assert group["Name"] == {"Fn::Sub": "${AWS::StackName}-wakes"}


def test_alarms() -> None:
    resources = sam_template()["Resources"]
    alarms = {
        (p["Namespace"], p["MetricName"]): p
        for r in resources.values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        for p in [r["Properties"]]
    }
    assert set(alarms) == {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/Lambda", "Errors"),
        ("AWS/ApiGateway", "5xx"),
    }
    dlq = alarms[("AWS/SQS", "ApproximateNumberOfMessagesVisible")]
    assert dlq["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["TurnDeadLetterQueue", "QueueName"]}}
    ]
    assert alarms[("AWS/Lambda", "Errors")]["Dimensions"][0]["Value"] == {"Ref": "TurnFunction"}
    for props in alarms.values():
        assert props["Threshold"] == 0
        assert props["ComparisonOperator"] == "GreaterThanThreshold"
