"""Bad input at the edges (issue 10, item 6): lone surrogates on every JSON body route, a rotate
body that is not an object, GitHub delivery ids up to the header's limit. Each is a 4xx with a
stable code and writes nothing; through the API handler and through the dev server's HTTP
server."""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest

from factorial_aws import App
from factorial_aws.aws.api import build_api
from factorial_aws.aws.api_hooks import MAX_GITHUB_DELIVERY_CHARS
from factorial_aws.aws.api_models import MAX_STEER_CHARS
from factorial_aws.errors import InvalidInputError
from factorial_aws.local.server import ApiServer
from factorial_aws.store import keys
from tests.functional.apps import agent, pay, pay_rule
from tests.functional.conftest import HarnessFactory
from tests.functional.harness import Harness
from tests.functional.test_api_errors import APPROVE, assert_error, parked

LONE = "\\ud800"  # as JSON text: a valid escape, but no Unicode character


def _bodies(task_id: str, hook_id: str) -> list[tuple[str, str, str]]:
    """(method, path, raw JSON body with a lone surrogate) for every route that reads a body."""
    raw = [
        ("/tasks", '{"agent": "payments", "input": "@"}'),
        ("/tasks", '{"agent": "payments", "input": "pay 42 @"}'.replace("@", "\\udfff")),
        ("/tasks", '{"agent": "payments", "input": [{"role": "user", "content": "a@b"}]}'),
        ("/tasks", '{"agent": "payments", "input": "x", "owner_id": "@"}'),
        (f"/tasks/{task_id}/steer", '{"text": "@"}'),
        (f"/tasks/{task_id}/cancel", '{"why": "@"}'),
        (f"/hooks/{hook_id}/resolve", '{"approved": true, "reviewer": "@"}'),
        (f"/hooks/{hook_id}/resolve", '{"approved": true, "reviewer": "a", "@": 1}'),
        (f"/hooks/{hook_id}/rotate", '{"revoke_previous": "@"}'),
    ]
    return [("POST", path, body.replace("@", LONE)) for path, body in raw]


def _unchanged(h: Harness, task_id: str, hook_id: str, events_before: int) -> None:
    task = h.task(task_id)
    assert task["status"] == "waiting_hook"
    assert [p["hook_id"] for p in task["pending_hooks"]] == [hook_id]
    events = h.http("GET", f"/tasks/{task_id}/events").json()["events"]
    assert len(events) == events_before, [e["kind"] for e in events[events_before:]]
    # the first token still resolves: no rotate, steer, cancel or resolve went through
    ok = h.resolve(hook_id, APPROVE)
    assert ok.status == 200 and ok.json()["status"] == "resolved", ok.text


def test_a_lone_surrogate_is_400_invalid_json_on_every_body_route(
    make_harness: HarnessFactory,
) -> None:
    h, task_id, hook_id = parked(make_harness)
    before = len(h.http("GET", f"/tasks/{task_id}/events").json()["events"])
    sent = len(h.sqs.sent)
    for method, path, raw in _bodies(task_id, hook_id):
        headers = {"X-Hook-Token": h.token(hook_id)} if path.endswith("/resolve") else {}
        answer = h.http(method, path, raw_body=raw, headers=headers)
        assert_error(answer, 400, "invalid_json")
        assert "surrogate" in answer.json()["error"]["message"]
    assert len(h.sqs.sent) == sent  # no task was created, nothing was dispatched
    _unchanged(h, task_id, hook_id, before)


def test_a_lone_surrogate_from_python_is_an_input_error(make_harness: HarnessFactory) -> None:
    h, task_id, _hook_id = parked(make_harness)
    control = h.wiring.control
    with pytest.raises(InvalidInputError, match="input is not Unicode text"):
        control.create_task("payments", "pay \ud800")
    with pytest.raises(InvalidInputError, match=r"input\[1\]\.content is not Unicode text"):
        control.create_task(
            "payments",
            [{"role": "user", "content": "ok"}, {"role": "user", "content": "\udc00"}],
        )
    with pytest.raises(InvalidInputError, match="owner_id is not Unicode text"):
        control.create_task("payments", "pay 1", owner_id="me\udfff")
    with pytest.raises(InvalidInputError, match="idempotency key is not Unicode text"):
        control.create_task("payments", "pay 1", idempotency_key="k\ud800")
    with pytest.raises(InvalidInputError, match="text is not Unicode text"):
        control.steer_task(task_id, "\ud800 hi")
    events = h.http("GET", f"/tasks/{task_id}/events").json()["events"]
    assert "steered" not in [e["kind"] for e in events]


def test_rotate_refuses_a_body_that_is_not_an_object(make_harness: HarnessFactory) -> None:
    h, task_id, hook_id = parked(make_harness)
    before = len(h.http("GET", f"/tasks/{task_id}/events").json()["events"])
    for raw in ("[null,null]", "[]", "[true]", "true", '"revoke"', "3"):
        assert_error(
            h.http("POST", f"/hooks/{hook_id}/rotate", raw_body=raw), 400, "invalid_request"
        )
    assert_error(
        h.http("POST", f"/hooks/{hook_id}/rotate", {"revoke_previous": None}),
        400,
        "invalid_request",
    )
    _unchanged(h, task_id, hook_id, before)


