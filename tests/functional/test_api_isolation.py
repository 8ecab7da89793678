"""Two resolvers serving two requests at once each see their own request.

Powertools keeps the request being served in class attributes shared by every resolver in the
process; the dev server serves concurrent requests on a pool of resolvers, so a route that read
``current_event`` after another request had started read that request's headers and body (a
resolve answered 401 "a hook token is required" although it sent one). Here request A is held
inside its route, request B is served whole on another resolver, then A goes on: A must still see
its own ``Accept`` header. (Many different requests at once through the dev server, under CPU
load: tests/integration/test_dev_concurrency.py.)
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from factorial_aws import App
from factorial_aws.aws.api import build_api
from tests.functional.apps import agent, pay, pay_rule
from tests.functional.conftest import HarnessFactory
from tests.functional.harness import http_event

WAIT_S = 30


def _parked(make_harness: HarnessFactory, n: int) -> tuple[Any, list[str]]:
    h = make_harness(App([agent("payments", pay)]), pay_rule)
    task_ids = [h.create("payments", f"pay {i}") for i in range(n)]
    h.run_turns()
    hooks = [h.task(t)["pending_hooks"][0]["hook_id"] for t in task_ids]
    return h, hooks


def _hold_calls_from_a(
    monkeypatch: pytest.MonkeyPatch, cls: type, name: str
) -> tuple[threading.Event, threading.Event]:
    """Make calls of ``cls.name`` from the thread named "A" wait for a release."""
    entered, release = threading.Event(), threading.Event()
    original = getattr(cls, name)

    def held(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name == "A":
            entered.set()
            assert release.wait(WAIT_S), "never released"
        return original(*args, **kwargs)

    monkeypatch.setattr(cls, name, held)
    return entered, release


def _serve_in_a(resolver: Any, event: dict[str, Any], out: dict[str, Any]) -> threading.Thread:
    def run() -> None:
        out["answer"] = resolver.resolve(event, None)

    thread = threading.Thread(target=run, name="A", daemon=True)
    thread.start()
    return thread


def test_a_held_request_keeps_its_own_headers(
    make_harness: HarnessFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    h, (hook_id,) = _parked(make_harness, 1)
    control = h.wiring.control
    first, second = build_api(control, require_iam=False), build_api(control, require_iam=False)
    entered, release = _hold_calls_from_a(monkeypatch, type(control), "describe_hook")
    out: dict[str, Any] = {}
    html = http_event("GET", f"/hooks/{hook_id}", headers={"accept": "text/html"}, caller_arn=None)
    a = _serve_in_a(first, html, out)
    assert entered.wait(WAIT_S)
    as_json = http_event("GET", f"/hooks/{hook_id}", caller_arn=None)
    b = second.resolve(as_json, None)
    release.set()
    a.join(WAIT_S)
    assert b["headers"]["Content-Type"] == "application/json"
    assert out["answer"]["statusCode"] == 200
    assert out["answer"]["headers"]["Content-Type"].startswith("text/html"), out["answer"]
