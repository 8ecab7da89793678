"""The soak of tests/integration/test_soak.py, larger: through the dev server over HTTP, many tasks
mixing hook-gated calls resolved at random moments (some twice), hooks left to expire, two hooks
of one stage resolved at the same instant, sleeps, fan-outs joined on all/any/N, random cancels
and tasks deliberately left parked; every tool records its idempotency key when it runs.

Usage: python benchmarks/soak.py [--tasks N] [--seed S] [--workers W] [--burners B] [--cluster]

Prints what happened, the tasks lost (target 0: every task reaches a terminal state or is one of
the deliberately parked) and the calls applied twice (target 0), and exits 1 when either is not
0 or a script saw a wrong answer. ``--burners`` runs that many busy-loop processes meanwhile (the
load under which requests used to be served with another request's data). The engine is
``tests/integration/soak.py``; the default size runs in about 20-40 s on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import sys

from _bench import Row, print_table

from tests.integration.soak import cpu_burners, run_soak, summary

DEFAULT_TASKS = 600
DEFAULT_WORKERS = 32
DEADLINE_S = 240.0


def main() -> int:
    """Run the soak, print its table; 1 when something was lost or applied twice."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=DEFAULT_TASKS)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    parser.add_argument("--burners", type=int, default=0, help="busy-loop processes meanwhile")
    parser.add_argument("--cluster", action="store_true", help="Valkey as a one-node cluster")
    args = parser.parse_args()
    burning = cpu_burners(args.burners) if args.burners else contextlib.nullcontext()
    with burning:
        report = run_soak(args.tasks, seed=args.seed, workers=args.workers, deadline_s=DEADLINE_S)
    rows = [Row(figure, value) for figure, value in summary(report)]
    rows += [
        Row(
            "tasks lost (not terminal, not deliberately parked)",
            str(len(report.lost)),
            "0",
            not report.lost,
        ),
        Row("calls applied twice", str(len(report.applied_twice)), "0", not report.applied_twice),
        Row(
            "tasks/s end to end (roots + children)",
            f"{len(report.statuses) / report.elapsed_s:.1f}",
        ),
    ]
    title = (
        f"soak: {args.tasks} tasks, seed {args.seed}, {args.workers} client threads, "
        f"{args.burners} CPU burners{', one-node cluster' if args.cluster else ''}"
    )
    print_table(title, rows)
    problems = report.problems()
    for problem in problems[:20]:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
