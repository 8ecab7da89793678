"""The store against the DESIGN section 9 targets, measured in one run on an embedded Valkey.

Usage: python benchmarks/store_bench.py [--iterations N] [--cluster]

Prints one table (figure, value, target, ok/over/info):

- Redis round trips (a pipeline is one) and commands per turn, per resolve, and over one
  hook-gated tool call's life, counted by wrapping redis-py's connection class, plus the commands
  the server ran (``INFO commandstats`` delta, counting those inside the Lua scripts);
- claim+commit cycles per second and resolve p50/p99 latency, as multiples of a PING round trip
  timed in the same run, through the same client;
- ``MEMORY USAGE`` bytes of a task parked on a hook (without its context string, which is shown
  apart) and of one hook record;
- what is left of a finished task tree after ``expire_tree`` with a 1 s TTL: its keys, and the
  global index entries that still name it (before and after a maintenance sweep).

Default: everything on a standalone server, and the round-trip counts again on a one-node cluster
(ElastiCache Serverless is always cluster mode). ``--cluster``: everything on the cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from _bench import (
    APP,
    PAYLOAD_APPROVED,
    Row,
    Tally,
    call,
    counting,
    lookup_rule,
    make_stack,
    median,
    pay,
    pay_rule,
    pct,
    ping_times,
    print_table,
    server,
    token_for,
    tool_messages,
)

from factorial_aws import Agent, App, subagents, tool, wait
from factorial_aws.core import ids
from factorial_aws.core.clock import SystemClock
from factorial_aws.core.outcomes import Continue
from factorial_aws.core.records import QueueMessage, TaskEvent
from factorial_aws.runtime.maintenance import sweep
from factorial_aws.store import keys
from factorial_aws.store.base import StoreContext, StoreSettings
from factorial_aws.store.commit import commit_turn
from factorial_aws.store.expire_tree import expire_tree
from factorial_aws.store.hooks import describe_hook
from factorial_aws.store.tasks import Claimed, claim_turn, create_task
from factorial_aws.testing import FakeClock

if TYPE_CHECKING:
    from collections.abc import Callable

    from factorial_aws.llm.base import ModelRequest
    from factorial_aws.local.stack import LocalStack

DEFAULT_ITERATIONS = 5000
DEFAULT_CLUSTER_ITERATIONS = 3000  # the cluster client spends about twice the time per call
MEMORY_SAMPLE = 200
TTL_S = 1
TTL_POLL_LIMIT_S = 5.0

# --- counting -------------------------------------------------------------------------------------


@dataclass
class Counted:
    """One queue message handled, with what it sent."""

    outcome: str
    tally: Tally


def drain_counted(stack: LocalStack, admin: Any) -> list[Counted]:
    """Deliver every due message, counting each message's round trips apart."""
    out: list[Counted] = []

    async def handler(message: QueueMessage) -> str:
        with counting(admin) as tally:
            outcome = await stack.runner.handle(message)
        out.append(Counted(outcome, tally))
        return outcome

    asyncio.run(stack.queue.drain(handler))
    return out


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} us"


def fmt(t: Tally) -> str:
    return f"{t.trips} rt / {t.commands} cmd"


def wire(t: Tally) -> str:
    return " | ".join(t.sent)


def _count_create(stack: LocalStack, admin: Any, agent: str) -> tuple[str, Tally]:
    with counting(admin) as tally:
        created = stack.control.create_task(agent, "go")
    return created.task_id, tally


