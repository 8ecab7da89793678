"""A turn worker run as its own process by test_process_deaths.py, to be killed with SIGKILL.

``python -m tests.integration.crash_worker URL TASK_ID MARKS`` connects to the store at ``URL``
(standalone or cluster, detected), runs the turn message ``(TASK_ID, seq 1)`` with the app below,
whose tool appends a line to ``MARKS`` and then blocks: the test kills the process while the tool
runs, holding the lease. The test process recovers the task with the same app (the tool does not
block there: ``CRASH_WORKER_BLOCK`` is set only in this process).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

from factorial_aws import Agent, App, tool
from factorial_aws.core.clock import SystemClock
from factorial_aws.core.records import QueueMessage
from factorial_aws.llm.base import ModelRequest
from factorial_aws.local.stack import LocalStack
from factorial_aws.store.base import StoreSettings
from factorial_aws.store.client import connect
from factorial_aws.testing import ScriptedModel

SECRET = b"crash-worker"
#: A short lease, renewed by the runner's heartbeat while the tool blocks.
SETTINGS = StoreSettings(lease_ms=1500, lease_renew_ms=300, dispatch_grace_ms=1000)


@tool
def slow_write(text: str) -> str:
    """Write a line, then (in the worker process) block until killed."""
    with Path(os.environ["CRASH_WORKER_MARKS"]).open("a") as f:
        f.write(f"{os.getpid()} {text}\n")
    if os.environ.get("CRASH_WORKER_BLOCK"):
        time.sleep(120)
    return "written"


def rule(req: ModelRequest) -> Any:
    return (
        "done" if req.messages[-1].role == "tool" else [ScriptedModel.call("slow_write", text="x")]
    )


class _Model:
    async def complete(self, request: ModelRequest) -> Any:
        return await ScriptedModel(rule(request)).complete(request)


APP = App([Agent(name="w", instructions="i", model="m", tools=[slow_write])])


def stack(client: Any) -> LocalStack:
    """The stack both processes run: real time, the store's own clock."""
    return LocalStack(APP, client, _Model(), SystemClock(), SECRET, "http://x", settings=SETTINGS)


def main() -> None:
    url, task_id, marks = sys.argv[1:4]
    os.environ["CRASH_WORKER_MARKS"] = marks
    os.environ["CRASH_WORKER_BLOCK"] = "1"
    s = stack(connect(url))
    asyncio.run(s.runner.handle(QueueMessage(kind="turn", task_id=task_id, seq=1)))


if __name__ == "__main__":
    main()
