"""Webhook delivery to resolve, with many open hooks of the source waiting (one run, one table).

Usage: python benchmarks/webhooks_bench.py [--open N] [--iterations N] [--early N]

``--open`` hooks of the ``github`` source wait in the routing index (default 10,000, each on its
own commit: registered with ``register_webhook_hook.lua``, as the runner does after a commit),
then ``--iterations`` tasks park on a hook of their own and each is resolved by a signed
``check_run`` delivery through ``Control.deliver_webhook`` (verification, lookup, validation by the
hook's type, resolve, delivery record). Figures, timed against PING round trips measured in the
same run through the same client:

- delivery -> resolved, p50 and p99, in PINGs; round trips and commands per delivery;
- an ignored delivery (no hook waits for its commit; kept as early) in PINGs and round trips, over
  ``--early`` of them (default 500, the most kept per source);
- the same delivery again (``idempotent``) in round trips;
- the registration of a sourced hook after its commit, in round trips;
- a registration's time with the ignored deliveries above kept as early events (each is checked
  against the new hook's match);
- round trips per delivery again on a one-node cluster (ElastiCache Serverless is cluster mode).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import TYPE_CHECKING, Annotated, Any, Literal

from _bench import Row, Tally, counting, median, pct, ping_times, print_table, server
from pydantic import BaseModel, ConfigDict

from factorial_aws import Agent, App, Hook, HookRequestContext, PendingHook, hook, tool, webhooks
from factorial_aws.core.clock import SystemClock
from factorial_aws.local.stack import LocalStack
from factorial_aws.store import keys
from factorial_aws.store.base import StoreContext, StoreSettings
from factorial_aws.store.webhooks import EARLY_CAP, Registration, register_hooks
from factorial_aws.testing import ScriptedModel
from factorial_aws.webhooks.match import match_digest, shape_of
from factorial_aws.webhooks.schemes import github

if TYPE_CHECKING:
    from factorial_aws.llm.base import ModelRequest

SECRET = "bench-webhook-secret"
DEFAULT_OPEN = 10_000
DEFAULT_ITERATIONS = 200
PINGS = 2000
REGISTER_BATCH = 1000
_LENIENT = ConfigDict(extra="ignore")


class CheckRun(BaseModel):
    model_config = _LENIENT
    head_sha: str


class CheckRunCompleted(Hook):
    model_config = _LENIENT
    action: Literal["completed"]
    check_run: CheckRun


def wait_for_ci(ctx: HookRequestContext, sha: str) -> PendingHook[CheckRunCompleted]:
    return CheckRunCompleted.pending(
        ctx=ctx, title="CI", timeout_s=3600, source="github", match={"check_run.head_sha": sha}
    )


@tool
def deploy(sha: str, ci: Annotated[CheckRunCompleted, hook.requires(wait_for_ci)]) -> str:
    """Deploy once CI completes."""
    return f"deployed {sha[:7]}"


APP = App(
    agents=[Agent(name="deployer", instructions="deploy", model="m", tools=[deploy])],
    webhooks=[webhooks.github()],
)


class Model:
    async def complete(self, request: ModelRequest) -> Any:
        last = request.messages[-1]
        step: Any = (
            "done" if last.role == "tool" else [ScriptedModel.call("deploy", sha=last.content)]
        )
        return await ScriptedModel(step).complete(request)


def sha(n: int) -> str:
    return f"{n:040x}"


def delivery(n: int, delivery_id: str) -> tuple[bytes, dict[str, str]]:
    event = {"action": "completed", "check_run": {"head_sha": sha(n), "name": "ci"}}
    body = json.dumps(event).encode()
    headers = {
        "X-Hub-Signature-256": github.sign(SECRET, body),
        "X-GitHub-Delivery": delivery_id,
        "Content-Type": "application/json",
    }
    return body, headers


def fill_index(sc: StoreContext, count: int) -> None:
    """``count`` open hooks of the source, each on its own commit, in the routing index."""
    expiry = sc.now_ms() + 3_600_000
    for start in range(0, count, REGISTER_BATCH):
        calls: list[tuple[list[str], list[Any]]] = []
        for n in range(start, min(count, start + REGISTER_BATCH)):
            match = {"check_run.head_sha": sha(10_000_000 + n)}
            calls.append(
                (
                    [
                        *keys.webhook_keys("github"),
                        keys.webhook_match("github", match_digest(match)),
                    ],
                    ["", f"t-bench{n}.h0", expiry, shape_of(match), json.dumps(match)],
                )
            )
        sc.scripts.call_many("register_webhook_hook", calls)


def park(stack: LocalStack, n: int) -> str:
    task_id = stack.control.create_task("deployer", sha(n)).task_id
    stack.run_due()
    return task_id


def measure(
    client: Any, admin: Any, open_hooks: int, iterations: int, early: int
) -> dict[str, Any]:
    stack = LocalStack(APP, client, Model(), SystemClock(), b"bench", "http://x",
                       settings=StoreSettings())  # fmt: skip
    fill_index(stack.store, open_hooks)
    assert client.zcard(keys.webhook_shapes("github")) == 1
    park(stack, 9_999_999)  # warm up: every script loaded before anything is counted
    body, headers = delivery(9_999_999, "warm-up")
    assert stack.control.deliver_webhook("github", body, headers).status == "resolved"
    pings = ping_times(client, PINGS)
    times: list[float] = []
    per: list[Tally] = []
    register: list[Tally] = []
    for i in range(iterations):
        with counting() as reg:
            park(stack, i)
        register.append(reg)
        body, headers = delivery(i, f"d-{i}")
        with counting(admin) as tally:
            start = time.perf_counter()
            answer = stack.control.deliver_webhook("github", body, headers)
            times.append(time.perf_counter() - start)
        assert answer.status == "resolved", answer
        per.append(tally)
    body, headers = delivery(iterations - 1, f"d-{iterations - 1}")
    with counting() as replay:
        assert stack.control.deliver_webhook("github", body, headers).status == "idempotent"
    ignored_times: list[float] = []
    with counting() as ignored:
        for i in range(early):
            body, headers = delivery(5_000_000 + i, f"x-{i}")
            start = time.perf_counter()
            assert stack.control.deliver_webhook("github", body, headers).status == "ignored"
            ignored_times.append(time.perf_counter() - start)
    # what kept early events cost a registration: the script checks each one against the match
    kept = client.zcard(keys.webhook_early("github"))
    reg_times: list[float] = []
    for i in range(iterations):
        match = {"check_run.head_sha": sha(20_000_000 + i)}
        hook = Registration(f"t-bench-reg{i}.h0", "github", match, stack.store.now_ms() + 60_000)
        start = time.perf_counter()
        assert register_hooks(stack.store, [hook]) == []
        reg_times.append(time.perf_counter() - start)
    return {
        "kept": kept,
        "reg_time": median(reg_times),
        "ping": median(pings),
        "times": times,
        "trips": median([float(t.trips) for t in per]),
        "commands": median([float(t.commands) for t in per]),
        "server": median([float(t.server) for t in per]),
        "replay": replay.trips,
        "ignored": median(ignored_times),
        "ignored_trips": ignored.trips / max(1, early),
        # a park is create (1) + claim + commit + registration; the registration is the last one
        "register": median([float(t.trips) for t in register]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=DEFAULT_OPEN)
    parser.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS)
    parser.add_argument("--early", type=int, default=EARLY_CAP)
    args = parser.parse_args()
    os.environ["FACTORIAL_WEBHOOK_SECRET_GITHUB"] = SECRET
    with server(cluster=False) as (_, client, admin):
        m = measure(client, admin, args.open, args.iterations, args.early)
    with server(cluster=True) as (_, client, admin):
        c = measure(client, admin, args.open, max(3, args.iterations // 4), 3)
    ping = m["ping"]
    rows = [
        Row("open hooks of the source waiting", f"{args.open:,}"),
        Row("PING round trip (median)", f"{ping * 1e6:.0f} us"),
        Row("delivery -> resolved, p50, in PINGs", f"{pct(m['times'], 50) / ping:.1f}"),
        Row("delivery -> resolved, p99, in PINGs", f"{pct(m['times'], 99) / ping:.1f}"),
        Row("round trips per resolving delivery", f"{m['trips']:.0f}", "4", m["trips"] <= 4),
        Row("commands sent per resolving delivery", f"{m['commands']:.0f}"),
        Row("commands the server ran per delivery (incl. Lua)", f"{m['server']:.0f}"),
        Row("ignored delivery (kept early), in PINGs", f"{m['ignored'] / ping:.1f}"),
        Row(
            "round trips per ignored delivery",
            f"{m['ignored_trips']:.0f}",
            "2",
            m["ignored_trips"] <= 2,
        ),
        Row(
            "round trips of a replayed delivery (idempotent)",
            f"{m['replay']}",
            "2",
            m["replay"] <= 2,
        ),
        Row("round trips to park a task incl. its registration", f"{m['register']:.0f}"),
        Row(
            f"registration with {m['kept']} early events kept, in PINGs",
            f"{m['reg_time'] / ping:.1f}",
        ),
        Row(
            "[cluster] round trips per resolving delivery",
            f"{c['trips']:.0f}",
            "4",
            c["trips"] <= 4,
        ),
        Row(
            "[cluster] delivery -> resolved, p50, in PINGs",
            f"{pct(c['times'], 50) / c['ping']:.1f}",
        ),
    ]
    print_table(
        f"webhooks_bench: {args.iterations} deliveries, python {sys.version.split()[0]}", rows
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