def count_rows(client: Any, admin: Any, label: str, log: list[str]) -> list[Row]:
    """Round trips of each step a task takes, in steady state (scripts loaded, pool warm)."""
    look = make_stack(client, lookup_rule(3))
    payer = make_stack(client, pay_rule)
    for stack, agent in ((look, "look"), (payer, "pay")):  # warm: scripts, connections
        task = stack.control.create_task(agent, "warm")
        stack.run_due()
        for pending in stack.control.get_task(task.task_id).pending_hooks:
            stack.control.resolve_hook(
                pending.hook_id, PAYLOAD_APPROVED, token_for(pending.hook_id)
            )
        stack.run_due()

    _, create = _count_create(look, admin, "look")
    turns = drain_counted(look, admin)  # queued, queued, completed
    cont = next(c.tally for c in turns if c.outcome == "queued")
    final = next(c.tally for c in turns if c.outcome == "completed")

    task_id, _ = _count_create(payer, admin, "pay")
    (park,) = drain_counted(payer, admin)
    view = payer.control.get_task(task_id)
    (pending,) = view.pending_hooks
    with counting(admin) as get_task_tally:
        payer.control.get_task(task_id)
    with counting(admin) as describe:
        describe_hook(payer.store, pending.hook_id)
    with counting(admin) as resolve:
        res = payer.control.resolve_hook(
            pending.hook_id, PAYLOAD_APPROVED, token_for(pending.hook_id)
        )
    assert res.task_resumed, res
    (body,) = drain_counted(payer, admin)
    assert park.outcome == "waiting_hook" and body.outcome == "completed", (park, body)
    life = Tally()
    for t in (park.tally, resolve, body.tally):
        life.add(t)

    admin.script_flush()
    _, cold_create = _count_create(look, admin, "look")
    cold_turn = drain_counted(look, admin)[0].tally

    for name, t in (
        ("continuing turn", cont),
        ("final turn", final),
        ("turn parking on a hook", park.tally),
        ("resolve", resolve),
        ("turn running the hook-gated body", body.tally),
        ("create_task", create),
        ("first turn after SCRIPT FLUSH", cold_turn),
    ):
        log.append(f"{label.strip() or '[standalone]'} {name}: {wire(t)}")
    life_parts = f"{park.tally.trips}+{resolve.trips}+{body.tally.trips}"
    return [
        Row(f"round trips per turn, continuing{label}", fmt(cont), "2", cont.trips <= 2),
        Row(f"round trips per turn, final (complete){label}", fmt(final), "2", final.trips <= 2),
        Row(
            f"round trips per turn, parking on a hook{label}",
            fmt(park.tally),
            "2",
            park.tally.trips <= 2,
        ),
        Row(f"round trips per resolve{label}", fmt(resolve), "1", resolve.trips <= 1),
        Row(
            f"round trips over a hook-gated call's life ({life_parts}){label}",
            fmt(life),
            "<= 6",
            life.trips <= 6,
        ),
        Row(f"  server commands (incl. Lua) per continuing turn{label}", str(cont.server)),
        Row(f"  server commands (incl. Lua) per resolve{label}", str(resolve.server)),
        Row(f"  round trips per create_task{label}", fmt(create)),
        Row(f"  round trips per GET /hooks/{{id}} (describe){label}", fmt(describe)),
        Row(f"  round trips per GET /tasks/{{id}}{label}", fmt(get_task_tally)),
        Row(
            f"  create + first turn after SCRIPT FLUSH{label}",
            f"{cold_create.trips}+{cold_turn.trips} rt",
        ),
    ]


# --- timing ---------------------------------------------------------------------------------------


EVENTS = (
    TaskEvent(kind="model_replied", data={"turn": 1, "tool_calls": 1}),
    TaskEvent(kind="tool_result", data={"tool_call_id": "call_1", "tool": "lookup"}),
)


def cycle_rows(stack: LocalStack, iterations: int) -> list[Row]:
    """claim_turn + commit_turn(continue) on one task, interleaved with PINGs."""
    sc = stack.store
    task_id = create_task(sc, "look", "go").task_id
    seq = 1

    def cycle() -> None:
        nonlocal seq
        claim = claim_turn(sc, task_id, seq)
        assert isinstance(claim, Claimed), claim
        done = commit_turn(sc, claim, Continue(context=claim.context, events=EVENTS))
        seq = done.seq

    for _ in range(50):
        cycle()
    ping_times(sc.client, 200)
    cycles: list[float] = []
    pings: list[float] = []
    start = time.perf_counter()
    for _ in range(iterations):
        pings += ping_times(sc.client, 1)
        t0 = time.perf_counter()
        cycle()
        cycles.append(time.perf_counter() - t0)
    total = time.perf_counter() - start - sum(pings)
    ping = median(pings)
    return [
        Row("PING round trip p50 between the cycles (same client)", us(ping)),
        Row("claim+commit cycles per second (one task, serial)", f"{iterations / total:,.0f}/s"),
        Row(
            "claim+commit cycle p50, in PINGs",
            f"{median(cycles) / ping:.2f}x",
            "(2 rt)",
            None,
        ),
    ]


