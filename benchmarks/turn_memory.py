"""Memory of the turn function: what sizes ``TurnMemoryMb`` (docs/deploy.md, cost per 1,000 tasks).

Two measurements in one run:

1. **Footprint** (a fresh subprocess, nothing else loaded): peak RSS (``VmHWM``) after
   ``import handlers.turn``, building the OpenAI client and the boto3 SQS, Scheduler and Secrets
   Manager clients: what a warm turn container holds before any turn.
2. **Turns** (this process): tasks of 3 turns and 1 hook (the model calls the hook-gated ``pay``;
   the hook is resolved; the model calls ``lookup``; then it answers) run through the real
   ``handlers.turn.handler``: SQS batches from moto's queue, the real ``openai`` client against
   the stub server, the embedded Valkey. Reported: the ``tracemalloc`` peak of the Python heap
   while the turns run, and the growth of this process's peak RSS. Both are upper bounds for the
   function: moto, the stub server (which keeps every request) and Valkey's client live here too.

Usage: ``python benchmarks/turn_memory.py [--tasks N]``. Bounded (default 20 tasks, ~10 s), local
only (127.0.0.1), stops by itself.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import os
import resource
import subprocess
import sys
import tracemalloc
import uuid
from pathlib import Path
from typing import Annotated, Any

from _bench import Row, print_table

from factorial_aws import Agent, App, Hook, HookRequestContext, PendingHook, hook, tool

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # handlers/ lives at the repository root

MB = 1024 * 1024
REGION = "us-east-1"
FOOTPRINT = """
import re, resource

def hwm():  # VmHWM starts afresh at exec; ru_maxrss keeps the forking parent's peak
    try:
        with open("/proc/self/status") as status:
            return int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1))
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
base = hwm()
import boto3
import handlers.turn
from factorial_aws.llm.openai_client import OpenAIModel
OpenAIModel(api_key="sk-memory", base_url="http://127.0.0.1:9/v1")
for name in ("sqs", "scheduler", "secretsmanager"):
    boto3.client(name, region_name="us-east-1")
