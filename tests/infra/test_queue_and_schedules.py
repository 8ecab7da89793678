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


ALARMS = {
    # logical id: (namespace, metric(s), dimension value)
    "DeadLetterAlarm": ("AWS/SQS", {"ApproximateNumberOfMessagesVisible"}),
    "ScheduleDeadLetterAlarm": ("AWS/SQS", {"ApproximateNumberOfMessagesVisible"}),
    "TurnBacklogAlarm": ("AWS/SQS", {"ApproximateAgeOfOldestMessage"}),
    "ApiErrorsAlarm": ("AWS/Lambda", {"Errors"}),
    "TurnErrorsAlarm": ("AWS/Lambda", {"Errors"}),
    "MaintenanceErrorsAlarm": ("AWS/Lambda", {"Errors"}),
    "ThrottlesAlarm": ("AWS/Lambda", {"Throttles"}),
    "Api5xxAlarm": ("AWS/ApiGateway", {"5xx"}),
    "CacheStorageAlarm": ("AWS/ElastiCache", {"BytesUsedForCache"}),
    "CacheEcpuAlarm": ("AWS/ElastiCache", {"ElastiCacheProcessingUnits"}),
    "CacheThrottledAlarm": ("AWS/ElastiCache", {"ThrottledCmds"}),
}


def _alarms() -> dict[str, dict[str, object]]:
    resources = sam_template()["Resources"]
    return {
        n: r["Properties"] for n, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"
    }


def _metric_stats(props: dict[str, object]) -> list[dict[str, object]]:
    """Each metric an alarm reads: ``{"Namespace", "MetricName", "Dimensions"}``."""
    if "MetricName" in props:
        return [props]
    return [m["MetricStat"]["Metric"] for m in props["Metrics"] if "MetricStat" in m]  # type: ignore[index,union-attr]


def test_alarms_cover_every_function_the_queues_and_the_cache() -> None:
    alarms = _alarms()
    assert set(alarms) == set(ALARMS)
    for name, (namespace, metrics) in ALARMS.items():
        stats = _metric_stats(alarms[name])
        assert {s["Namespace"] for s in stats} == {namespace}, name
        assert {s["MetricName"] for s in stats} == metrics, name
        assert alarms[name]["ComparisonOperator"] == "GreaterThanThreshold", name
        assert alarms[name]["TreatMissingData"] == "notBreaching", name
        assert alarms[name]["AlarmActions"] == {
            "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
        }, name
    dims = {
        n: [d["Value"] for s in _metric_stats(a) for d in s["Dimensions"]]
        for n, a in alarms.items()
    }  # type: ignore[union-attr]
    for fn in ("Api", "Turn", "Maintenance"):
        assert dims[f"{fn}ErrorsAlarm"] == [{"Ref": f"{fn}Function"}]
    assert sorted(d["Ref"] for d in dims["ThrottlesAlarm"]) == [
        "ApiFunction", "MaintenanceFunction", "TurnFunction",
    ]  # fmt: skip
    assert dims["DeadLetterAlarm"] == [{"Fn::GetAtt": ["TurnDeadLetterQueue", "QueueName"]}]
    assert dims["ScheduleDeadLetterAlarm"] == [
        {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "QueueName"]}
    ]
    assert dims["TurnBacklogAlarm"] == [{"Fn::GetAtt": ["TurnQueue", "QueueName"]}]
    assert alarms["TurnBacklogAlarm"]["Threshold"] == {"Ref": "TurnBacklogAlarmSeconds"}
    # Serverless caches publish under the dimension clusterId (= the cache name, Ref Cache).
    for name in ("CacheStorageAlarm", "CacheEcpuAlarm", "CacheThrottledAlarm"):
        [stat] = _metric_stats(alarms[name])
        assert stat["Dimensions"] == [{"Name": "clusterId", "Value": {"Ref": "Cache"}}], name


def test_cache_alarms_compare_with_the_configured_limits() -> None:
    alarms = _alarms()
    storage = next(m for m in alarms["CacheStorageAlarm"]["Metrics"] if m.get("ReturnData"))  # type: ignore[attr-defined]
    assert "${CacheMaxDataStorageGb}" in storage["Expression"]["Fn::Sub"]
    ecpu = next(m for m in alarms["CacheEcpuAlarm"]["Metrics"] if m.get("ReturnData"))  # type: ignore[attr-defined]
    assert "${CacheMaxEcpuPerSecond}" in ecpu["Expression"]["Fn::Sub"]
    assert "PERIOD(ecpu)" in ecpu["Expression"]["Fn::Sub"]
    assert alarms["CacheStorageAlarm"]["Threshold"] == alarms["CacheEcpuAlarm"]["Threshold"] == 80


def test_the_sweep_schedule_retries_into_the_schedule_dead_letter_queue() -> None:
    resources = cfn_template()["Resources"]
    target = resources["MaintenanceFunctionSweep"]["Properties"]["Target"]
    dlq = {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": dlq}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert 60 <= target["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 86_400
    # The schedule's role (SAM's) may send to that queue, or the dead letters would be lost.
    role_id = target["RoleArn"]["Fn::GetAtt"][0]
    statements = [
        s
        for policy in resources[role_id]["Properties"]["Policies"]
        for s in policy["PolicyDocument"]["Statement"]
    ]
    assert any(
        s["Action"] in ("sqs:SendMessage", ["sqs:SendMessage"]) and s["Resource"] == dlq
        for s in statements
    )


def test_wake_schedules_may_dead_letter_into_the_schedule_queue() -> None:
    """Wake schedules use SchedulerRole (scheduler.py sets DeadLetterConfig from the env var)."""
    resources = cfn_template()["Resources"]
    dlq = {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]}
    granted = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": "SchedulerRole"} in r["Properties"]["Roles"]
    ]
    statements = [s for g in granted for s in g["PolicyDocument"]["Statement"]]
    assert any(s["Action"] == "sqs:SendMessage" and s["Resource"] == dlq for s in statements)
    for name, fn in resources.items():
        if fn["Type"] == "AWS::Lambda::Function":
            env = fn["Properties"]["Environment"]["Variables"]
            assert env["FACTORIAL_SCHEDULER_DLQ_ARN"] == dlq, name
