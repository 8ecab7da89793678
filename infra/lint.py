"""Offline checks of template.yaml: run from the repository root, exit non-zero on any failure.

1. ``sam validate --lint --region us-east-1`` (SAM's checks plus cfn-lint on the SAM template).
2. Translate the SAM template to plain CloudFormation with aws-sam-translator (placeholder code
   URI, ``AWS_DEFAULT_REGION`` set, an IAM loader that loads nothing) into ``build/cfn.json``:
   cfn-lint 1.58 no longer runs the SAM transform itself, so without this step it never sees the
   generated functions, event source mappings and roles.
3. ``cfn-lint`` on both the SAM template and the translated one, informational rules included
   (``-c I``: e.g. I3011, a stateful resource without explicit Deletion/UpdateReplace policies).
4. The IAM check on the translated template: no wildcard action anywhere, no ``Resource: "*"``
   except the allow-listed actions below, no ``NotAction``/``NotResource``, no AWS managed
   policies.

Usage: ``python infra/lint.py [--template template.yaml] [--out build/cfn.json]``. Needs no
network and no AWS credentials.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
PLACEHOLDER_CODE_URI = "s3://placeholder-bucket/code.zip"

#: Actions that may have ``Resource: "*"``, with the reason.
WILDCARD_RESOURCE_ALLOWED: dict[str, str] = {
    "ec2:CreateNetworkInterface": "Lambda VPC networking; the ENI does not exist yet (AWS "
    "documents Resource * for the execution role, as in AWSLambdaVPCAccessExecutionRole)",
    "ec2:DescribeNetworkInterfaces": "Describe* actions support no resource-level permissions",
    "ec2:DescribeSubnets": "Describe* actions support no resource-level permissions",
    "ec2:DeleteNetworkInterface": "Lambda VPC networking; ENIs are created by Lambda at run time",
    "ec2:AssignPrivateIpAddresses": "Lambda VPC networking; ENIs are created by Lambda at run time",
    "ec2:UnassignPrivateIpAddresses": "Lambda VPC networking; ENIs are created by Lambda at run "
    "time",
}

#: AWS managed policies a role may attach, with the reason (none: every statement is inline).
MANAGED_POLICIES_ALLOWED: dict[str, str] = {}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("AWS_DEFAULT_REGION", REGION)
    env["SAM_CLI_TELEMETRY"] = "0"
    return env


def _tool(name: str) -> str:
    """The console script ``name`` of this interpreter's environment, else from PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"lint: {name} not found (pip install the dev extra)")
    return found


def _run(label: str, argv: list[str]) -> bool:
    started = time.monotonic()
    proc = subprocess.run(  # noqa: S603 (argv: this environment's sam / cfn-lint)
        argv, cwd=ROOT, env=_env(), capture_output=True, text=True, check=False, timeout=120
    )
    elapsed = time.monotonic() - started
    ok = proc.returncode == 0
    print(f"[{'ok' if ok else 'FAIL'}] {label} ({elapsed:.1f}s)")
    if not ok:
        sys.stdout.write(proc.stdout)
        sys.stdout.write(proc.stderr)
    return ok


def translate(template: Path) -> dict[str, Any]:
    """The CloudFormation the SAM transform makes of ``template`` (offline).

    ``AWS_DEFAULT_REGION`` is set to us-east-1 while translating when it is not set, and restored.
    """
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    class _NoIamLoader:
        """Only consulted for managed-policy names the translator does not know."""

        def load(self) -> dict[str, str]:
            return {}

    tpl = yaml_parse(template.read_text())
    for resource in tpl.get("Resources", {}).values():
        props = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function" and "InlineCode" not in props:
            props["CodeUri"] = PLACEHOLDER_CODE_URI
    globals_fn = tpl.get("Globals", {}).get("Function", {})
    if "CodeUri" in globals_fn:
        globals_fn["CodeUri"] = PLACEHOLDER_CODE_URI
    had_region = "AWS_DEFAULT_REGION" in os.environ
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    try:
        result: dict[str, Any] = transform(tpl, {}, _NoIamLoader())
    finally:
        if not had_region:
            del os.environ["AWS_DEFAULT_REGION"]
    return result


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_statements(cfn: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every identity-policy statement of ``cfn``: (resource logical id, statement)."""
    for name, resource in cfn.get("Resources", {}).items():
        kind = resource.get("Type")
        props = resource.get("Properties", {})
        documents: list[Any] = []
        if kind == "AWS::IAM::Role":
            documents = [p.get("PolicyDocument", {}) for p in props.get("Policies", [])]
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents = [props.get("PolicyDocument", {})]
        for document in documents:
            for statement in _as_list(document.get("Statement", [])):
                yield name, statement


def iam_problems(cfn: dict[str, Any]) -> list[str]:
    """What breaks the least-privilege rules in the translated template (empty: none)."""
    problems: list[str] = []
    for name, statement in policy_statements(cfn):
        sid = statement.get("Sid", "?")
        where = f"{name} statement {sid}"
        for key in ("NotAction", "NotResource", "NotPrincipal"):
            if key in statement:
                problems.append(f"{where}: {key} is not allowed")
        if statement.get("Effect") != "Allow":
            continue
        actions = [a for a in _as_list(statement.get("Action", [])) if isinstance(a, str)]
        problems.extend(f"{where}: wildcard action {a!r}" for a in actions if "*" in a)
        if "*" in _as_list(statement.get("Resource", [])):
            problems.extend(
                f"{where}: {a} on Resource '*' is not allow-listed"
                for a in actions
                if a not in WILDCARD_RESOURCE_ALLOWED
            )
    for name, resource in cfn.get("Resources", {}).items():
        if resource.get("Type") != "AWS::IAM::Role":
            continue
        for arn in resource.get("Properties", {}).get("ManagedPolicyArns", []):
            text = json.dumps(arn)
            if ":iam::aws:policy/" in text and not any(
                allowed in text for allowed in MANAGED_POLICIES_ALLOWED
            ):
                problems.append(f"{name}: AWS managed policy {text} (statements use '*')")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "cfn.json")
    args = parser.parse_args(argv)
    template: Path = args.template.resolve()
    out: Path = args.out.resolve()
    started = time.monotonic()

    ok = _run(
        "sam validate --lint",
        [_tool("sam"), "validate", "--lint", "--region", REGION, "--template", str(template)],
    )

    from samtranslator.model.exceptions import InvalidDocumentException

    t0 = time.monotonic()
    try:
        cfn = translate(template)
    except InvalidDocumentException as exc:
        print(f"[FAIL] sam translate: {exc}")
        for cause in exc.causes:
            print(f"  {cause.message}")
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(cfn, indent=1) + "\n")
    print(f"[ok] sam translate -> {out} ({time.monotonic() - t0:.1f}s)")

    # -c I: informational rules too, e.g. I3011 (a stateful resource without explicit
    # DeletionPolicy/UpdateReplacePolicy); cfn-lint exits non-zero on those as well.
    ok &= _run(
        "cfn-lint (SAM + translated)",
        [_tool("cfn-lint"), "-c", "I", "--", str(template), str(out)],
    )

    problems = iam_problems(cfn)
    print(f"[{'FAIL' if problems else 'ok'}] IAM least privilege")
    for problem in problems:
        print(f"  {problem}")
    ok &= not problems

    print(f"lint {'passed' if ok else 'FAILED'} in {time.monotonic() - started:.1f}s")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
