"""The demo behind `make demo`: a local agent parks on a hook and resumes when the hook is
resolved over HTTP.

It starts the dev server in process (embedded Valkey, the HTTP API on 127.0.0.1, turns from the
in-process queue, a stub OpenAI-compatible model), creates a task with `POST /tasks`, waits for it
to park on its `Approval` hook, shows the hook (`GET /hooks/{id}`), resolves it with
`POST /hooks/{id}/resolve` and the hook's token, and waits for the task to complete.

    python examples/demo.py                 # resolves its own hook (what CI runs)
    python examples/demo.py --interactive   # prints the link and curl command; you resolve it
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from examples.payments.app import app
from examples.payments.stub import stub_reply
from factorial_aws.core import ids
from factorial_aws.local.dev import DevServer


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            **(headers or {}),
        },
    )
    with urllib.request.urlopen(req, timeout=10) as resp:  # loopback only
        return json.loads(resp.read())


def wait_for(base: str, task_id: str, statuses: set[str], timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        task = http("GET", f"{base}/tasks/{task_id}")
        if task["status"] in statuses or time.monotonic() > deadline:
            return dict(task)
        time.sleep(0.05)


def show(step: str, text: str) -> None:
    print(f"{step:>9} | {text}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactive", action="store_true", help="resolve the hook yourself")
    args = parser.parse_args()
    with DevServer(app, port=0, stub_reply=stub_reply, say=lambda m: show("dev", m)) as dev:
        base = dev.base_url
        created = http(
            "POST",
            f"{base}/tasks",
            {"agent": "payments", "input": "Pay 1,250.00 USD to DE89370400440532013000."},
        )
        task_id = created["task_id"]
        show("POST", f"/tasks -> {created['status']} {task_id}")
        task = wait_for(base, task_id, {"waiting_hook", "failed", "completed"})
        show("GET", f"/tasks/{task_id} -> {task['status']}")
        if task["status"] != "waiting_hook":
            return 1
        hook = task["pending_hooks"][0]
        described = http("GET", f"{base}/hooks/{hook['hook_id']}")
        show(
            "GET",
            f"/hooks/{hook['hook_id']} -> {described['title']!r}, "
            f"fields {sorted(described['schema']['properties'])}",
        )
        if args.interactive:
            show(
                "waiting", "resolve the hook with the link or the curl command above (Ctrl-C stops)"
            )
            task = wait_for(base, task_id, {"completed", "failed", "cancelled"}, timeout_s=3600)
        else:
            assert dev.stack is not None
            token = ids.hook_token(dev.stack.hook_secret, hook["hook_id"], 1)
            payload = {"approved": True, "reviewer": "ana", "comment": "ok for Q4"}
            resolved = http(
                "POST", f"{base}/hooks/{hook['hook_id']}/resolve", payload, {"X-Hook-Token": token}
            )
            show(
                "POST",
                f"/hooks/{hook['hook_id']}/resolve {json.dumps(payload)} -> "
                f"{resolved['status']}, task_resumed={resolved['task_resumed']}",
            )
            task = wait_for(base, task_id, {"completed", "failed", "cancelled"})
        show("GET", f"/tasks/{task_id} -> {task['status']} (turn {task['turn']})")
        show("output", str(task["output"]))
        return 0 if task["status"] == "completed" else 1


if __name__ == "__main__":
    raise SystemExit(main())
