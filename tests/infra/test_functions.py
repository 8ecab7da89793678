"""Handlers, environment variables and code packaging of the three functions."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from tests.infra.template import (
    ROOT,
    cfn_template,
    function_environments,
    resources,
    sam_template,
    settings_table,
)

FUNCTIONS = {"ApiFunction", "TurnFunction", "MaintenanceFunction"}


def _functions() -> dict[str, dict[str, object]]:
    return resources(sam_template(), "AWS::Serverless::Function")


def _top_level_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_the_template_has_the_three_functions() -> None:
    assert set(_functions()) == FUNCTIONS


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_the_handler_is_a_handler_function_under_handlers(name: str) -> None:
    """Parsed, not imported: the handlers pull in boto3 and Powertools."""
    handler = _functions()[name]["Properties"]["Handler"]  # type: ignore[index]
    module, _, attribute = handler.rpartition(".")
    assert module.startswith("handlers."), f"{name}: {handler}"
    assert attribute == "handler", f"{name}: {handler}"
    path = ROOT / Path(*module.split(".")).with_suffix(".py")
    assert path.is_file(), f"{name}: {handler} needs {path.relative_to(ROOT)}"
    tree = ast.parse(path.read_text(), filename=str(path))
    defs = [
        n
        for n in tree.body
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == attribute
    ]
    assert defs, f"{path.relative_to(ROOT)} has no top-level def {attribute}"


def test_the_default_app_import_exists() -> None:
    """FACTORIAL_APP's default, module:attribute, resolves inside the code directory."""
    default = sam_template()["Parameters"]["AppImport"]["Default"]
    module, _, attribute = default.partition(":")
    path = ROOT / Path(*module.split(".")).with_suffix(".py")
    assert path.is_file(), default
    assert attribute.split(".")[0] in _top_level_names(path), default


def test_every_variable_set_is_a_documented_setting() -> None:
    documented = settings_table()
    for name, env in function_environments().items():
        unknown = set(env) - set(documented)
        assert not unknown, f"{name} sets variables docs/settings.md does not list: {unknown}"


def test_every_required_setting_is_set_on_every_function() -> None:
    """Every function builds the same Settings, so each needs every required variable."""
    required = {v for v, req in settings_table().items() if req == "yes"}
    envs = function_environments()
    assert set(envs) == FUNCTIONS
    for name, env in envs.items():
        assert required <= set(env), f"{name} misses {required - set(env)}"
        if "FACTORIAL_REDIS_IAM_USER" in env:
            assert "FACTORIAL_REDIS_CACHE_NAME" in env, name


def test_the_environment_points_at_this_stack() -> None:
    envs = function_environments()
    for env in envs.values():
        assert env["FACTORIAL_PUBLIC_BASE_URL"] == {"Fn::GetAtt": ["Api", "ApiEndpoint"]}
        assert env["FACTORIAL_TURN_QUEUE_URL"] == {"Ref": "TurnQueue"}
        assert env["FACTORIAL_TURN_QUEUE_ARN"] == {"Fn::GetAtt": ["TurnQueue", "Arn"]}
        assert env["FACTORIAL_SCHEDULER_GROUP"] == {"Ref": "WakeScheduleGroup"}
        assert env["FACTORIAL_SCHEDULER_ROLE_ARN"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}
        assert env["FACTORIAL_HOOK_SECRET_ARN"] == {"Ref": "HookSecret"}
        assert env["FACTORIAL_REDIS_URL"]["Fn::Sub"].startswith("rediss://")
        assert env["FACTORIAL_REQUIRE_IAM"] == "true"
    # Only the turn function calls the model.
    assert envs["TurnFunction"]["FACTORIAL_MODEL_KEY_SECRET_ARN"] == {"Ref": "ModelKeySecret"}
    assert "FACTORIAL_MODEL_KEY_SECRET_ARN" not in envs["ApiFunction"]


def test_runtime_and_architecture() -> None:
    for name, fn in resources(cfn_template(), "AWS::Lambda::Function").items():
        props = fn["Properties"]
        assert props["Runtime"] == "python3.12", name
        assert props["Architectures"] == ["arm64"], name


def test_samconfig_defaults() -> None:
    config = tomllib.loads((ROOT / "infra" / "samconfig.toml").read_text())["default"]
    stack = config["global"]["parameters"]["stack_name"]
    # Scheduler names are <= 64 characters: <stack>-maintenance and <stack>-wakes must fit.
    assert len(f"{stack}-maintenance") <= 64
    build = config["build"]["parameters"]
    # The Makefile builds each function with its own requirements; SAM's cache would hash only
    # infra/lambda and reuse stale artifacts after a change to the package.
    assert "manifest" not in build
    assert build.get("cached", False) is False
    deploy = config["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["confirm_changeset"] is True
    assert deploy["resolve_s3"] is True
