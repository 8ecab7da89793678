"""Many different requests at once through the dev server, with CPU burners running: each answer
is about its own request (issue: requests were served with another request's path, headers or
body, because Powertools keeps the request being served in state shared by every resolver).

Creates carry distinct idempotency keys, owners and inputs; resolves carry distinct tokens and
payloads; reads name distinct tasks and hooks. Every answer is checked against what its own
request asked, and each task's output against its own resolve's payload.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from factorial_aws.aws.settings import DevSettings
from factorial_aws.core import ids
from factorial_aws.local.dev import DevServer
from tests.integration.soak import APP, SECRET, Http, cpu_burners, stub_reply

TASKS = 48
THREADS = 48
BURNERS = 2
DEADLINE_S = 60.0


@pytest.fixture
def dev() -> Iterator[DevServer]:
    lines: list[str] = []
    server = DevServer(
        APP,
        port=0,
        settings=DevSettings(hook_secret=SECRET),
        stub_reply=stub_reply,
        say=lines.append,
    )
    with server, cpu_burners(BURNERS):
        yield server


def all_at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run every call on its own thread, released together; the results (or exceptions)."""
    gate = threading.Barrier(len(calls))

    def run(f: Callable[[], Any]) -> Any:
        gate.wait()
        try:
            return f()
        except Exception as exc:  # reported by the caller with the others
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def parked_hooks(http: Http, task_ids: list[str]) -> dict[str, str]:
    """Task id -> the hook it parked on, once every task has parked."""
    hooks: dict[str, str] = {}

    def all_parked() -> bool:
        for task_id in task_ids:
            if task_id not in hooks:
                task = http.call("GET", f"/tasks/{task_id}")[1]
                if task["status"] == "waiting_hook" and task["pending_hooks"]:
                    hooks[task_id] = task["pending_hooks"][0]["hook_id"]
        return len(hooks) == len(task_ids)

    until(all_parked, "every task to park on its hook")
    return hooks


def outputs_when_completed(http: Http, task_ids: list[str]) -> dict[str, str]:
    """Task id -> its output, once every task has completed."""
    outputs: dict[str, str] = {}

    def all_done() -> bool:
        for task_id in task_ids:
            if task_id not in outputs:
                task = http.call("GET", f"/tasks/{task_id}")[1]
                assert task["status"] not in ("failed", "cancelled"), task
                if task["status"] == "completed":
                    outputs[task_id] = str(task["output"])
        return len(outputs) == len(task_ids)

    until(all_done, "every task to complete")
    return outputs


def test_concurrent_requests_each_get_their_own_answer(dev: DevServer) -> None:
    http = Http(dev.base_url)

    def create(i: int) -> Callable[[], tuple[int, Any]]:
        spec = {"tool": "pay", "args": {"amount": 1000 + i, "timeout_s": 3600}}
        body = {"agent": "payer", "input": json.dumps(spec), "owner_id": f"owner-{i}"}
        return lambda: http.call("POST", "/tasks", body, {"Idempotency-Key": f"key-{i}"})

    created = all_at_once([create(i) for i in range(TASKS)])
    errors = [a for a in created if isinstance(a, Exception) or a[0] != 201]
    assert not errors, errors[:3]
    task_ids = [answer["task_id"] for _, answer in created]
    assert len(set(task_ids)) == TASKS, "two creates with different keys got the same task"

    # replays (same key) and owner listings, interleaved: each names its own task
    replays = all_at_once(
        [create(i) for i in range(TASKS)]
        + [
            (lambda i=i: http.call("GET", f"/tasks?owner_id=owner-{i}"))  # type: ignore[misc]
            for i in range(TASKS)
        ]
    )
    for i, (status, answer) in enumerate(replays[:TASKS]):
        assert (status, answer["task_id"]) == (201, task_ids[i]), (i, answer)
    for i, (_, answer) in enumerate(replays[TASKS:]):
        assert [t["task_id"] for t in answer["tasks"]] == [task_ids[i]], (i, answer)

    hooks = parked_hooks(http, task_ids)

    def resolve(i: int) -> Callable[[], tuple[int, Any]]:
        hook_id = hooks[task_ids[i]]
        token = ids.hook_token(SECRET.encode(), hook_id, 1)
        payload = {"approved": True, "reviewer": f"reviewer-{i}"}
        headers = {"X-Hook-Token": token, "Idempotency-Key": f"resolve-{i}"}
        return lambda: http.call("POST", f"/hooks/{hook_id}/resolve", payload, headers)

    def read(i: int) -> Callable[[], tuple[int, Any]]:
        return lambda: http.call("GET", f"/tasks/{task_ids[i]}")

    def describe(i: int) -> Callable[[], tuple[int, Any]]:
        return lambda: http.call("GET", f"/hooks/{hooks[task_ids[i]]}")

    mixed = all_at_once(
        [resolve(i) for i in range(TASKS)]
        + [read(i) for i in range(TASKS)]
        + [describe(i) for i in range(TASKS)]
    )
    failures = [a for a in mixed if isinstance(a, Exception)]
    assert not failures, failures[:3]
    resolved, reads, described = mixed[:TASKS], mixed[TASKS : 2 * TASKS], mixed[2 * TASKS :]
    for i in range(TASKS):
        task_id, hook_id = task_ids[i], hooks[task_ids[i]]
        assert resolved[i][0] == 200, (i, resolved[i])
        assert (resolved[i][1]["hook_id"], resolved[i][1]["task_id"]) == (hook_id, task_id)
        assert resolved[i][1]["status"] == "resolved"
        assert (reads[i][0], reads[i][1]["task_id"]) == (200, task_id), (i, reads[i])
        assert (described[i][0], described[i][1]["hook_id"]) == (200, hook_id), described[i]
        assert described[i][1]["title"] == f"approve {1000 + i}"

    outputs = outputs_when_completed(http, task_ids)
    for i, task_id in enumerate(task_ids):  # its own amount, paid on its own reviewer's word
        assert outputs[task_id] == f"done: paid {1000 + i} (reviewer-{i})", (i, outputs[task_id])
    assert not any(status >= 500 for status in http.answers), http.answers
