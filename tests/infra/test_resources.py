"""Cache, network, secrets and parameter constraints."""

from __future__ import annotations

import pytest

from tests.infra.template import parameter_violations, sam_template

STACK_SUFFIX = {
    "Fn::Select": [
        0,
        {"Fn::Split": ["-", {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}]},
    ]
}
CACHE_NAMES = {"Fn::Sub": ["fa-${Stage}-${StackSuffix}", {"StackSuffix": STACK_SUFFIX}]}


def test_cache_is_serverless_valkey_8_with_parameterised_limits() -> None:
    cache = sam_template()["Resources"]["Cache"]["Properties"]
    assert cache["Engine"] == "valkey"
    assert cache["MajorEngineVersion"] == "8"
    assert cache["CacheUsageLimits"] == {
        "DataStorage": {"Maximum": {"Ref": "CacheMaxDataStorageGb"}, "Unit": "GB"},
        "ECPUPerSecond": {"Maximum": {"Ref": "CacheMaxEcpuPerSecond"}},
    }
    assert cache["UserGroupId"] == {"Ref": "CacheUserGroup"}
    assert cache["ServerlessCacheName"] == CACHE_NAMES


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
    assert sorted(subnets) == ["PrivateSubnetA", "PrivateSubnetB", "PublicSubnet"]
    assert all(resources[n]["Condition"] == "CreateVpc" for n in subnets)
    assert resources["PublicDefaultRoute"]["DependsOn"] == "InternetGatewayAttachment"
    assert resources["NatAddress"]["DependsOn"] == "InternetGatewayAttachment"
    for name in ("NatGateway", "NatAddress", "PrivateDefaultRoute"):
        assert resources[name]["Condition"] == "CreateNat", name
    conditions = sam_template()["Conditions"]
    assert conditions["CreateNat"] == {
        "Fn::And": [{"Condition": "CreateVpc"}, {"Fn::Equals": [{"Ref": "ModelEgress"}, "nat"]}]
    }


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
    ],
)
def test_good_parameter_values_are_accepted(name: str, value: str) -> None:
    assert parameter_violations(name, value) == []


def test_existing_vpc_rules() -> None:
    rules = sam_template()["Rules"]
    assert rules["ExistingVpcNeedsSubnets"]["Assertions"][0]["AssertDescription"]
    assert rules["SubnetsNeedExistingVpc"]["Assertions"][0]["AssertDescription"]
