"""Cache, network, secrets and parameter constraints."""

from __future__ import annotations

import re

import pytest

from tests.infra.template import cfn_template, failing_rules, parameter_violations, sam_template

STACK_SUFFIX = {
    "Fn::Select": [
        0,
        {"Fn::Split": ["-", {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}]},
    ]
}
CACHE_NAMES = {"Fn::Sub": ["fa-${Stage}-${StackSuffix}", {"StackSuffix": STACK_SUFFIX}]}
#: The cache's own name: CacheName, else one that no parameter changes (the stack id's suffix).
CACHE_NAME = {
    "Fn::If": [
        "HasCacheName",
        {"Ref": "CacheName"},
        {"Fn::Sub": ["fa-${StackSuffix}", {"StackSuffix": STACK_SUFFIX}]},
    ]
}


def test_cache_is_serverless_valkey_8_with_parameterised_limits() -> None:
    cache = sam_template()["Resources"]["Cache"]["Properties"]
    assert cache["Engine"] == "valkey"
    assert cache["MajorEngineVersion"] == "8"
    assert cache["CacheUsageLimits"] == {
        "DataStorage": {"Maximum": {"Ref": "CacheMaxDataStorageGb"}, "Unit": "GB"},
        "ECPUPerSecond": {"Maximum": {"Ref": "CacheMaxEcpuPerSecond"}},
    }
    assert cache["UserGroupId"] == {"Ref": "CacheUserGroup"}
    assert cache["ServerlessCacheName"] == CACHE_NAME


def test_the_cache_name_depends_on_no_parameter_but_cache_name() -> None:
    """The name is create-only: a Stage (or any other) change must not make a new, empty cache."""
    name = sam_template()["Resources"]["Cache"]["Properties"]["ServerlessCacheName"]
    refs = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "Ref" in node:
                refs.add(node["Ref"])
            for key, value in node.items():
                if key == "Fn::Sub" and isinstance(value, list):
                    refs.update(v for v in re.findall(r"\$\{([^}.]+)\}", value[0]))
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(name)
    params = set(sam_template()["Parameters"])
    assert refs & params == {"CacheName"}, refs
    assert sam_template()["Conditions"]["HasCacheName"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "CacheName"}, ""]}]
    }


def test_stateful_resources_are_retained_and_the_cache_keeps_snapshots() -> None:
    resources = sam_template()["Resources"]
    stateful = {
        n
        for n, r in resources.items()
        if r["Type"]
        in ("AWS::ElastiCache::ServerlessCache", "AWS::SQS::Queue", "AWS::SecretsManager::Secret")
    }
    assert stateful == {
        "Cache", "TurnQueue", "TurnDeadLetterQueue", "ScheduleDeadLetterQueue", "ModelKeySecret",
        "HookSecret", "GitHubWebhookSecret", "StripeWebhookSecret", "SlackWebhookSecret",
        "StandardWebhookSecret",
    }  # fmt: skip
    for name in stateful:
        assert resources[name]["DeletionPolicy"] == "Retain", name
        assert resources[name]["UpdateReplacePolicy"] == "Retain", name
    for name, r in resources.items():
        if r["Type"] == "AWS::Logs::LogGroup":  # expire by retention; explicit so lint sees it
            assert (r["DeletionPolicy"], r["UpdateReplacePolicy"]) == ("Delete", "Delete"), name
    cache = resources["Cache"]["Properties"]
    assert cache["SnapshotRetentionLimit"] == {"Ref": "CacheSnapshotRetentionDays"}
    assert cache["DailySnapshotTime"] == {
        "Fn::If": [
            "KeepsCacheSnapshots",
            {"Ref": "CacheDailySnapshotTime"},
            {"Ref": "AWS::NoValue"},
        ]
    }
    params = sam_template()["Parameters"]["CacheSnapshotRetentionDays"]
    assert (params["MinValue"], params["MaxValue"]) == (0, 35)


def test_cache_iam_user() -> None:
    resources = sam_template()["Resources"]
    user = resources["CacheUser"]["Properties"]
    assert user["UserId"] == user["UserName"] == CACHE_NAMES  # IAM auth needs UserId == UserName
    assert user["AuthenticationMode"] == {"Type": "iam"}
    group = resources["CacheUserGroup"]["Properties"]
    assert group["UserIds"] == [{"Ref": "CacheUser"}]
    assert group["Engine"] == user["Engine"] == "valkey"


def test_cache_names_fit_elasticache_rules_for_every_stage() -> None:
    """Lowercase, starts with a letter, no '--', no trailing '-', <= 40 characters."""
    for stage in ("a", "dev", "prod-eu-1", "x" * 16):
        assert parameter_violations("Stage", stage) == []
        name = f"fa-{stage}-0123abcd"
        assert len(name) <= 40
        assert name == name.lower()
        assert "--" not in name
        assert not name.endswith("-")