def park_many(stack: LocalStack, n: int) -> list[str]:
    """``n`` tasks parked on one hook each, through the runtime; their task ids."""
    tasks = [stack.control.create_task("pay", "pay 42", owner_id="bench").task_id for _ in range(n)]
    stack.run_due()
    return tasks


def hook_of(stack: LocalStack, task_id: str) -> str:
    (hook_id,) = (h.decode() for h in stack.client.smembers(keys.task_hooks(task_id)))
    return hook_id


def resolve_rows(stack: LocalStack, hooks: list[str]) -> list[Row]:
    """Resolve each hook through the control plane the API route calls (the payload decoded
    and validated by the hook's pydantic type, then the store call, then the wake's dispatch;
    one wakes its task), each after a PING."""
    sc = stack.store
    ping_times(sc.client, 200)
    resolves: list[float] = []
    pings: list[float] = []
    for hook_id in hooks:
        token = token_for(hook_id)
        body = json.dumps(PAYLOAD_APPROVED)  # as the route passes it: the request's JSON text
        pings += ping_times(sc.client, 1)
        t0 = time.perf_counter()
        res = stack.control.resolve_hook(hook_id, body, token)
        resolves.append(time.perf_counter() - t0)
        assert res.task_resumed, res
    ping = median(pings)
    p50, p99 = median(resolves) / ping, pct(resolves, 99) / ping
    return [
        Row(
            f"resolve p50, in PINGs ({median(resolves) * 1e6:.0f} us)",
            f"{p50:.2f}x",
            "<= 3x",
            p50 <= 3,
        ),
        Row(
            f"resolve p99, in PINGs ({pct(resolves, 99) * 1e6:.0f} us)",
            f"{p99:.2f}x",
            "<= 5x",
            p99 <= 5,
        ),
        Row("  PING p50 / p99 between the resolves", f"{us(ping)} / {us(pct(pings, 99))}"),
    ]


# --- memory ---------------------------------------------------------------------------------------


def mem(admin: Any, key: str) -> int:
    return int(admin.memory_usage(key, samples=0) or 0)


def index_bytes(admin: Any) -> int:
    return sum(mem(admin, k) for k in [*keys.all_indexes(), keys.owner_index("bench")])


def memory_rows(stack: LocalStack, admin: Any, tasks: list[str], index_delta: int) -> list[Row]:
    """MEMORY USAGE of parked tasks (one hook each), per key kind, averaged over a sample."""
    sample = tasks[:MEMORY_SAMPLE]
    parts: dict[str, Callable[[str], str]] = {
        "task hash": keys.task,
        "events stream": keys.events,
        "inbox list": keys.inbox,
        "hooks set": keys.task_hooks,
        "kids set": keys.kids,
        "join hash": keys.join,
        "tree registry set": keys.registry,
    }
    sums = dict.fromkeys(parts, 0)
    ctx = hook = 0
    for task_id in sample:
        for name, key in parts.items():
            sums[name] += mem(admin, key(task_id))
        ctx += mem(admin, keys.ctx(task_id))
        hook += mem(admin, keys.hook(hook_of(stack, task_id)))
    n = len(sample)
    task_total = sum(sums.values()) / n
    rows = [
        Row(
            "bytes per parked task, task keys only (every key: index_bench)",
            f"{task_total:,.0f} B",
        )
    ]
    rows += [Row(f"  {name}", f"{total / n:,.0f} B") for name, total in sums.items()]
    rows += [
        Row("  context string (transcript; apart)", f"{ctx / n:,.0f} B"),
        Row("  global index entries per parked task", f"{index_delta / len(tasks):,.0f} B"),
        Row("bytes per hook (hook hash)", f"{hook / n:,.0f} B", "<= 1024 B", hook / n <= 1024),
    ]
    return rows


# --- what a finished tree leaves ------------------------------------------------------------------

RESEARCH = "Research the topic."
researcher = Agent(name="researcher", instructions=RESEARCH, model="m")


