"""docs/http-api.md: "Bad input never yields a 500". These bodies do."""

from __future__ import annotations

import base64

import handlers.api
from factorial_aws import App
from tests.functional.apps import agent, pay, pay_rule
from tests.functional.conftest import HarnessFactory
from tests.functional.harness import Harness, LambdaContext, http_event

DEEP = "[" * 5000 + "]" * 5000


def _harness(make_harness: HarnessFactory) -> tuple[Harness, str, str]:
    h = make_harness(App([agent("payments", pay)]), pay_rule, require_iam=True)
    task_id = h.create("payments", "pay 42")
    h.run_turns()
    (pending,) = h.task(task_id)["pending_hooks"]
    return h, task_id, pending["hook_id"]


def _b64_event(method: str, path: str, raw: bytes, **kwargs: object) -> int:
    event = http_event(method, path, **kwargs)  # type: ignore[arg-type]
    event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode(), True
    return int(handlers.api.handler(event, LambdaContext())["statusCode"])


def test_base64_body_that_is_not_utf8_is_a_400_on_resolve(make_harness: HarnessFactory) -> None:
    h, _, hook_id = _harness(make_harness)
    status = _b64_event(
        "POST",
        f"/hooks/{hook_id}/resolve",
        b'{"approved": true, "reviewer": "\xff"}',
        headers={"X-Hook-Token": h.token(hook_id)},
        caller_arn=None,
    )
    assert status == 400


def test_base64_body_that_is_not_utf8_is_a_400_on_create(make_harness: HarnessFactory) -> None:
    _harness(make_harness)
    assert _b64_event("POST", "/tasks", b'{"agent": "\xff", "input": "x"}') == 400


def test_deeply_nested_json_is_a_400_on_create_steer_rotate_and_resolve(
    make_harness: HarnessFactory,
) -> None:
    h, task_id, hook_id = _harness(make_harness)
    resolve = h.resolve(hook_id, None, raw_body='{"approved": ' + DEEP + "}", caller_arn=None)
    assert (resolve.status, resolve.code) == (400, "invalid_json")
    assert h.task(task_id)["status"] == "waiting_hook"
    create = h.http("POST", "/tasks", raw_body='{"agent": "payments", "input": ' + DEEP + "}")
    steer = h.http("POST", f"/tasks/{task_id}/steer", raw_body='{"text": ' + DEEP + "}")
    rotate = h.http(
        "POST", f"/hooks/{hook_id}/rotate", raw_body='{"revoke_previous": ' + DEEP + "}"
    )
    assert [create.status, steer.status, rotate.status] == [400, 400, 400]


def test_an_integer_literal_over_python_digit_limit_is_a_400(make_harness: HarnessFactory) -> None:
    h, _, _ = _harness(make_harness)
    answer = h.http("POST", "/tasks", raw_body='{"agent": "payments", "input": ' + "1" * 5000 + "}")
    assert answer.status == 400