def test_cache_admits_valkey_ports_from_the_functions_only() -> None:
    resources = sam_template()["Resources"]
    ingress = [
        r["Properties"] for r in resources.values() if r["Type"] == "AWS::EC2::SecurityGroupIngress"
    ]
    assert ingress == [
        {
            "GroupId": {"Fn::GetAtt": ["CacheSecurityGroup", "GroupId"]},
            "Description": ingress[0]["Description"],
            "IpProtocol": "tcp",
            "FromPort": 6379,
            "ToPort": 6380,
            "SourceSecurityGroupId": {"Fn::GetAtt": ["FunctionSecurityGroup", "GroupId"]},
        }
    ]
    assert "SecurityGroupIngress" not in resources["CacheSecurityGroup"]["Properties"]


def test_created_network() -> None:
    resources = sam_template()["Resources"]
    subnets = [n for n, r in resources.items() if r["Type"] == "AWS::EC2::Subnet"]
    assert sorted(subnets) == ["PrivateSubnetA", "PrivateSubnetB", "PublicSubnet", "PublicSubnetB"]
    assert all(resources[n]["Condition"] == "CreateVpc" for n in subnets if n != "PublicSubnetB")
    assert resources["PublicDefaultRoute"]["DependsOn"] == "InternetGatewayAttachment"
    assert resources["NatAddress"]["DependsOn"] == "InternetGatewayAttachment"
    for name in ("NatGateway", "NatAddress", "PrivateDefaultRoute"):
        assert resources[name]["Condition"] == "CreateNat", name
    conditions = sam_template()["Conditions"]
    assert conditions["CreateNat"] == {
        "Fn::And": [{"Condition": "CreateVpc"}, {"Fn::Equals": [{"Ref": "ModelEgress"}, "nat"]}]
    }


def test_one_nat_gateway_per_az_on_request() -> None:
    resources = sam_template()["Resources"]
    second = {n for n, r in resources.items() if r.get("Condition") == "CreateSecondNat"}
    assert second == {
        "PublicSubnetB", "PublicSubnetBRouteTableAssociation", "NatAddressB", "NatGatewayB",
        "PrivateRouteTableB", "PrivateDefaultRouteB",
    }  # fmt: skip
    assert sam_template()["Conditions"]["CreateSecondNat"] == {
        "Fn::And": [{"Condition": "CreateNat"}, {"Fn::Equals": [{"Ref": "NatGateways"}, "per-az"]}]
    }
    a, b = (
        resources[n]["Properties"]["AvailabilityZone"] for n in ("PublicSubnet", "PublicSubnetB")
    )
    assert a != b
    assert (
        resources["PublicSubnetB"]["Properties"]["AvailabilityZone"]
        == resources["PrivateSubnetB"]["Properties"]["AvailabilityZone"]
    )
    assert resources["NatGatewayB"]["Properties"]["SubnetId"] == {"Ref": "PublicSubnetB"}
    assert resources["PrivateDefaultRouteB"]["Properties"]["NatGatewayId"] == {"Ref": "NatGatewayB"}
    # Subnet B routes through its own AZ's gateway when there is one.
    assert resources["PrivateSubnetBRouteTableAssociation"]["Properties"]["RouteTableId"] == {
        "Fn::If": ["CreateSecondNat", {"Ref": "PrivateRouteTableB"}, {"Ref": "PrivateRouteTable"}]
    }
    assert resources["PrivateSubnetARouteTableAssociation"]["Properties"]["RouteTableId"] == {
        "Ref": "PrivateRouteTable"
    }


PARAMS = {"ExistingVpcId": "", "ExistingSubnetIds": [""], "ModelEgress": "nat"}
OWN_VPC = {"ExistingVpcId": "vpc-0123456789abcdef0", "ExistingSubnetIds": ["subnet-1", "subnet-2"]}


@pytest.mark.parametrize(
    ("overrides", "refused_by"),
    [
        ({}, []),
        ({"ModelEgress": "none"}, ["CreatedVpcNeedsNat"]),  # every function would be cut off
        ({**OWN_VPC, "ModelEgress": "none"}, []),
        ({**OWN_VPC, "ModelEgress": "nat"}, []),  # ignored with your own VPC
        ({"ExistingVpcId": OWN_VPC["ExistingVpcId"]}, ["ExistingVpcNeedsSubnets"]),
        (
            {"ExistingSubnetIds": OWN_VPC["ExistingSubnetIds"]},
            ["SubnetsNeedExistingVpc"],
        ),
    ],
    ids=["defaults", "none-created-vpc", "none-own-vpc", "nat-own-vpc", "vpc-only", "subnets-only"],
)
def test_template_rules_on_the_translated_template(
    overrides: dict[str, object], refused_by: list[str]
) -> None:
    """The rules survive the SAM transform and refuse exactly the broken combinations."""
    rules = cfn_template()["Rules"]
    assert failing_rules(rules, {**PARAMS, **overrides}) == refused_by


