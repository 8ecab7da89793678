"""The examples, served by a real dev server in process and driven over its HTTP API.

``serve(app, stub_reply)`` starts ``DevServer(app, port=0, stub_reply=..., say=...)`` (embedded
Valkey, the HTTP API on 127.0.0.1, the example's stub model through the real ``openai`` client)
and returns an :class:`Api` to talk to it; every server is stopped when the test ends. What the
server said is kept in ``Api.lines`` and shown when a wait times out.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from factorial_aws.agents.agent import App
from factorial_aws.core import ids
from factorial_aws.local.dev import DevServer
from factorial_aws.testing import StubReply

TERMINAL = frozenset({"completed", "failed", "cancelled"})
StubFn = Callable[[dict[str, Any]], StubReply]


@dataclass
class Api:
    """A small HTTP client for one running dev server."""

    dev: DevServer
    lines: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return self.dev.base_url

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """``(status, decoded JSON body)``; an HTTP error status is returned, not raised."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"}
            | (headers or {}),
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            with err:
                return err.code, json.loads(err.read() or b"null")

    def ok(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        status, answer = self.call(method, path, body)
        assert status == expect, f"{method} {path} -> {status} {answer}\n{self.log()}"
        return answer

    def create(self, agent: str, text: str) -> str:
        """``POST /tasks``; the new task's id."""
        created = self.ok("POST", "/tasks", {"agent": agent, "input": text}, expect=201)
        assert created["status"] == "queued"
        return str(created["task_id"])

    def task(self, task_id: str) -> dict[str, Any]:
        return dict(self.ok("GET", f"/tasks/{task_id}"))

    def events(self, task_id: str) -> list[dict[str, Any]]:
        return list(self.ok("GET", f"/tasks/{task_id}/events?limit=200")["events"])

    def hook(self, hook_id: str) -> dict[str, Any]:
        return dict(self.ok("GET", f"/hooks/{hook_id}"))

    def token(self, hook_id: str) -> str:
        """The hook's token, derived as the runtime derives it (version 1)."""
        assert self.dev.stack is not None
        return ids.hook_token(self.dev.stack.hook_secret, hook_id, 1)

    def resolve(
        self, hook_id: str, payload: Any, *, token: str | None = None, in_query: bool = False
    ) -> tuple[int, Any]:
        """``POST /hooks/{id}/resolve`` with the hook's token in the header (or the query)."""
        given = token or self.token(hook_id)
        if in_query:
            return self.call("POST", f"/hooks/{hook_id}/resolve?token={given}", payload)
        return self.call("POST", f"/hooks/{hook_id}/resolve", payload, {"X-Hook-Token": given})

    def wait(
        self,
        task_id: str,
        until: Callable[[dict[str, Any]], bool] | set[str] | frozenset[str] = TERMINAL,
        timeout_s: float = 30.0,  # a stuck task, not a slow turn on a loaded machine
    ) -> dict[str, Any]:
        """Poll ``GET /tasks/{id}`` until ``until`` (a predicate or a set of statuses) holds."""
        check = until if callable(until) else (lambda t: t["status"] in until)
        deadline = time.monotonic() + timeout_s
        while True:
            task = self.task(task_id)
            if check(task):
                return task
            if time.monotonic() > deadline:
                pytest.fail(f"task {task_id} stuck at {task}\n{self.log()}", pytrace=False)
            time.sleep(0.02)

    def parked_hook(self, task_id: str, title_part: str = "") -> dict[str, Any]:
        """Wait for the task to park on a hook whose title contains ``title_part``."""
        task = self.wait(
            task_id,
            lambda t: (
                t["status"] in TERMINAL
                or (
                    t["status"] == "waiting_hook"
                    and any(title_part in h["title"] for h in t["pending_hooks"])
                )
            ),
        )
        assert task["status"] == "waiting_hook", f"{task}\n{self.log()}"
        (pending,) = task["pending_hooks"]
        return dict(pending)

    def log(self) -> str:
        return "dev server said:\n" + "\n".join(self.lines)


@pytest.fixture
def serve() -> Iterator[Callable[[App, StubFn], Api]]:
    """Start dev servers for a test; all are stopped when it ends."""
    started: list[DevServer] = []

    def start(app: App, stub_reply: StubFn) -> Api:
        lines: list[str] = []
        dev = DevServer(app, port=0, stub_reply=stub_reply, say=lines.append)
        started.append(dev)
        dev.start()
        return Api(dev, lines)

    yield start
    for dev in reversed(started):
        dev.stop()