@tool
def fan_out(topics: list[str]) -> object:
    """Spawn one researcher per topic and wait for all of them."""
    refs = [subagents.spawn(researcher, f"topic {t}", key=t) for t in topics]
    return wait.children(refs, join="all")


TREE_APP = App(
    agents=[
        Agent(name="lead", instructions="Lead.", model="m", tools=[fan_out, pay]),
        researcher,
        *APP.agents.values(),
    ]
)


def tree_rule(req: ModelRequest) -> Any:
    """Children answer at once; the lead fans out to two, then pays (a hook), then answers."""
    if req.messages[0].content == RESEARCH:
        return "notes"
    n = tool_messages(req)
    if n == 0:
        return [call("fan_out", topics=["a", "b"])]
    return [call("pay", amount=7)] if n == 1 else "done"


def tree_keys(admin: Any, root: str) -> list[bytes]:
    return list(admin.scan_iter(match=f"fa:{{{root}}}:*", count=1000))


def index_members(admin: Any, root: str) -> list[str]:
    """Members of the global indexes that name a task or hook of the tree."""
    out = []
    for key in [*keys.all_indexes(), keys.owner_index("bench-owner")]:
        for member in admin.zrange(key, 0, -1):
            first = member.decode().split(" ")[0]
            if ids.is_valid_id(first) and ids.root_of(first) == root:
                out.append(f"{key.split(':')[-1]}:{member.decode()}")
    return out


def sweep_at(stack: LocalStack, ahead: timedelta, ttl_s: int | None = None) -> str:
    """One maintenance pass, its clock ``ahead`` of now (ahead=0: the server's TIME)."""
    settings = StoreSettings(tree_ttl_s=ttl_s) if ttl_s else StoreSettings()
    clock = FakeClock(SystemClock().now() + ahead) if ahead else None
    try:
        report = sweep(StoreContext(stack.client, clock=clock, settings=settings), stack.dispatcher)
    except Exception as exc:  # noqa: BLE001 - reported in the table
        return f"{type(exc).__name__}: {exc}"
    return f"ok {report}"


def wait_gone(admin: Any, root: str) -> tuple[list[bytes], float]:
    """Wait out the TTL (polling at most TTL_POLL_LIMIT_S); the tree's keys left, and the wait."""
    start = time.perf_counter()
    time.sleep(TTL_S)
    while tree_keys(admin, root) and time.perf_counter() - start < TTL_POLL_LIMIT_S:
        time.sleep(0.05)
    return tree_keys(admin, root), time.perf_counter() - start


