"""Readers of template.yaml, its SAM translation, docs/settings.md and infra/lint.py for the tests.

Nothing here talks to AWS: the SAM template is parsed with aws-sam-translator's YAML loader (it
understands ``!Ref``/``!Sub``/...) and translated offline, once per test session.
"""

from __future__ import annotations

import importlib.util
import re
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SETTINGS_DOC = ROOT / "docs" / "settings.md"
LINT_SCRIPT = ROOT / "infra" / "lint.py"
BUILD_SCRIPT = ROOT / "infra" / "lambda" / "build.py"


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def lint_module() -> ModuleType:
    """infra/lint.py, loaded by path (``infra`` is not a package: tests/infra owns that name)."""
    return _load("factorial_infra_lint", LINT_SCRIPT)


@cache
def build_module() -> ModuleType:
    """infra/lambda/build.py (the functions' artifact builder), loaded by path."""
    return _load("factorial_infra_lambda_build", BUILD_SCRIPT)


@cache
def sam_template() -> dict[str, Any]:
    """template.yaml as written (SAM resources, short-form intrinsics as ``Fn::*`` dicts)."""
    from samtranslator.yaml_helper import yaml_parse

    parsed: dict[str, Any] = yaml_parse(TEMPLATE.read_text())
    return parsed


@cache
def cfn_template() -> dict[str, Any]:
    """The plain CloudFormation the SAM transform makes of template.yaml."""
    translated: dict[str, Any] = lint_module().translate(TEMPLATE)
    return translated


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """The resources of ``template`` of type ``kind``, by logical id."""
    return {
        name: resource
        for name, resource in template["Resources"].items()
        if resource.get("Type") == kind
    }


def function_environments() -> dict[str, dict[str, Any]]:
    """Each Lambda function's environment variables after SAM merged the Globals."""
    return {
        name: fn["Properties"].get("Environment", {}).get("Variables", {})
        for name, fn in resources(cfn_template(), "AWS::Lambda::Function").items()
    }


def template_routes() -> dict[tuple[str, str], str]:
    """The HTTP API's routes: ``{(method, path): authorization type}``.

    Paths use API Gateway's ``{param}`` syntax, e.g. ``("GET", "/tasks/{task_id}"): "AWS_IAM"``;
    the authorization type is ``AWS_IAM`` or ``NONE``. ``set(template_routes())`` is the set of
    ``(method, path)`` pairs.
    """
    routes: dict[tuple[str, str], str] = {}
    for name, route in resources(sam_template(), "AWS::ApiGatewayV2::Route").items():
        props = route["Properties"]
        method, _, path = props["RouteKey"].partition(" ")
        key = (method, path)
        assert key not in routes, f"route {props['RouteKey']} defined twice ({name})"
        routes[key] = props.get("AuthorizationType", "NONE")
    return routes


def settings_table() -> dict[str, str]:
    """docs/settings.md's table: ``{variable: required column}`` (``yes``, ``no``, ``with IAM``)."""
    rows: dict[str, str] = {}
    for line in SETTINGS_DOC.read_text().splitlines():
        match = re.match(r"^\|\s*`([A-Z0-9_]+)`\s*\|\s*([^|]+?)\s*\|", line)
        if match:
            rows[match.group(1)] = match.group(2)
    assert rows, "no settings table found in docs/settings.md"
    return rows


def parameter_violations(name: str, value: str) -> list[str]:
    """The constraints of template parameter ``name`` that ``value`` breaks, evaluated the way
    CloudFormation does (AllowedPattern must match the whole value)."""
    spec = sam_template()["Parameters"][name]
    kind = spec["Type"]
    problems: list[str] = []
    if "AllowedValues" in spec and value not in [str(v) for v in spec["AllowedValues"]]:
        problems.append("AllowedValues")
    if kind == "Number":
        try:
            number = float(value)
        except ValueError:
            return [*problems, "Number"]
        if "MinValue" in spec and number < float(spec["MinValue"]):
            problems.append("MinValue")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            problems.append("MaxValue")
    elif kind == "String":
        if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
            problems.append("AllowedPattern")
        if "MinLength" in spec and len(value) < int(spec["MinLength"]):
            problems.append("MinLength")
        if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
            problems.append("MaxLength")
    return problems


def rule_holds(expression: Any, params: dict[str, Any]) -> bool:
    """Evaluate a CloudFormation Rules condition/assertion for the parameter values ``params``
    (``Ref`` of a CommaDelimitedList gives a list). Only the functions the template's rules use
    (``Fn::Equals``, ``Fn::Not``, ``Fn::And``, ``Fn::Or``, ``Fn::Contains``) are known."""

    def value(node: Any) -> Any:
        if isinstance(node, dict) and set(node) == {"Ref"}:
            return params[node["Ref"]]
        if isinstance(node, dict):
            return rule_holds(node, params)
        return node

    ((function, args),) = expression.items()
    if function == "Fn::Equals":
        left, right = (value(a) for a in args)
        return bool(str(left) == str(right))
    if function == "Fn::Not":
        return not rule_holds(args[0], params)
    if function == "Fn::And":
        return all(rule_holds(a, params) for a in args)
    if function == "Fn::Or":
        return any(rule_holds(a, params) for a in args)
    if function == "Fn::Contains":
        haystack, needle = (value(a) for a in args)
        return bool(needle in haystack)
    raise AssertionError(f"rule function {function} not understood by this evaluator")


def failing_rules(rules: dict[str, Any], params: dict[str, Any]) -> list[str]:
    """The names of ``rules`` whose condition holds and an assertion fails for ``params``."""
    failed = []
    for name, rule in rules.items():
        condition = rule.get("RuleCondition")
        if condition is not None and not rule_holds(condition, params):
            continue
        if not all(rule_holds(a["Assert"], params) for a in rule["Assertions"]):
            failed.append(name)
    return failed
