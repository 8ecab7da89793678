"""The offline lint pipeline (infra/lint.py) passes on template.yaml and its IAM check bites."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.template import LINT_SCRIPT, ROOT, lint_module


@pytest.mark.slow  # sam validate --lint and cfn-lint, each a fresh interpreter
def test_lint_pipeline_passes(tmp_path: Path) -> None:
    out = tmp_path / "cfn.json"
    proc = subprocess.run(
        [sys.executable, str(LINT_SCRIPT), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for step in ("sam validate --lint", "sam translate", "cfn-lint", "IAM least privilege"):
        assert f"[ok] {step}" in proc.stdout, proc.stdout
    assert out.stat().st_size > 0


def _role(statement: dict[str, object], managed: list[object] | None = None) -> dict[str, object]:
    props: dict[str, object] = {
        "Policies": [{"PolicyName": "p", "PolicyDocument": {"Statement": [statement]}}]
    }
    if managed is not None:
        props["ManagedPolicyArns"] = managed
    return {"Resources": {"R": {"Type": "AWS::IAM::Role", "Properties": props}}}


def test_iam_check_rejects_wildcard_actions() -> None:
    lint = lint_module()
    bad = _role({"Effect": "Allow", "Action": "sqs:*", "Resource": "arn:aws:sqs:us-east-1:1:q"})
    assert any("wildcard action" in p for p in lint.iam_problems(bad))


def test_iam_check_rejects_wildcard_resources_outside_the_allow_list() -> None:
    lint = lint_module()
    bad = _role({"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": "*"})
    assert any("sqs:SendMessage on Resource '*'" in p for p in lint.iam_problems(bad))
    ok = _role({"Effect": "Allow", "Action": "ec2:DescribeSubnets", "Resource": "*"})
    assert lint.iam_problems(ok) == []


def test_iam_check_rejects_not_action_and_aws_managed_policies() -> None:
    lint = lint_module()
    assert lint.iam_problems(_role({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}))
    managed = _role(
        {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:us-east-1:1:q"},
        managed=["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"],
    )
    assert any("AWS managed policy" in p for p in lint.iam_problems(managed))


def test_every_wildcard_exception_has_a_reason() -> None:
    lint = lint_module()
    assert all(reason.strip() for reason in lint.WILDCARD_RESOURCE_ALLOWED.values())
    assert all(not action.endswith("*") for action in lint.WILDCARD_RESOURCE_ALLOWED)