def test_rotate_without_a_body_or_with_null_keeps_its_default(
    make_harness: HarnessFactory,
) -> None:
    h, _task_id, hook_id = parked(make_harness)
    assert h.http("POST", f"/hooks/{hook_id}/rotate", raw_body="null").json()["version"] == 2
    assert h.http("POST", f"/hooks/{hook_id}/rotate").json()["version"] == 3
    assert_error(h.resolve(hook_id, APPROVE, token=h.token(hook_id, 2)), 404, "hook_not_found")
    assert h.resolve(hook_id, APPROVE, token=h.token(hook_id, 3)).status == 200


def test_every_github_delivery_id_the_header_accepts_is_a_usable_key(
    make_harness: HarnessFactory,
) -> None:
    h, _task_id, hook_id = parked(make_harness)
    too_long = {"X-GitHub-Delivery": "d" * (MAX_GITHUB_DELIVERY_CHARS + 1)}
    assert_error(h.resolve(hook_id, APPROVE, headers=too_long), 400, "invalid_request")
    longest = {"X-GitHub-Delivery": "d" * MAX_GITHUB_DELIVERY_CHARS}
    first = h.resolve(hook_id, APPROVE, headers=longest)
    assert first.status == 200 and first.json()["status"] == "resolved", first.text
    again = h.resolve(hook_id, APPROVE, headers=longest)  # GitHub's redelivery replays
    assert again.status == 200 and again.json()["status"] == "idempotent", again.text


def _post(port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(
            "POST", path, body=body, headers={"Content-Type": "application/json", **headers}
        )
        answer = conn.getresponse()
        return answer.status, json.loads(answer.read() or b"null")
    finally:
        conn.close()


def test_over_the_dev_server_lone_surrogates_and_bad_utf8_are_400(
    make_harness: HarnessFactory,
) -> None:
    h = make_harness(App([agent("payments", pay)]), pay_rule)
    task_id = h.create("payments", "pay 42", caller_arn=None)
    h.run_turns()
    (pending,) = h.task(task_id)["pending_hooks"]
    hook_id = pending["hook_id"]
    before = len(h.http("GET", f"/tasks/{task_id}/events").json()["events"])
    api = build_api(h.wiring.control, require_iam=False)
    server = ApiServer(lambda e, c: api.resolve(e, c), "127.0.0.1", 0).start()
    try:
        port = int(server.server_address[1])
        token = {"X-Hook-Token": h.token(hook_id)}
        for _method, path, raw in _bodies(task_id, hook_id):
            status, body = _post(port, path, raw.encode(), token)
            assert (status, body["error"]["code"]) == (400, "invalid_json"), (path, body)
        # the surrogate as raw (CESU-style) bytes is not UTF-8 at all
        raw_bytes = b'{"agent": "payments", "input": "\xed\xa0\x80"}'
        status, body = _post(port, "/tasks", raw_bytes, {})
        assert (status, body["error"]["code"]) == (400, "invalid_json"), body
    finally:
        server.stop()
    _unchanged(h, task_id, hook_id, before)


def test_a_steering_flood_stops_at_the_context_cap_with_413(make_harness: HarnessFactory) -> None:
    """The issue's case: 200 steers of 32 KiB grew a parked task's context to 6.5 MB."""
    h, task_id, hook_id = parked(make_harness)
    cap = h.wiring.store.settings.max_context_bytes
    text = "s" * MAX_STEER_CHARS
    answers = [h.http("POST", f"/tasks/{task_id}/steer", {"text": text}) for _ in range(200)]
    statuses = [a.status for a in answers]
    accepted = statuses.count(202)
    assert statuses == [202] * accepted + [413] * (200 - accepted)
    assert cap // (len(text) + 30) - 2 <= accepted <= cap // len(text)
    assert_error(answers[-1], 413, "context_too_large")
    client = h.wiring.store.client
    stored = client.strlen(keys.ctx(task_id)) + sum(
        len(i) for i in client.lrange(keys.inbox(task_id), 0, -1)
    )
    assert stored <= cap
    events = h.http("GET", f"/tasks/{task_id}/events", query={"limit": "1000"}).json()["events"]
    assert [e["kind"] for e in events].count("steered") == accepted

    # the same answer over the dev server's HTTP, and nothing written
    api = build_api(h.wiring.control, require_iam=False)
    server = ApiServer(lambda e, c: api.resolve(e, c), "127.0.0.1", 0).start()
    try:
        port = int(server.server_address[1])
        body = json.dumps({"text": text}).encode()
        status, answer = _post(port, f"/tasks/{task_id}/steer", body, {})
        assert (status, answer["error"]["code"]) == (413, "context_too_large"), answer
    finally:
        server.stop()
    assert client.llen(keys.inbox(task_id)) == accepted
    assert h.task(task_id)["status"] == "waiting_hook"
    assert [p["hook_id"] for p in h.task(task_id)["pending_hooks"]] == [hook_id]
