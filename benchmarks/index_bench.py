"""The global indexes and the sweep against DESIGN section 9, measured in one run on an embedded
Valkey (simulated time: a fake clock drives the scripts and the sweep, so no wall time passes).

Usage: python benchmarks/index_bench.py [--rate N] [--period-s S] [--periods P] [--parked N]

Prints one table (figure, value, target, ok/over/info):

- round trips per turn **including every later cleanup**: the round trips of a task's life
  (create, turns, resolves, wakes) plus what the maintenance sweep then spends on the entries that
  life left in the global indexes, with the clock moved past every due time (grace, expiries,
  wakes); the sweep's fixed cost per pass (one read per index shard) is shown apart. Standalone
  and one-node cluster;
- the size of the dispatch, expiry and due indexes after each of ``--periods`` sweep periods of
  ``--period-s`` simulated seconds at ``--rate`` transitions per second (a steady mix of tasks
  that continue, park on a hook resolved 20 s later, sleep 30 s and complete), with the sweep's
  round trips per pass: flat sizes, and a sweep cost that does not grow with the rate;
- ``MEMORY USAGE`` bytes per task parked on a hook, summed over **every** key of its tree except
  the transcript (task hash, events, inbox, hooks set, kids set, join, registry, hook hash) plus
  the global index entries it adds, per key kind.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import defaultdict
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from _bench import (
    APP,
    PAYLOAD_APPROVED,
    SECRET,
    Row,
    Tally,
    counting,
    lookup_rule,
    pay_rule,
    print_table,
    server,
    token_for,
)

from factorial_aws import Agent, App, tool, wait
from factorial_aws.core.outcomes import Complete, Continue, ParkTime
from factorial_aws.local.stack import LocalStack
from factorial_aws.runtime.maintenance import sweep
from factorial_aws.store import keys
from factorial_aws.store.base import StoreSettings
from factorial_aws.store.commit import commit_turn
from factorial_aws.store.tasks import Claimed, Committed, claim_turn, create_task
from factorial_aws.store.wake_task import wake_task
from factorial_aws.testing import FakeClock, ScriptedModel

if TYPE_CHECKING:
    from factorial_aws.core.records import QueueMessage
    from factorial_aws.llm.base import ModelRequest

# --- round trips including the sweep's share ------------------------------------------------------


@tool
def nap() -> object:
    """Sleep 30 s."""
    return wait.sleep(seconds=30)


def nap_rule(req: ModelRequest) -> Any:
    return "awake" if req.messages[-1].role == "tool" else [ScriptedModel.call("nap")]


LIFE_APP = App([*APP.agents.values(), Agent(name="nap", instructions="n", model="m", tools=[nap])])


def fake_stack(client: Any, rule: Any) -> LocalStack:
    return LocalStack(
        LIFE_APP,
        client,
        _Rule(rule),
        FakeClock(),
        SECRET,
        "http://127.0.0.1:9",
        settings=StoreSettings(lease_renew_ms=0),
        fake_time=True,
    )


class _Rule:
    def __init__(self, rule: Any) -> None:
        self.rule = rule

    async def complete(self, request: ModelRequest) -> Any:
        return await ScriptedModel(self.rule(request)).complete(request)


def _drain(stack: LocalStack, turns: Tally, others: Tally) -> int:
    """Deliver every due message; a turn's round trips go to ``turns``, a wake's to ``others``.
    Returns the number of turns."""
    n = 0

    async def handler(message: QueueMessage) -> str:
        nonlocal n
        with counting() as t:
            outcome = await stack.runner.handle(message)
        if message.kind == "turn":
            turns.add(t)
            n += 1
        else:
            others.add(t)
        return outcome

    asyncio.run(stack.queue.drain(handler))
    return n


def _sweep_share(stack: LocalStack) -> tuple[int, int, int]:
    """Round trips the sweep spends later on what a life left in the dispatch, expiry and due
    indexes (sweeps run far ahead, minus the fixed cost of a pass), the same for the tree's GC
    entry (setting its TTL, then unlisting it: per tree, genuinely due), and the fixed cost."""
    clock = stack.clock
    assert isinstance(clock, FakeClock)
    client = stack.client
    gc = {k: client.zrange(k, 0, -1, withscores=True) for k in map(keys.gc_index, range(16))}
    for k in gc:
        client.delete(k)
    with counting() as empty:
        sweep(stack.store, stack.dispatcher)

    def passes() -> int:
        total = 0
        for _ in range(3):  # a due entry may be moved once (a re-check), then dropped
            clock.advance(days=8)
            with counting() as t:
                sweep(stack.store, stack.dispatcher)
            total += t.trips - empty.trips
        return total

    deferred = passes()
    for k, entries in gc.items():
        if entries:
            client.zadd(k, dict(entries))
    return deferred, passes(), empty.trips


def _life(stack: LocalStack, agent: str, resolve: bool) -> tuple[Tally, Tally, int]:
    """One task's life to its end: the round trips of its turns, of everything else (create,
    resolve, wake), and its number of turns."""
    turns, others, n = Tally(), Tally(), 0
    with counting() as created:
        task_id = stack.control.create_task(agent, "go").task_id
    others.add(created)
    for _ in range(4):
        n += _drain(stack, turns, others)
        for h in stack.control.get_task(task_id).pending_hooks if resolve else ():
            with counting() as r:
                stack.control.resolve_hook(h.hook_id, PAYLOAD_APPROVED, token_for(h.hook_id))
            others.add(r)
        stack.clock.advance(31)
    assert stack.control.get_task(task_id).status == "completed", agent
    return turns, others, n


def life_rows(client: Any, label: str) -> list[Row]:
    """A task's whole life, then the sweep's share of it."""
    rows: list[Row] = []
    lives = {
        "3 continuing turns + a final one": ("look", lookup_rule(4), False),
        "hook-gated call (park, resolve, body)": ("pay", pay_rule, True),
        "30 s sleep (park, wake, final)": ("nap", nap_rule, False),
    }
    fixed = gc = 0
    for name, (agent, rule, resolve) in lives.items():
        for _attempt in ("warm", "measured"):  # warm: connections open, scripts loaded
            stack = fake_stack(client, rule)
            turns, others, n = _life(stack, agent, resolve)
            deferred, gc, fixed = _sweep_share(stack)
        per_turn = (turns.trips + deferred) / n
        rows.append(
            Row(
                f"rt per turn incl. later cleanup: {name}{label}",
                f"{per_turn:.2f}",
                "2",
                per_turn <= 2,
            )
        )
        rows.append(
            Row(
                f"  {n} turns {turns.trips} rt, swept later {deferred} rt; create/resolve/wake",
                f"{others.trips} rt",
            )
        )
    rows.append(Row(f"  tree GC of a lone tree (batched per shard and pass){label}", f"{gc} rt"))
    rows.append(Row(f"  sweep pass over empty indexes (fixed, per pass){label}", f"{fixed} rt"))
    return rows


# --- index sizes under a steady load --------------------------------------------------------------


def _index_sizes(client: Any) -> dict[str, int]:
    kinds = {"disp": keys.dispatch_index, "exp": keys.expiry_index, "due": keys.due_index}
    return {
        name: sum(int(client.zcard(build(s))) for s in range(keys.SHARDS))
        for name, build in kinds.items()
    }


class Load:
    """Tasks driven through the store transitions directly (no model), one simulated second at
    a time: each created task continues once, parks on a time wait of 30 s (woken by wake_task)
    and completes: 8 transitions. A created or continuing task is claimed on the next second (so
    the dispatch index holds what a queue would hold in flight); a woken one at once."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.sc = stack.store
        self.queued: list[tuple[str, int, int]] = []  # task, seq, step
        self.later: dict[int, list[tuple[str, str, int]]] = defaultdict(list)  # task, wait, step
        self.transitions = 0
        self.n = 0

    def second(self, now_s: int, new_tasks: int) -> None:
        for task_id, wait_id, step in self.later.pop(now_s, []):
            self._wake(task_id, wait_id, step)  # its turn follows at once, as a wake's does
        queued, self.queued = self.queued, []
        for _ in range(new_tasks):
            task_id = create_task(self.sc, "look", "go").task_id
            self.queued.append((task_id, 1, 0))
            self.transitions += 1
        for task_id, seq, step in queued:
            self._turn(now_s, task_id, seq, step)

    def _turn(self, now_s: int, task_id: str, seq: int, step: int) -> None:
        claim = claim_turn(self.sc, task_id, seq)
        assert isinstance(claim, Claimed), claim
        ctx = claim.context.model_copy(update={"turn": step + 1})
        if step == 0:
            outcome: Any = Continue(context=ctx)
        elif step == 1:
            wake = self.stack.clock.now() + timedelta(seconds=30)
            outcome = ParkTime(context=ctx, wait_id=f"w{seq}", wake_at=wake)
        else:
            outcome = Complete(context=ctx, output="done")
        done = commit_turn(self.sc, claim, outcome)
        assert isinstance(done, Committed), done
        self.transitions += 2
        if done.status == "queued":
            self.queued.append((task_id, done.seq, step + 1))
        elif done.status == "waiting_time":
            self.later[now_s + 30].append((task_id, f"w{seq}", step + 1))

    def _wake(self, task_id: str, wait_id: str, step: int) -> None:
        result = wake_task(self.sc, task_id, wait_id, self.stack.clock.now())
        assert result.woke, (task_id, wait_id, result)
        self.queued.append((task_id, result.seq, step))
        self.transitions += 1