def test_secrets() -> None:
    resources = sam_template()["Resources"]
    hook = resources["HookSecret"]["Properties"]
    assert "GenerateSecretString" in hook
    assert "SecretString" not in hook
    model = resources["ModelKeySecret"]["Properties"]
    assert "SecretString" in model
    assert "GenerateSecretString" not in model


def test_every_constrained_parameter_explains_its_constraint() -> None:
    constraints = {"AllowedPattern", "AllowedValues", "MinValue", "MaxValue", "MinLength"}
    for name, spec in sam_template()["Parameters"].items():
        if constraints & set(spec):
            assert spec.get("ConstraintDescription", "").strip(), name


def test_defaults_satisfy_their_own_constraints() -> None:
    for name, spec in sam_template()["Parameters"].items():
        if spec["Type"] in ("String", "Number"):
            assert parameter_violations(name, str(spec.get("Default", ""))) == [], name


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Stage", "Dev"),
        ("Stage", "dev_1"),
        ("Stage", "-dev"),
        ("Stage", "dev-"),
        ("Stage", "a--b"),
        ("Stage", ""),
        ("Stage", "x" * 17),
        ("TurnTimeoutSeconds", "30"),
        ("TurnTimeoutSeconds", "250"),
        ("TurnTimeoutSeconds", "901"),
        ("TaskTtlSeconds", "59"),
        ("TaskTtlSeconds", "31536001"),
        ("TaskTtlSeconds", "a week"),
        ("LogLevel", "info"),
        ("LogLevel", "TRACE"),
        ("BatchSize", "0"),
        ("BatchSize", "11"),
        ("MaxConcurrency", "1"),
        ("MaxConcurrency", "1001"),
        ("MaxReceiveCount", "0"),
        ("CacheMaxDataStorageGb", "0"),
        ("CacheMaxEcpuPerSecond", "999"),
        ("ModelEgress", "NAT"),
        ("ModelEgress", "igw"),
        ("ModelBaseUrl", "api.openai.com/v1"),
        ("ModelBaseUrl", "ftp://example.com"),
        ("ModelBaseUrl", "https://"),
        ("ModelBaseUrl", "https://api.openai.com/v1 "),
        ("AppImport", "app"),
        ("AppImport", "app:"),
        ("AppImport", "1app:app"),
        ("AppImport", "my-app:app"),
        ("ExistingVpcId", "vpc-xyz"),
        ("ExistingVpcId", "subnet-0123456789abcdef0"),
        ("AlarmTopicArn", "my-topic"),
        ("CacheName", "Fa-cache"),
        ("CacheName", "1cache"),
        ("CacheName", "fa--x"),
        ("CacheName", "x" * 41),
        ("CacheSnapshotRetentionDays", "36"),
        ("CacheDailySnapshotTime", "24:00"),
        ("CacheDailySnapshotTime", "3:00"),
        ("NatGateways", "two"),
        ("TurnBacklogAlarmSeconds", "600"),
        ("LogRetentionDays", "10"),
    ],
)
def test_bad_parameter_values_are_rejected(name: str, value: str) -> None:
    assert parameter_violations(name, value), f"{name}={value!r} should be rejected"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Stage", "prod-eu-1"),
        ("TurnTimeoutSeconds", "900"),
        ("MaxConcurrency", "2"),
        ("MaxConcurrency", "1000"),
        ("ModelBaseUrl", "http://10.0.0.5:8000/v1"),
        ("AppImport", "app:app"),
        ("AppImport", "my_pkg.agents:registry.app"),
        ("ExistingVpcId", "vpc-0123456789abcdef0"),
        ("ExistingVpcId", "vpc-01234567"),
        ("AlarmTopicArn", "arn:aws:sns:us-east-1:123456789012:alerts"),
        ("CacheName", "fa-dev-0123abcd"),
        ("CacheSnapshotRetentionDays", "0"),
        ("CacheDailySnapshotTime", "23:59"),
        ("NatGateways", "per-az"),
    ],
)
def test_good_parameter_values_are_accepted(name: str, value: str) -> None:
    assert parameter_violations(name, value) == []


def test_existing_vpc_rules() -> None:
    rules = sam_template()["Rules"]
    assert rules["ExistingVpcNeedsSubnets"]["Assertions"][0]["AssertDescription"]
    assert rules["SubnetsNeedExistingVpc"]["Assertions"][0]["AssertDescription"]
    assert "ModelEgress=none" in rules["CreatedVpcNeedsNat"]["Assertions"][0]["AssertDescription"]
