"""Least privilege: what each role of the translated template may do."""

from __future__ import annotations

from typing import Any

from tests.infra.template import cfn_template, lint_module, resources

SCHEDULE_ARN = (
    "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}"
    ":schedule/${WakeScheduleGroup}/*"
)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(role: str) -> list[dict[str, Any]]:
    """The Allow statements a role gets: inline, plus customer managed policies it attaches."""
    template = cfn_template()
    props = template["Resources"][role]["Properties"]
    found = [
        s
        for policy in props.get("Policies", [])
        for s in _as_list(policy["PolicyDocument"]["Statement"])
    ]
    for arn in props.get("ManagedPolicyArns", []):
        assert set(arn) == {"Ref"}, f"{role} attaches a policy outside the template: {arn}"
        document = template["Resources"][arn["Ref"]]["Properties"]["PolicyDocument"]
        found.extend(_as_list(document["Statement"]))
    return [s for s in found if s["Effect"] == "Allow"]


def _grants(role: str) -> dict[str, list[Any]]:
    """action -> the resources a role gets it on."""
    grants: dict[str, list[Any]] = {}
    for statement in _statements(role):
        for action in _as_list(statement["Action"]):
            grants.setdefault(action, []).extend(_as_list(statement["Resource"]))
    return grants


def test_no_role_has_wildcards_beyond_the_allow_list() -> None:
    assert lint_module().iam_problems(cfn_template()) == []


def test_the_scheduler_role_may_only_send_to_the_turn_queue() -> None:
    role = cfn_template()["Resources"]["SchedulerRole"]["Properties"]
    assert "ManagedPolicyArns" not in role
    assert _grants("SchedulerRole") == {"sqs:SendMessage": [{"Fn::GetAtt": ["TurnQueue", "Arn"]}]}
    assert _schedule_trust("SchedulerRole") == {"Fn::Sub": GROUP_ARN + "${WakeScheduleGroup}"}


GROUP_ARN = "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule-group/"


def _schedule_trust(role: str) -> Any:
    """The schedule group a schedule role's trust policy admits (the confused deputy guard of
    EventBridge Scheduler: aws:SourceAccount and aws:SourceArn of the schedule group)."""
    trust = cfn_template()["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    condition = statement["Condition"]["StringEquals"]
    assert set(condition) == {"aws:SourceAccount", "aws:SourceArn"}
    assert condition["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    return condition["aws:SourceArn"]


def test_functions_manage_schedules_in_their_group_only() -> None:
    """Turns create wake schedules (passing the scheduler role); the API deletes them when it
    cancels a task; the sweep does neither (tests/infra/test_iam_simulation.py proves each)."""
    turn = _grants("TurnFunctionRole")
    assert turn["scheduler:CreateSchedule"] == [{"Fn::Sub": SCHEDULE_ARN}]
    assert turn["iam:PassRole"] == [{"Fn::GetAtt": ["SchedulerRole", "Arn"]}]
    pass_role = next(s for s in _statements("TurnFunctionRole") if s["Action"] == "iam:PassRole")
    assert pass_role["Condition"] == {
        "StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}
    }
    assert "scheduler:DeleteSchedule" not in turn
    api = _grants("ApiFunctionRole")
    assert api["scheduler:DeleteSchedule"] == [{"Fn::Sub": SCHEDULE_ARN}]
    assert not {"scheduler:CreateSchedule", "iam:PassRole"} & set(api)
    assert not any(a.startswith(("scheduler:", "iam:")) for a in _grants("MaintenanceFunctionRole"))


def test_every_function_connects_to_the_cache_as_its_iam_user() -> None:
    for role in ("ApiFunctionRole", "TurnFunctionRole", "MaintenanceFunctionRole"):
        assert sorted(map(str, _grants(role)["elasticache:Connect"])) == sorted(
            map(str, [{"Fn::GetAtt": ["Cache", "ARN"]}, {"Fn::GetAtt": ["CacheUser", "Arn"]}])
        )
        assert _grants(role)["sqs:SendMessage"] == [{"Fn::GetAtt": ["TurnQueue", "Arn"]}]


def test_secrets_are_readable_only_where_needed() -> None:
    assert _grants("TurnFunctionRole")["secretsmanager:GetSecretValue"] == [
        {"Ref": "HookSecret"},
        {"Ref": "ModelKeySecret"},
    ]
    webhook_secrets = {
        "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:"
        "secret:${AWS::StackName}/webhooks/*"
    }
    assert _grants("ApiFunctionRole")["secretsmanager:GetSecretValue"] == [
        {"Ref": "HookSecret"},
        webhook_secrets,
    ]
    assert "secretsmanager:GetSecretValue" not in _grants("MaintenanceFunctionRole")


def test_only_the_turn_function_consumes_the_queue() -> None:
    consume = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
    turn = _grants("TurnFunctionRole")
    assert all(turn[a] == [{"Fn::GetAtt": ["TurnQueue", "Arn"]}] for a in consume)
    for role in ("ApiFunctionRole", "MaintenanceFunctionRole"):
        assert not consume & set(_grants(role)), role


def test_functions_log_to_their_own_log_group() -> None:
    template = cfn_template()
    for fn_name, fn in resources(template, "AWS::Lambda::Function").items():
        role = fn["Properties"]["Role"]["Fn::GetAtt"][0]
        group = fn["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        grants = _grants(role)
        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            assert grants[action] == [{"Fn::GetAtt": [group, "Arn"]}], fn_name
        assert "logs:CreateLogGroup" not in grants, fn_name


def test_the_sweep_schedule_has_its_own_guarded_role() -> None:
    """No generated role: SAM's for the sweep schedule has no confused deputy guard. Ours may
    only invoke the maintenance function and dead-letter a delivery it gave up on."""
    template = cfn_template()
    explicit = {
        "SchedulerRole",
        "ApiFunctionRole",
        "TurnFunctionRole",
        "MaintenanceFunctionRole",
        "MaintenanceSweepRole",
    }
    assert set(resources(template, "AWS::IAM::Role")) == explicit
    target = template["Resources"]["MaintenanceFunctionSweep"]["Properties"]["Target"]
    assert target["RoleArn"] == {"Fn::GetAtt": ["MaintenanceSweepRole", "Arn"]}
    assert "GroupName" not in template["Resources"]["MaintenanceFunctionSweep"]["Properties"]
    assert _schedule_trust("MaintenanceSweepRole") == {"Fn::Sub": GROUP_ARN + "default"}
    assert _grants("MaintenanceSweepRole") == {
        "lambda:InvokeFunction": [{"Fn::GetAtt": ["MaintenanceFunction", "Arn"]}],
        "sqs:SendMessage": [{"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]}],
    }
