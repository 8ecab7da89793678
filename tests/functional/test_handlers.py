"""The handlers as Lambda sees them: routes against template.yaml, cold imports, SQS batch
semantics, the maintenance handler, and one stack wired from the environment."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import handlers.api
import handlers.turn
from factorial_aws import App
from factorial_aws.aws import wiring
from factorial_aws.aws.api import openapi_document
from factorial_aws.aws.settings import SettingsError
from factorial_aws.runtime.runner import TurnRunner
from factorial_aws.testing import StubOpenAIServer
from factorial_aws.testing.valkey import EmbeddedValkey
from tests.functional.apps import agent, pay, pay_rule
from tests.functional.conftest import (
    GROUP,
    LOG,
    MODEL_KEY,
    PUBLIC_URL,
    ROLE_ARN,
    HarnessFactory,
    _Rules,
)
from tests.functional.harness import (
    Harness,
    LambdaContext,
    http_event,
    load_event,
    sqs_event,
)

ROOT = Path(__file__).resolve().parents[2]

#: docs/DESIGN.md section 8 plus the issue's routes, used only if template.yaml is missing.
DESIGN_ROUTES = {
    ("POST", "/tasks"): "AWS_IAM",
    ("GET", "/tasks"): "AWS_IAM",
    ("GET", "/tasks/{task_id}"): "AWS_IAM",
    ("GET", "/tasks/{task_id}/events"): "AWS_IAM",
    ("POST", "/tasks/{task_id}/cancel"): "AWS_IAM",
    ("POST", "/tasks/{task_id}/steer"): "AWS_IAM",
    ("POST", "/hooks/{hook_id}/rotate"): "AWS_IAM",
    ("GET", "/hooks/{hook_id}"): "NONE",
    ("POST", "/hooks/{hook_id}/resolve"): "NONE",
    ("GET", "/openapi.json"): "NONE",
    ("POST", "/webhooks/{name}"): "NONE",
}


def expected_routes() -> dict[tuple[str, str], str]:
    if (ROOT / "template.yaml").exists():
        from tests.infra.template import template_routes

        return template_routes()
    return DESIGN_ROUTES  # NOTE: template.yaml is not there yet; compare with the design


def test_the_api_serves_exactly_the_routes_of_the_template(make_harness: HarnessFactory) -> None:
    h = make_harness(App([agent("payments", pay)]), pay_rule, require_iam=True)
    doc = openapi_document(h.wiring.api)
    served = {(m.upper(), path) for path, item in doc["paths"].items() for m in item}
    served.add(("GET", "/openapi.json"))  # served, kept out of its own document
    expected = expected_routes()
    assert served == set(expected)
    assert set(expected) == set(DESIGN_ROUTES)

    for (method, path), auth in expected.items():
        concrete = path.replace("{task_id}", "t-aaaaaaaaaaaaaaaaaaaaaaaaaa")
        concrete = concrete.replace("{hook_id}", "t-aaaaaaaaaaaaaaaaaaaaaaaaaa.h0123456789abcdef")
        concrete = concrete.replace("{name}", "github")
        answer = h.http(method, concrete, {}, caller_arn=None)
        code = answer.json().get("error", {}).get("code") if answer.status >= 400 else None
        assert code != "not_found", (method, path)
        assert (code == "unauthorized") == (auth == "AWS_IAM"), (method, path, answer.text)


def test_the_openapi_document_is_served(make_harness: HarnessFactory) -> None:
    h = make_harness(App([agent("payments", pay)]), pay_rule)
    answer = h.http("GET", "/openapi.json")
    assert answer.status == 200
    doc = answer.json()
    assert doc["openapi"].startswith("3.") and "HTTPValidationError" not in answer.text
    create = doc["paths"]["/tasks"]["post"]
    assert create["operationId"] == "create_task" and "201" in create["responses"]
    assert "422" not in create["responses"] and "400" in create["responses"]
    resolve = doc["paths"]["/hooks/{hook_id}/resolve"]["post"]
    assert "422" in resolve["responses"] and "requestBody" in resolve
    assert {"TaskOut", "HookOut", "ErrorBody"} <= set(doc["components"]["schemas"])


@pytest.mark.slow  # a fresh interpreter each
@pytest.mark.parametrize("module", ["handlers.api", "handlers.maintenance", "handlers.turn"])
def test_importing_a_handler_does_not_import_openai(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "loaded = sorted(m for m in sys.modules if m == 'openai' or m.startswith('openai.'))\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def test_a_failing_record_is_reported_and_a_malformed_one_acknowledged(
    make_harness: HarnessFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = make_harness(App([agent("payments", pay)]), pay_rule)
    good, bad = h.create("payments", "one"), h.create("payments", "two")
    original = TurnRunner.handle

    async def flaky(self: TurnRunner, message: Any) -> str:
        if message.task_id == bad:
            raise ConnectionError("model unreachable")
        return await original(self, message)

    monkeypatch.setattr(TurnRunner, "handle", flaky)
    bodies = [m["Body"] for m in h.receive()]
    event = sqs_event([*bodies, "not json", '{"kind": "turn"}'], h.queue_arn)
    result = handlers.turn.handler(event, LambdaContext())
    (failed,) = result["batchItemFailures"]
    (record,) = [r for r in event["Records"] if r["messageId"] == failed["itemIdentifier"]]
    assert json.loads(record["body"])["task_id"] == bad
    assert h.task(good)["status"] == "waiting_hook"

    monkeypatch.setattr(TurnRunner, "handle", original)
    assert handlers.turn.handler(sqs_event([record["body"]], h.queue_arn), LambdaContext()) == {
        "batchItemFailures": []
    }
    assert h.task(bad)["status"] == "waiting_hook"


def test_the_sample_events_of_each_handler(make_harness: HarnessFactory) -> None:
    h = make_harness(App([agent("payments", pay)]), pay_rule)
    # the sample turn message names a task that does not exist: acknowledged, nothing done
    assert handlers.turn.handler(load_event("sqs_turn.json"), LambdaContext()) == {
        "batchItemFailures": []
    }
    report = h.sweep()
    assert report == {
        "woke": 0,
        "expired": 0,
        "redispatched": 0,
        "reclaimed": 0,
        "trees_expiring": 0,
        "dropped": 0,
    }


def test_a_hook_expires_through_the_maintenance_handler(make_harness: HarnessFactory) -> None:
    h = make_harness(App([agent("payments", pay)]), pay_rule)
    task_id = h.create("payments", "pay")
    h.run_turns()
    h.clock.advance(601)
    assert h.sweep()["expired"] == 1
    h.run_turns()
    assert h.task(task_id)["status"] == "completed"


def test_a_stack_wired_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
    valkey_standalone: EmbeddedValkey,
    aws_resources: dict[str, str],
    stub: tuple[StubOpenAIServer, _Rules],
) -> None:
    server, rules = stub
    rules.rule = pay_rule
    valkey_standalone.flush()
    env = {
        "FACTORIAL_APP": "tests.functional.apps:app",
        "FACTORIAL_REDIS_URL": valkey_standalone.url,
        "FACTORIAL_TURN_QUEUE_URL": aws_resources["queue_url"],
        "FACTORIAL_TURN_QUEUE_ARN": aws_resources["queue_arn"],
        "FACTORIAL_SCHEDULER_GROUP": GROUP,
        "FACTORIAL_SCHEDULER_ROLE_ARN": ROLE_ARN,
        "FACTORIAL_HOOK_SECRET_ARN": aws_resources["secret_arn"],
        "FACTORIAL_PUBLIC_BASE_URL": PUBLIC_URL,
        "FACTORIAL_REQUIRE_IAM": "true",
        "OPENAI_API_KEY": MODEL_KEY,
        "OPENAI_BASE_URL": server.base_url,
        "POWERTOOLS_SERVICE_NAME": "factorial-functional",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    wiring.install(None)
    try:
        created = handlers.api.handler(
            http_event("POST", "/tasks", {"agent": "payments", "input": "pay 42"}), LambdaContext()
        )
        assert created["statusCode"] == 201
        container = wiring.container()
        assert container.settings.require_iam and container.store.clock is None
        from factorial_aws.aws import clients

        h = Harness(
            wiring=container,
            sqs=clients.sqs(),
            scheduler=clients.scheduler(),
            queue_url=aws_resources["queue_url"],
            queue_arn=aws_resources["queue_arn"],
            clock=None,  # type: ignore[arg-type]
            secret=b"functional-hook-secret",
        )
        assert h.run_turns() == 1 and not h.failures
        task_id = json.loads(created["body"])["task_id"]
        (pending,) = h.task(task_id)["pending_hooks"]
        assert h.resolve(pending["hook_id"], {"approved": True, "reviewer": "e"}).status == 200
        h.run_turns()
        assert h.task(task_id)["output"] == "done: paid 42"
        assert server.log[0].authorized
    finally:
        container = wiring.install(None)  # type: ignore[assignment]
        if container is not None:
            container.close()
            container.store.client.close()


def test_a_factorial_app_that_is_not_an_app_is_a_settings_error(
    monkeypatch: pytest.MonkeyPatch,
    aws_resources: dict[str, str],
) -> None:
    from tests.functional.conftest import settings_for

    for ref, message in [
        ("tests.functional.apps:agent", "not a factorial_aws App"),
        ("tests.functional.apps:nothing", "has no 'nothing'"),
        ("tests.functional.nowhere:app", "cannot import"),
    ]:
        settings = settings_for(aws_resources, "http://127.0.0.1:9/v1", app=ref)
        with pytest.raises(SettingsError, match=message):
            wiring.load_app(settings)
    assert LOG is not None