def steady_rows(client: Any, rate: int, period_s: int, periods: int) -> list[Row]:
    """Index sizes after each sweep period at ``rate`` transitions/s (simulated time)."""
    stack = fake_stack(client, lookup_rule(1))
    load = Load(stack)
    new_per_s = max(1, rate // 8)  # a task's life here is 8 transitions
    sizes: list[dict[str, int]] = []
    sweep_trips: list[int] = []
    gc_trees: list[int] = []
    now_s = 0
    started = time.perf_counter()
    for _ in range(periods):
        first = load.transitions
        for _ in range(period_s):
            now_s += 1
            stack.clock.advance(1)
            load.second(now_s, new_per_s)
        with counting() as t:
            report = sweep(stack.store, stack.dispatcher)
        sweep_trips.append(t.trips)
        gc_trees.append(report.trees_expiring)
        sizes.append(_index_sizes(client))
        assert load.transitions > first
    wall = time.perf_counter() - started
    achieved = load.transitions / (periods * period_s)
    disp = [s["disp"] for s in sizes]
    later = disp[len(disp) // 2 :]
    flat = max(later) <= max(disp[: max(1, len(disp) // 2)])
    return [
        Row(
            f"simulated load: {achieved:,.0f} transitions/s, {periods} x {period_s} s",
            f"{load.transitions:,}",
            f"({wall:.0f} s wall)",
        ),
        Row(
            "dispatch index size after each sweep period (last 3)",
            " ".join(map(str, disp[-3:])),
            "flat",
            flat,
        ),
        Row("  largest over all periods (= tasks queued at once)", str(max(disp))),
        Row(
            "  expiry / due index after the last period", f"{sizes[-1]['exp']} / {sizes[-1]['due']}"
        ),
        Row(
            "sweep rt per pass (min-max); trees given a TTL",
            f"{min(sweep_trips)}-{max(sweep_trips)}; {min(gc_trees)}-{max(gc_trees)}",
            "O(due)",
        ),
        Row("  redispatched + reclaimed + dropped by the sweep", str(_repairs(stack))),
    ], sizes


def _repairs(stack: LocalStack) -> int:
    report = sweep(stack.store, stack.dispatcher)
    return report.redispatched + report.reclaimed + report.dropped


# --- bytes per parked task ------------------------------------------------------------------------


def _mem(admin: Any, key: bytes | str) -> int:
    return int(admin.memory_usage(key, samples=0) or 0)


def _kind(key: str) -> str:
    rest = key.split("}:", 1)[1]
    return rest.split(":", 1)[0]


KIND_NAMES = {
    "t": "task hash",
    "ev": "events list",
    "in": "inbox list",
    "hs": "hooks set",
    "kids": "kids set",
    "j": "join hash",
    "keys": "tree registry set",
    "h": "hook hash",
}


def parked_rows(client: Any, admin: Any, n: int) -> list[Row]:
    """Tasks parked on one hook each (an owner's, as the API creates them)."""
    admin.flushall()
    stack = LocalStack(
        APP, client, _Rule(pay_rule), FakeClock(), SECRET, "http://127.0.0.1:9", fake_time=True
    )
    index_keys = [*keys.all_indexes(), keys.owner_index("bench")]
    before = sum(_mem(admin, k) for k in index_keys)
    roots = [stack.control.create_task("pay", "pay 42", owner_id="bench").task_id for _ in range(n)]
    asyncio.run(stack.queue.drain(stack.runner.handle))
    assert all(stack.control.get_task(r).status == "waiting_hook" for r in roots)
    index = (sum(_mem(admin, k) for k in index_keys) - before) / n
    by_kind: dict[str, int] = defaultdict(int)
    ctx = 0
    for root in roots:
        for raw in admin.scan_iter(match=f"fa:{{{root}}}:*", count=1000):
            key = raw.decode()
            kind = _kind(key)
            if kind == "ctx":
                ctx += _mem(admin, raw)
                continue
            by_kind[KIND_NAMES.get(kind, kind)] += _mem(admin, raw)
    total = sum(by_kind.values()) / n + index
    rows = [
        Row(
            "bytes per parked task, every key but the transcript",
            f"{total:,.0f} B",
            "<= 2048 B",
            total <= 2048,
        )
    ]
    rows += [
        Row(f"  {name}", f"{v / n:,.0f} B")
        for name, v in sorted(by_kind.items(), key=lambda x: -x[1])
    ]
    rows += [
        Row("  global index entries (hook expiry, owner)", f"{index:,.0f} B"),
        Row("  context string (the transcript; not counted)", f"{ctx / n:,.0f} B"),
    ]
    return rows


# --- main -----------------------------------------------------------------------------------------


def main() -> None:
    """Run every measurement and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=200, help="transitions per simulated second")
    parser.add_argument("--period-s", type=int, default=60, help="simulated seconds per sweep")
    parser.add_argument("--periods", type=int, default=10, help="sweep periods")
    parser.add_argument("--parked", type=int, default=200, help="parked tasks measured")
    args = parser.parse_args()
    started = time.perf_counter()
    rows: list[Row] = []
    details: list[str] = []
    with server(cluster=False) as (_valkey, client, admin):
        info = admin.info("server")
        version = info.get("valkey_version") or info["redis_version"]
        rows += life_rows(client, "")
        admin.flushall()
        steady, sizes = steady_rows(client, args.rate, args.period_s, args.periods)
        rows += steady
        details += [f"period {i + 1}: {s}" for i, s in enumerate(sizes)]
        rows += parked_rows(client, admin, max(1, args.parked))
    with server(cluster=True) as (_valkey, client, _admin):
        rows += life_rows(client, " [cluster]")
    title = (
        f"index_bench: Valkey {version} on 127.0.0.1 (simulated time), "
        f"{time.perf_counter() - started:.1f} s"
    )
    print_table(title, rows)
    print()
    print("index sizes after each sweep period (disp = queued or running tasks):")
    for line in details:
        print(f"  {line}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
