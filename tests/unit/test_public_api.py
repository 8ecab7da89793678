"""The public API is pinned, and importing it stays cheap (no cloud, model or Redis SDKs)."""

import subprocess
import sys

import factorial_aws

FORBIDDEN = ("boto3", "botocore", "openai", "redis", "aws_lambda_powertools")


def test_import_pulls_in_no_sdk_in_a_fresh_interpreter() -> None:
    code = (
        "import sys, factorial_aws\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]\n"
        "print(','.join(sorted(bad)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_engine_import_pulls_in_no_sdk_either() -> None:
    code = (
        "import sys, factorial_aws.runtime.turn, factorial_aws.testing\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]\n"
        "print(','.join(sorted(bad)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_all_is_pinned() -> None:
    assert sorted(factorial_aws.__all__) == sorted(
        [
            "Agent",
            "App",
            "ModelSettings",
            "Hidden",
            "Tool",
            "ToolContext",
            "ToolResult",
            "tool",
            "Hook",
            "HookPlan",
            "HookRequestContext",
            "PendingHook",
            "compile_hook_plan",
            "hook",
            "ChildRef",
            "subagents",
            "wait",
            "webhooks",
            "FactorialError",
            "HookCompilationError",
            "HookDependencyCycleError",
            "HookDependencyResolutionError",
            "HookTypeMismatchError",
            "VerificationRejected",
        ]
    )
    for name in factorial_aws.__all__:
        assert getattr(factorial_aws, name) is not None
