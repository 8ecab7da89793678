"""Every error the API gives, through the API handler: one body shape, the documented statuses,
never a 500 for bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from factorial_aws import App
from factorial_aws.aws.api import build_api
from factorial_aws.core.clock import SystemClock
from factorial_aws.runtime.control import Control
from factorial_aws.runtime.dispatch import Dispatcher
from factorial_aws.store.base import StoreContext
from tests.functional.apps import agent, pay, pay_rule
from tests.functional.conftest import HarnessFactory
from tests.functional.harness import Answer, Harness, LambdaContext, http_event

APPROVE = {"approved": True, "reviewer": "bob"}


def parked(make_harness: HarnessFactory) -> tuple[Harness, str, str]:
    h = make_harness(App([agent("payments", pay)]), pay_rule)
    task_id = h.create("payments", "pay 42")
    h.run_turns()
    (pending,) = h.task(task_id)["pending_hooks"]
    return h, task_id, pending["hook_id"]


def assert_error(answer: Answer, status: int, code: str) -> None:
    assert (answer.status, answer.json()["error"]["code"]) == (status, code), answer.text
    assert set(answer.json()) == {"error"} and set(answer.json()["error"]) == {"code", "message"}
    assert answer.headers["content-type"] == "application/json"


def test_resolve_errors(make_harness: HarnessFactory) -> None:
    h, task_id, hook_id = parked(make_harness)
    assert_error(h.resolve(hook_id, APPROVE, token="x" * 43), 404, "hook_not_found")
    assert_error(h.http("POST", f"/hooks/{hook_id}/resolve", APPROVE), 401, "hook_token_invalid")
    assert_error(h.resolve(hook_id, {"approved": "maybe"}), 422, "hook_payload_invalid")
    assert_error(h.resolve(hook_id, [1, 2]), 422, "hook_payload_invalid")
    assert_error(h.resolve(hook_id, None, raw_body="{not json"), 400, "invalid_json")
    assert_error(h.resolve(hook_id, None, raw_body=""), 400, "invalid_json")
    big = {"approved": True, "reviewer": "x" * 70_000}
    assert_error(h.resolve(hook_id, big), 413, "payload_too_large")
    assert_error(h.resolve(hook_id, big, base64_body=True), 413, "payload_too_large")
    assert_error(h.resolve("t-nope.h0123456789abcdef", APPROVE), 404, "hook_not_found")
    assert_error(h.http("GET", "/hooks/not-a-hook"), 404, "hook_not_found")
    assert h.task(task_id)["status"] == "waiting_hook"  # nothing above changed anything

    key = {"Idempotency-Key": "resolve-1"}
    first = h.resolve(hook_id, APPROVE, headers=key, base64_body=True)
    assert first.status == 200 and first.json()["status"] == "resolved"
    replay = h.resolve(hook_id, APPROVE, headers=key)
    assert replay.status == 200
    assert replay.json() == {**first.json(), "status": "idempotent", "task_resumed": False}
    assert_error(h.resolve(hook_id, APPROVE), 409, "hook_already_resolved")
    by_query = h.http(
        "POST", f"/hooks/{hook_id}/resolve", APPROVE, query={"token": h.token(hook_id)}
    )
    assert_error(by_query, 409, "hook_already_resolved")  # the query token was accepted
    h.run_turns()
    assert h.task(task_id)["status"] == "completed"


def test_an_expired_hook_answers_410_and_the_task_sees_the_timeout(
    make_harness: HarnessFactory,
) -> None:
    h, task_id, hook_id = parked(make_harness)
    h.clock.advance(601)
    assert_error(h.resolve(hook_id, APPROVE), 410, "hook_expired")
    assert_error(h.resolve(hook_id, APPROVE), 410, "hook_expired")
    h.run_turns()  # the expiring resolve woke the task: the tool call ends with a timeout
    done = h.task(task_id)
    assert done["status"] == "completed" and "done:" in done["output"]
    assert h.http("GET", f"/hooks/{hook_id}").json()["status"] == "expired"
    page = h.http("GET", f"/hooks/{hook_id}", headers={"Accept": "text/html"})
    assert "expired" in page.text and "<form" not in page.text


def test_task_route_errors(make_harness: HarnessFactory) -> None:
    h = make_harness(App([agent("payments", pay)]), pay_rule)
    assert_error(h.http("GET", "/tasks/t-aaaaaaaaaaaaaaaaaaaaaaaaaa"), 404, "task_not_found")
    assert_error(h.http("GET", "/tasks/../../etc"), 404, "not_found")
    assert_error(h.http("GET", "/tasks/garbage"), 404, "task_not_found")
    assert_error(h.http("GET", "/tasks/garbage/events"), 404, "task_not_found")
    assert_error(h.http("POST", "/tasks/garbage/cancel"), 404, "task_not_found")
    assert_error(h.http("POST", "/tasks/garbage/steer", {"text": "hi"}), 404, "task_not_found")
    assert_error(h.http("DELETE", "/tasks"), 404, "not_found")
    assert_error(h.http("GET", "/nowhere"), 404, "not_found")

    assert_error(h.http("POST", "/tasks", raw_body="{oops"), 400, "invalid_json")
    assert_error(h.http("POST", "/tasks"), 400, "invalid_request")
    assert_error(h.http("POST", "/tasks", {"input": "x"}), 400, "invalid_request")
    assert_error(
        h.http("POST", "/tasks", {"agent": "payments", "input": 3}), 400, "invalid_request"
    )
    extra = {"agent": "payments", "input": "x", "priority": "high"}
    assert_error(h.http("POST", "/tasks", extra), 400, "invalid_request")
    assert_error(
        h.http("POST", "/tasks", {"agent": "payments", "input": " "}), 400, "invalid_input"
    )
    assert_error(h.http("POST", "/tasks", {"agent": "nobody", "input": "x"}), 404, "unknown_agent")
    plain = h.http("POST", "/tasks", raw_body="hi", headers={"Content-Type": "text/plain"})
    assert_error(plain, 415, "unsupported_media_type")
    huge = {"agent": "payments", "input": "x" * 70_000}
    assert_error(h.http("POST", "/tasks", huge), 413, "payload_too_large")
    long_key = {"Idempotency-Key": "k" * 201}
    body = {"agent": "payments", "input": "x"}
    assert_error(h.http("POST", "/tasks", body, headers=long_key), 400, "invalid_request")

    task_id = h.create("payments", "pay 42")
    events = f"/tasks/{task_id}/events"
    assert_error(h.http("GET", events, query={"limit": "0"}), 400, "invalid_request")
    assert_error(h.http("GET", events, query={"limit": "many"}), 400, "invalid_request")
    assert_error(h.http("GET", events, query={"after": "yesterday"}), 400, "invalid_input")
    assert_error(h.http("POST", f"/tasks/{task_id}/steer", {"text": ""}), 400, "invalid_request")
    assert h.http("GET", events).status == 200


def test_an_idempotency_key_replays_the_create(make_harness: HarnessFactory) -> None:
    h = make_harness(App([agent("payments", pay)]), pay_rule)
    key = {"Idempotency-Key": "order-1"}
    body = {"agent": "payments", "input": "pay 42"}
    first = h.http("POST", "/tasks", body, headers=key)
    again = h.http("POST", "/tasks", body, headers=key)
    assert first.status == again.status == 201
    assert first.json()["task_id"] == again.json()["task_id"]
    assert len(h.sqs.sent) == 1  # the replay sent no second turn message
    other = {"agent": "payments", "input": "pay 43"}
    assert_error(h.http("POST", "/tasks", other, headers=key), 409, "idempotency_conflict")


def test_an_unavailable_store_is_503_and_a_bug_is_500(
    make_harness: HarnessFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    h, task_id, hook_id = parked(make_harness)
    broken = redis.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)
    )
    control = Control(
        h.wiring.app,
        StoreContext(broken),
        Dispatcher(h.wiring.dispatcher.queue, h.wiring.dispatcher.scheduler, SystemClock()),
        b"secret",
        "https://x.test",
    )
    api = build_api(control, require_iam=False)
    context: Any = LambdaContext()
    down = api.resolve(http_event("GET", f"/tasks/{task_id}"), context)
    assert down["statusCode"] == 503 and down["headers"]["Retry-After"] == "1"
    assert json.loads(down["body"])["error"]["code"] == "store_unavailable"
    down = api.resolve(http_event("GET", f"/hooks/{hook_id}"), context)
    assert down["statusCode"] == 503
    broken.close()

    def boom(self: Any, task_id: str) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(Control, "get_task", boom)
    assert_error(h.http("GET", f"/tasks/{task_id}"), 500, "internal_error")
    assert "a bug" not in h.http("GET", f"/tasks/{task_id}").text
