"""Logs and metrics: no token ever reaches a log line, task keys do, EMF metrics are emitted."""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from typing import Annotated, Any

import pytest

from factorial_aws import App, Hook, HookRequestContext, PendingHook, hook, tool
from factorial_aws.aws.observability import Observer, RedactingFilter, redact, route_package_logs
from factorial_aws.testing import FakeClock, call, tool_calls_reply
from tests.functional.apps import after_tool, agent
from tests.functional.conftest import MODEL_KEY, HarnessFactory
from tests.functional.harness import Harness

TOKEN = "Q2hhbmdlIG1lIHRvIGEgcmVhbCB0b2tlbiBwbGVhc2U"  # 43 url-safe base64 characters


class Receipt(Hook):
    number: str


leaky = logging.getLogger("factorial_aws.user_code")


def ask_receipt(ctx: HookRequestContext) -> PendingHook[Receipt]:
    pending = Receipt.pending(ctx=ctx, title="Upload the receipt", timeout_s=600)
    # careless user code: logs the capability link (token and all)
    leaky.warning(
        "send this link: %s?token=%s (raw %s)", pending.submit_url, pending.token, pending.token
    )
    return pending


@tool
def file_receipt(receipt: Annotated[Receipt, hook.requires(ask_receipt)]) -> str:
    """File a receipt."""
    return f"filed {receipt.number}"


def test_no_token_reaches_the_logs_over_a_whole_hook_life(
    make_harness: HarnessFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = io.StringIO()
    clock = FakeClock()
    service = f"factorial-logscan-{uuid.uuid4().hex[:8]}"  # a fresh Powertools logger
    observer = Observer(service, clock=clock, level="DEBUG", stream=stream)
    restore = route_package_logs(observer)
    try:
        rule = after_tool(tool_calls_reply(call("file_receipt")))
        h = make_harness(App([agent("clerk", file_receipt)]), rule, clock=clock, observer=observer)
        tokens = hook_life(h)
    finally:
        restore()
    logs = stream.getvalue()
    lines = [json.loads(line) for line in logs.splitlines()]
    assert len(lines) > 5 and all(line["service"] == service for line in lines)
    for token in tokens:
        assert token not in logs
    assert MODEL_KEY not in logs and "***" in logs
    assert any(line.get("message") == "event" for line in lines)  # requests were logged
    assert any(line.get("task_id") for line in lines)  # with their task keys
    (link_line,) = [line for line in lines if "send this link" in str(line.get("message"))]
    # a line logged by user code inside a hook builder carries the task, turn and tool call
    assert link_line["task_id"] and link_line["turn"] == 1
    # the provider's id of the call (the stub issues 9 letters and digits), as the transcript has it
    assert re.fullmatch("[A-Za-z0-9]{9}", link_line["tool_call_id"])
    assert link_line["tool"] == "file_receipt"
    emf = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"_aws"' in x]
    names = {m["Name"] for e in emf for d in e["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert {"Turns", "ModelLatency", "HooksRequested", "HooksResolved", "ResolveLatency"} <= names
    assert all(e["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "FactorialAws" for e in emf)


def hook_life(h: Harness) -> list[str]:
    """Create, park, describe (JSON, HTML with the token in the URL), a failed resolve, rotate,
    resolve with the new token in the query, finish, sweep: the tokens involved."""
    task_id = h.create("clerk", "file it")
    h.run_turns()
    (pending,) = h.task(task_id)["pending_hooks"]
    hook_id = pending["hook_id"]
    first = h.token(hook_id)
    h.http("GET", f"/hooks/{hook_id}", query={"token": first}, headers={"Accept": "text/html"})
    assert h.resolve(hook_id, {"number": 7}, token=first).status == 422
    rotated = h.http("POST", f"/hooks/{hook_id}/rotate", {"revoke_previous": False}).json()
    second = rotated["token"]
    answer = h.http("POST", f"/hooks/{hook_id}/resolve", {"number": "R-1"}, query={"token": second})
    assert answer.status == 200
    h.run_turns()
    h.sweep()
    assert h.task(task_id)["output"] == "done: filed R-1"
    return [first, second]


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"token {TOKEN} leaked", TOKEN),
        ("https://x.test/hooks/h?token=short-token&x=1", "short-token"),
        ('{"x-hook-token": "abc def"}', "abc def"),
        ("X-Hook-Token: abcdef", "abcdef"),
        ('{"token": "rotated-value"}', "rotated-value"),
        (f"key {MODEL_KEY}", MODEL_KEY),
        ("Authorization: Bearer eyJhbGciOi.payload.sig", "eyJhbGciOi.payload.sig"),
        ('{"x-amz-security-token": "FwoGZXIvYXdzE"}', "FwoGZXIvYXdzE"),
    ],
)
def test_redact_masks_secrets(text: str, secret: str) -> None:
    assert secret not in redact(text)


def test_redact_keeps_ids_and_hashes() -> None:
    hook_id = "t-abcdefghijklmnopqrstuvwxyz.h0123456789abcdef"
    schedule = "fa-t-abcdefghijklmnopqrstuvwxyz-0123456789abcdef"
    digest = "a" * 64
    text = f"{hook_id} {schedule} {digest} token_version=2"
    assert redact(text) == text


def test_the_filter_redacts_plain_logging_records() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token=%s", (TOKEN,), None)
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "token=***"


def test_metrics_flush_only_when_there_are_some(capsys: pytest.CaptureFixture[str]) -> None:
    service = f"factorial-metrics-{uuid.uuid4().hex[:8]}"
    observer = Observer(service, clock=FakeClock(), stream=io.StringIO())
    observer.flush()
    assert capsys.readouterr().out == ""
    observer.turn_message("completed", 0.25)
    observer.turn_message("failed", 0.1)
    observer.turn_message("woke", 0)
    observer.flush()
    (line,) = capsys.readouterr().out.splitlines()
    emf: dict[str, Any] = json.loads(line)
    assert emf["Turns"] == [1.0, 1.0] and emf["TurnDuration"] == [250.0, 100.0]
    assert emf["TurnFailures"] == [1.0] and emf["Wakes"] == [1.0] and emf["service"] == service