print(base, hwm())
"""


def footprint() -> tuple[float, float]:
    """(RSS of the bare interpreter, RSS with the turn handler loaded), in MB."""
    env = dict(os.environ, AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x")
    out = subprocess.run(
        [sys.executable, "-c", FOOTPRINT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    return int(out[0]) / 1024, int(out[1]) / 1024  # KiB


def _aws_env() -> None:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN"):
        os.environ.pop(name, None)
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )


class Approval(Hook):
    approved: bool
    reviewer: str


def ask(ctx: HookRequestContext, amount: int) -> PendingHook[Approval]:
    return Approval.pending(ctx=ctx, title=f"Approve {amount}", timeout_s=600)


@tool
def pay(amount: int, approval: Annotated[Approval, hook.requires(ask)]) -> str:
    """Pay once approved."""
    return f"paid {amount}" if approval.approved else "refused"


@tool
def lookup(order: str) -> str:
    """Look an order up."""
    return f"order {order}: shipped"


APP = App([Agent(name="payments", instructions="pay", model="stub-model", tools=[pay, lookup])])


def _rule(body: dict[str, Any]) -> Any:
    """Turn 1: call pay (parks on the hook); turn 2: call lookup; turn 3: answer."""
    from factorial_aws.testing import call, text_reply, tool_calls_reply

    tool_messages = [m for m in body["messages"] if m["role"] == "tool"]
    if not tool_messages:
        return tool_calls_reply(call("pay", amount=5))
    if len(tool_messages) == 1:
        return tool_calls_reply(call("lookup", order="A-1"))
    return text_reply("paid and shipped")


def run_tasks(n: int) -> tuple[int, int, float, float]:
    """(tasks completed, turns run, tracemalloc peak MB, peak RSS growth MB) over ``n`` tasks."""
    _aws_env()
    from moto import mock_aws

    import handlers.turn
    from factorial_aws.aws import clients, wiring
    from factorial_aws.aws.observability import Observer
    from factorial_aws.aws.settings import Settings
    from factorial_aws.core import ids
    from factorial_aws.core.clock import SystemClock
    from factorial_aws.testing import StubOpenAIServer
    from factorial_aws.testing.valkey import EmbeddedValkey

    secret = "memory-hook-secret"
    clients.reset()
    with mock_aws(), EmbeddedValkey() as valkey, StubOpenAIServer(default_reply=_rule) as stub:
        sqs = clients.sqs()
        url = sqs.create_queue(QueueName="turns")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        clients.scheduler().create_schedule_group(Name="wakes")
        secret_arn = clients.secretsmanager().create_secret(Name="hook", SecretString=secret)["ARN"]
        settings = Settings(
            app="unused:app",
            redis_url="redis://127.0.0.1:1",
            turn_queue_url=url,
            turn_queue_arn=arn,
            scheduler_group="wakes",
            scheduler_role_arn="arn:aws:iam::123456789012:role/wakes",
            hook_secret_arn=secret_arn,
            public_base_url="https://api.example.test",
            openai_base_url=stub.base_url,
            openai_api_key="sk-memory",
            require_iam=False,
        )
        container = wiring.build(
            settings,
            app=APP,
            redis_client=valkey.client(),
            sqs_client=sqs,
            scheduler_client=clients.scheduler(),
            secrets_client=clients.secretsmanager(),
            observer=Observer(settings.service_name, clock=SystemClock(), stream=io.StringIO()),
        )
        wiring.install(container)

        def drain() -> int:
            handled = 0
            while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
                "Messages", []
            ):
                records = [
                    {
                        "messageId": m["MessageId"],
                        "receiptHandle": m["ReceiptHandle"],
                        "body": m["Body"],
                        "attributes": {"ApproximateReceiveCount": "1"},
                        "messageAttributes": {},
                        "eventSource": "aws:sqs",
                        "eventSourceARN": arn,
                        "awsRegion": REGION,
                    }
                    for m in messages
                ]
                result = handlers.turn.handler({"Records": records}, None)
                assert not result["batchItemFailures"], result
                for m in messages:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                handled += len(messages)
            return handled

        def one_task() -> tuple[bool, int]:
            task_id = container.control.create_task("payments", f"pay order {uuid.uuid4().hex}")
            turns = drain()
            (pending,) = container.control.get_task(task_id.task_id).pending_hooks
            token = ids.hook_token(secret.encode(), pending.hook_id, 1)
            container.control.resolve_hook(
                pending.hook_id, json.dumps({"approved": True, "reviewer": "ana"}), token
            )
            turns += drain()
            return container.control.get_task(task_id.task_id).status == "completed", turns

        one_task()  # warm: imports openai, builds the model client, first connections
        gc.collect()
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()
        done = turns = 0
        for _ in range(n):
            completed, ran = one_task()
            done += completed
            turns += ran
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        wiring.install(None)
    clients.reset()
    return done, turns, peak / MB, (rss_after - rss_before) / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20)
    args = parser.parse_args(argv)
    bare, loaded = footprint()
    # Powertools writes each invocation's metrics (EMF) to stdout: keep them out of the table.
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        done, turns, heap_peak, rss_growth = run_tasks(args.tasks)
    rows = [
        Row("bare interpreter, peak RSS", f"{bare:.1f} MB"),
        Row("turn handler + openai + boto3 clients loaded, peak RSS", f"{loaded:.1f} MB"),
        Row(f"tasks of 3 turns and 1 hook completed (of {args.tasks})", str(done)),
        Row("  turns run through handlers.turn.handler", str(turns)),
        Row("Python heap peak while they ran (tracemalloc)", f"{heap_peak:.2f} MB"),
        Row("peak RSS growth while they ran", f"{rss_growth:.1f} MB"),
        Row(
            "footprint / 512 MB (TurnMemoryMb default, same run)",
            f"{loaded / 512:.2f}x",
            "<= 0.5x",
            loaded / 512 <= 0.5,
        ),
    ]
    print_table("turn_memory: the turn function's memory", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
