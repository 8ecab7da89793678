"""Framework time per turn, as a multiple of the turn's two Redis round trips, measured in one run.

Usage: python benchmarks/turn_overhead.py [--iterations N] [--turns T] [--cluster]

Turns run through the local stack exactly as the turn Lambda runs them (``TurnRunner.handle``:
claim, the pure engine, commit, dispatch to the in-process queue) against an embedded Valkey, with
an in-process rule model, so the model costs (almost) nothing and what is left is the framework.
Before every turn two PINGs are timed through the same client: the ideal turn costs exactly those
two round trips. Two workloads:

- ``plain``: N tasks of T turns; each turn but the last calls a plain tool (continuing turns);
- ``hook``: N tasks whose first turn parks on a hook-gated tool call, resolved (not timed), and
  whose second turn runs the tool body and completes.

Printed per workload: the framework time per turn (handle time minus model time) p50 and in units
of two PINGs; the mean split into claim, engine, commit and dispatch; and the pure engine
(``run_turn`` alone, replayed on the same contexts and inputs) against the full turn.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from _bench import (
    PAYLOAD_APPROVED,
    Row,
    TimedModel,
    lookup_rule,
    make_stack,
    median,
    pay_rule,
    pct,
    ping_times,
    print_table,
    server,
    token_for,
)

import factorial_aws.runtime.runner as runner_module

if TYPE_CHECKING:
    from collections.abc import Callable

    from factorial_aws.core.records import QueueMessage
    from factorial_aws.llm.base import ModelRequest
    from factorial_aws.local.stack import LocalStack

DEFAULT_ITERATIONS = 600
DEFAULT_CLUSTER_ITERATIONS = 400
DEFAULT_TURNS = 5
WARMUP_TASKS = 20


@dataclass
class Turn:
    """Seconds spent in one turn, by part."""

    full: float = 0.0
    claim: float = 0.0
    engine: float = 0.0  # run_turn, model included
    commit: float = 0.0
    model: float = 0.0
    pings: float = 0.0  # two PINGs timed just before the turn
    outcome: str = ""


@dataclass
class Probe:
    """Timers wrapped around the runner's steps (the runner module's own names)."""

    current: Turn = field(default_factory=Turn)
    replays: list[tuple[Any, Any, Any, Any]] = field(default_factory=list)
    capture: bool = True

    def add_model_time(self, seconds: float) -> None:
        """Time the rule model took during the current turn."""
        self.current.model += seconds

    def install(self) -> None:
        claim, run, commit = (
            runner_module.claim_turn,
            runner_module.run_turn,
            runner_module.commit_turn,
        )

        def timed_claim(*args: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return claim(*args)
            finally:
                self.current.claim += time.perf_counter() - t0

        async def timed_run(agent: Any, ctx: Any, inp: Any, env: Any) -> Any:
            if self.capture:
                self.replays.append((agent, ctx, inp, env))
            t0 = time.perf_counter()
            try:
                return await run(agent, ctx, inp, env)
            finally:
                self.current.engine += time.perf_counter() - t0

        def timed_commit(*args: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return commit(*args)
            finally:
                self.current.commit += time.perf_counter() - t0

        runner_module.claim_turn = timed_claim
        runner_module.run_turn = timed_run
        runner_module.commit_turn = timed_commit


def timed_stack(client: Any, rule: Callable[[ModelRequest], Any], probe: Probe) -> LocalStack:
    return make_stack(client, rule, wrap=lambda model: TimedModel(model, probe.add_model_time))


def drain_timed(stack: LocalStack, probe: Probe, turns: list[Turn]) -> None:
    """Deliver every due message; time each turn (and two PINGs before it)."""

    async def handler(message: QueueMessage) -> str:
        probe.current = Turn(pings=sum(ping_times(stack.client, 2)))
        t0 = time.perf_counter()
        outcome = await stack.runner.handle(message)
        probe.current.full = time.perf_counter() - t0
        probe.current.outcome = outcome
        turns.append(probe.current)
        return outcome

    asyncio.run(stack.queue.drain(handler))


def run_plain(client: Any, probe: Probe, tasks: int, turns_per_task: int) -> list[Turn]:
    stack = timed_stack(client, lookup_rule(turns_per_task), probe)
    out: list[Turn] = []
    for _ in range(tasks):
        stack.control.create_task("look", "look things up")
        drain_timed(stack, probe, out)
    return out


def run_hook(client: Any, probe: Probe, tasks: int) -> list[Turn]:
    stack = timed_stack(client, pay_rule, probe)
    out: list[Turn] = []
    for _ in range(tasks):
        task_id = stack.control.create_task("pay", "pay 42").task_id
        drain_timed(stack, probe, out)
        (pending,) = stack.control.get_task(task_id).pending_hooks
        stack.control.resolve_hook(pending.hook_id, PAYLOAD_APPROVED, token_for(pending.hook_id))
        drain_timed(stack, probe, out)
    return out


def replay_engine(probe: Probe) -> list[float]:
    """run_turn alone on every captured (agent, context, input): engine seconds minus model."""
    captured, probe.capture = probe.replays, False
    out: list[float] = []

    async def replay() -> None:
        for agent, ctx, inp, env in captured:
            probe.current = Turn()
            t0 = time.perf_counter()
            await runner_module.run_turn(agent, ctx, inp, env)
            out.append(time.perf_counter() - t0 - probe.current.model)

    asyncio.run(replay())
    probe.capture = True
    return out


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} us"


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def workload_rows(name: str, turns: list[Turn], engine_only: list[float]) -> list[Row]:
    framework = [t.full - t.model for t in turns]
    two_pings = median([t.pings for t in turns])
    parts = {
        "claim (script + decode)": mean([t.claim for t in turns]),
        "engine (run_turn - model)": mean([t.engine - t.model for t in turns]),
        "commit (encode + script)": mean([t.commit for t in turns]),
        "dispatch + runner": mean([t.full - t.claim - t.engine - t.commit for t in turns]),
        "model (scripted; excluded)": mean([t.model for t in turns]),
    }
    full_engine = median([t.engine - t.model for t in turns])
    rows = [
        Row(f"[{name}] turns timed", f"{len(turns):,}"),
        Row(f"[{name}] framework time per turn p50", us(median(framework))),
        Row(
            f"[{name}]   ... in units of 2 PINGs (p50 / p99)",
            f"{median(framework) / two_pings:.2f}x / {pct(framework, 99) / two_pings:.2f}x",
            "(1x ideal)",
        ),
    ]
    rows += [Row(f"[{name}]   mean: {part}", us(value)) for part, value in parts.items()]
    rows += [
        Row(f"[{name}] pure engine per turn p50 (replayed)", us(median(engine_only))),
        Row(
            f"[{name}]   engine inside the full turn p50",
            us(full_engine),
        ),
        Row(
            f"[{name}]   pure engine / full framework turn (p50)",
            f"{median(engine_only) / median(framework):.0%}",
        ),
    ]
    return rows


def main() -> None:
    """Run both workloads and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--iterations",
        type=int,
        default=None,
        help=f"tasks per workload (default {DEFAULT_ITERATIONS}, "
        f"{DEFAULT_CLUSTER_ITERATIONS} with --cluster)",
    )
    parser.add_argument(
        "--turns",
        type=int,
        default=DEFAULT_TURNS,
        help="turns per task of the plain workload (default %(default)s)",
    )
    parser.add_argument("--cluster", action="store_true", help="run on the one-node cluster")
    args = parser.parse_args()
    default = DEFAULT_CLUSTER_ITERATIONS if args.cluster else DEFAULT_ITERATIONS
    n = max(1, args.iterations if args.iterations is not None else default)
    turns_per_task = max(2, args.turns)
    started = time.perf_counter()
    probe = Probe()
    probe.install()
    with server(cluster=args.cluster) as (_, client, admin):
        info = admin.info("server")
        version = info.get("valkey_version") or info["redis_version"]
        run_plain(client, probe, min(n, WARMUP_TASKS), turns_per_task)  # warm: scripts, imports
        run_hook(client, probe, min(n, WARMUP_TASKS))
        probe.replays.clear()
        rows = [Row("2 PINGs (two round trips) p50, same client", "")]
        plain = run_plain(client, probe, n, turns_per_task)
        plain_engine = replay_engine(probe)
        probe.replays.clear()
        hook = run_hook(client, probe, n)
        hook_engine = replay_engine(probe)
    rows[0].value = us(median([t.pings for t in plain + hook]))
    rows += workload_rows(f"plain x{turns_per_task}", plain, plain_engine)
    rows += workload_rows("hook", hook, hook_engine)
    kind = "one-node cluster" if args.cluster else "standalone"
    print_table(
        f"turn_overhead: Valkey {version} {kind} on 127.0.0.1, {n} tasks per workload, "
        f"{time.perf_counter() - started:.1f} s",
        rows,
    )


if __name__ == "__main__":
    main()