def ttl_rows(client: Any, admin: Any, log: list[str]) -> list[Row]:
    """What finished trees leave after a 1 s TTL, given the way production sets it (the sweep
    calls expire_tree) and the way an operator would (expire_tree called directly)."""
    admin.flushall()
    stack = make_stack(client, tree_rule, app=TREE_APP)
    root = stack.control.create_task("lead", "go", owner_id="bench-owner").task_id
    stack.run_due()
    (pending,) = stack.control.get_task(root).pending_hooks
    stack.control.resolve_hook(pending.hook_id, PAYLOAD_APPROVED, token_for(pending.hook_id))
    stack.run_due()
    assert stack.control.get_task(root).status == "completed"
    before = tree_keys(admin, root)
    members_before = index_members(admin, root)
    gc_sweep = sweep_at(stack, timedelta(0), ttl_s=TTL_S)  # only the gc entry is due now
    no_ttl = [k for k in before if admin.ttl(k) < 0]
    left, waited = wait_gone(admin, root)
    members = index_members(admin, root)
    later = [sweep_at(stack, timedelta(days=d)) for d in (2, 3)]
    members_swept = index_members(admin, root)
    log.append(f"sweep that set the tree's TTL: {gc_sweep}")
    log.append(f"index entries naming the expired tree: {members}")
    log.append(f"after sweeps 2 and 3 days later: {members_swept} (sweeps: {later})")

    # a tree expired by calling expire_tree directly: its gc entry stays for the next sweep
    look = make_stack(client, lookup_rule(1))
    direct = look.control.create_task("look", "go").task_id
    look.run_due()
    assert expire_tree(StoreContext(client, settings=StoreSettings(tree_ttl_s=TTL_S)), direct)
    direct_left, _ = wait_gone(admin, direct)
    direct_sweep = sweep_at(look, timedelta(days=2))
    log.append(f"sweep after a direct expire_tree and the TTL: {direct_sweep}")

    # a cancelled tree: does anything ever give it a TTL? (on a clean server: the gc entry the
    # direct expire_tree left behind would make these sweeps raise too)
    admin.flushall()
    payer = make_stack(client, pay_rule)
    cancelled = payer.control.create_task("pay", "pay 1").task_id
    payer.run_due()
    payer.control.cancel_task(cancelled)
    cancel_sweeps = [sweep_at(payer, timedelta(days=d)) for d in (2, 3)]
    forever = [k for k in tree_keys(admin, cancelled) if admin.ttl(k) < 0]
    log.append(f"cancelled tree: {len(forever)} keys without a TTL after sweeps {cancel_sweeps}")
    swept_ok = all(s.startswith("ok") for s in later)
    return [
        Row("keys of a finished tree (root + 2 children + 1 hook)", str(len(before))),
        Row(
            "  of them without a TTL after the sweep's expire_tree",
            str(len(no_ttl)),
            "0",
            not no_ttl,
        ),
        Row(
            f"keys left after the {TTL_S} s TTL (waited {waited:.1f} s)",
            str(len(left)),
            "0",
            not left,
        ),
        Row("index entries naming the tree, before its TTL", str(len(members_before))),
        Row("index entries naming the tree, after its TTL", str(len(members)), "(swept)", None),
        Row(
            "  ... after two more sweeps (2 and 3 days later)",
            str(len(members_swept)),
            "0",
            not members_swept and swept_ok,
        ),
        Row(
            "keys left after a direct expire_tree + TTL",
            str(len(direct_left)),
            "0",
            not direct_left,
        ),
        Row(
            "  next sweep (its gc entry names a gone tree)",
            "ok" if direct_sweep.startswith("ok") else direct_sweep.split(":")[0],
            "ok",
            direct_sweep.startswith("ok"),
        ),
        Row(
            "keys of a cancelled tree with no TTL after sweeps", str(len(forever)), "0", not forever
        ),
    ]


# --- main -----------------------------------------------------------------------------------------


def main() -> None:
    """Run every measurement and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--iterations",
        type=int,
        default=None,
        help=f"claim+commit cycles, resolves and parked tasks (default {DEFAULT_ITERATIONS}, "
        f"{DEFAULT_CLUSTER_ITERATIONS} with --cluster)",
    )
    parser.add_argument("--cluster", action="store_true", help="run everything on the cluster")
    args = parser.parse_args()
    default = DEFAULT_CLUSTER_ITERATIONS if args.cluster else DEFAULT_ITERATIONS
    n = max(1, args.iterations if args.iterations is not None else default)
    started = time.perf_counter()
    log: list[str] = []
    rows: list[Row] = []
    kind = "one-node cluster" if args.cluster else "standalone"
    with server(cluster=args.cluster) as (_valkey, client, admin):
        info = admin.info("server")
        version = info.get("valkey_version") or info["redis_version"]
        rows += count_rows(client, admin, "", log)
        stack = make_stack(client, pay_rule)
        rows += cycle_rows(stack, n)
        admin.flushall()
        index_before = index_bytes(admin)
        tasks = park_many(stack, n)
        rows += memory_rows(stack, admin, tasks, index_bytes(admin) - index_before)
        rows += resolve_rows(stack, [hook_of(stack, t) for t in tasks])
        rows += ttl_rows(client, admin, log)
    if not args.cluster:
        with server(cluster=True) as (_, client, admin):
            rows += count_rows(client, admin, " [cluster]", log)
    title = (
        f"store_bench: Valkey {version} {kind} on 127.0.0.1, {n} iterations, "
        f"{time.perf_counter() - started:.1f} s"
    )
    print_table(title, rows)
    print()
    print("details (what was sent: one entry per round trip, [..] = one pipeline; sweeps):")
    for line in log:
        print(f"  {line}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
