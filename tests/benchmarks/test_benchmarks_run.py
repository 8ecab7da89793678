"""Smoke test of the benchmarks: each runs at its smallest size, exits 0 and prints its table.

Shape only, never a figure's size (that is `make bench`'s job, and a loaded machine would make
any bound flaky): the table has its header and rows, every row ends in a status, and the rows
each script exists for are there with a number as their value. The benchmarks start their own
embedded Valkey. ``slow``: scheduled first in a parallel run, with a longer timeout.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
HEADER = re.compile(r"^figure\s+value\s+target\s+status$", re.MULTILINE)
STATUS = re.compile(r"^(?P<body>.*\S)\s+(?P<status>ok|over|info|missing)$")
NUMBER = r"-?\d[\d,]*(?:\.\d+)?"
#: A subprocess that runs longer has hung (a smoke run takes seconds, even on a loaded machine).
RUN_TIMEOUT_S = 150


def run(script: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert proc.returncode == 0, f"{script} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    return proc.stdout


def table(out: str, title: str) -> list[str]:
    """The rows of the table titled ``title...``: each must end in a status."""
    lines = out.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(title)), None)
    assert start is not None, f"no table titled {title!r}:\n{out}"
    assert HEADER.match(lines[start + 1]), out
    assert set(lines[start + 2]) == {"-"}, out
    rows = []
    for line in lines[start + 3 :]:
        if not line.strip():
            break
        assert STATUS.match(line), f"a row without a status: {line!r}"
        rows.append(line)
    assert rows, out
    return rows


def value(rows: list[str], figure: str) -> str:
    """The value of the one row whose figure matches the regex ``figure``: it starts with a number
    (``2 rt / 3 cmd``, ``1,418 B``, ``9.68x``, ``789/s``, ``47%``)."""
    found = [m for row in rows if (m := re.match(rf"{figure}\s+(?P<value>{NUMBER})(\S*)\s", row))]
    assert len(found) == 1, f"{len(found)} rows match {figure!r} + a number:\n" + "\n".join(rows)
    return found[0]["value"]


def numbers(rows: list[str], *figures: str) -> None:
    for figure in figures:
        value(rows, figure)


def test_store_bench() -> None:
    rows = table(run("store_bench.py", "--iterations", "5"), "store_bench:")
    trips = [
        "round trips per turn, continuing",
        "round trips per turn, final \\(complete\\)",
        "round trips per turn, parking on a hook",
        "round trips per resolve",
        "round trips over a hook-gated call's life \\(2\\+1\\+2\\)",
    ]
    numbers(rows, *trips, *(f"{t} \\[cluster\\]" for t in trips))  # the cluster is counted too
    numbers(
        rows,
        "claim\\+commit cycles per second \\(one task, serial\\)",
        "bytes per parked task, task keys only \\(every key: index_bench\\)",
        "bytes per hook \\(hook hash\\)",
        "resolve p50, in PINGs \\(\\S+ us\\)",
        "resolve p99, in PINGs \\(\\S+ us\\)",
        "keys left after the 1 s TTL \\(waited \\S+ s\\)",
        "keys of a cancelled tree with no TTL after sweeps",
    )


def test_turn_overhead() -> None:
    out = run("turn_overhead.py", "--iterations", "2", "--turns", "2")
    rows = table(out, "turn_overhead:")
    numbers(rows, "2 PINGs \\(two round trips\\) p50, same client")
    for workload in ("\\[plain x2\\]", "\\[hook\\]"):
        numbers(
            rows,
            f"{workload} turns timed",
            f"{workload} framework time per turn p50",
            f"{workload} pure engine per turn p50 \\(replayed\\)",
            f"{workload}   pure engine / full framework turn \\(p50\\)",
        )


def test_cold_start() -> None:
    rows = table(run("cold_start.py", "--smoke"), "cold_start: 1 runs per module")
    numbers(rows, "import boto3 \\(baseline\\), in-process p50")
    for handler in ("api", "turn", "maintenance"):
        numbers(rows, f"import handlers\\.{handler} / import boto3 \\(\\S+ ms\\)")
        assert any(row.startswith(f"  handlers.{handler} imports openai ") for row in rows)


def test_webhooks_bench() -> None:
    out = run("webhooks_bench.py", "--open", "20", "--iterations", "3", "--early", "5")
    rows = table(out, "webhooks_bench:")
    assert "[cluster]" in out  # the round trips are counted on the one-node cluster too
    numbers(rows, "delivery -> resolved, p50, in PINGs")
    assert any(row.startswith("round trips per resolving delivery") for row in rows), rows


def test_cold_start_measures_handlers_that_exist(tmp_path: Path) -> None:
    """Stand-in handlers, so the measuring path runs even before handlers/ is written."""
    handlers = tmp_path / "handlers"
    handlers.mkdir()
    (handlers / "api.py").write_text("import json\n\ndef handler(event, context):\n    return {}\n")
    (handlers / "maintenance.py").write_text("def handler(event, context):\n    return {}\n")
    out = run("cold_start.py", "--smoke", "--root", str(tmp_path))
    rows = table(out, "cold_start:")
    numbers(
        rows,
        "import handlers\\.api / import boto3 \\(\\S+ ms\\)",
        "import handlers\\.maintenance / import boto3 \\(\\S+ ms\\)",
    )
    assert re.search(r"^import handlers\.turn\s+missing\s+missing$", out, re.MULTILINE), out


def test_index_bench() -> None:
    args = ("--rate", "16", "--period-s", "3", "--periods", "2", "--parked", "2")
    rows = table(run("index_bench.py", *args), "index_bench:")
    kinds = ("3 continuing turns \\+ a final one", "hook-gated call \\(park, resolve, body\\)")
    for kind in kinds:  # the three figures of DESIGN section 9 it owns, the first on a cluster too
        numbers(rows, f"rt per turn incl. later cleanup: {kind}")
        numbers(rows, f"rt per turn incl. later cleanup: {kind} \\[cluster\\]")
    numbers(
        rows,
        "dispatch index size after each sweep period \\(last \\d+\\)",
        "bytes per parked task, every key but the transcript",
    )


def test_dev_server() -> None:
    out = run("dev_server.py", "--tasks", "3", "--starts", "1", "--soak", "3")
    rows = table(out, "dev_server:")
    assert re.match(r"dev_server: .*\d+ turn workers\)", out.split("\n", 2)[1]), out
    numbers(
        rows,
        "start\\(\\) -> first GET /openapi.json served, standalone",
        "start\\(\\) -> first GET /openapi.json served, one-node cluster",  # a cluster start too
        "tasks/s end to end \\(3 tasks[^)]*\\)",
        "resolve answered -> next turn starts, p50",
        "resolve answered -> next turn starts, p99",
        "  RSS after the first 3 \\(warm-up\\)",
    )


def test_soak() -> None:
    out = run("soak.py", "--tasks", "16", "--workers", "8")
    rows = table(out, "soak:")
    numbers(rows, "tasks \\(roots \\+ children\\)", "  completed", "hooks resolved")
    # a correctness count, not a speed: no tool call may run twice
    assert re.search(r"^calls applied twice\s+0\s+0\s+ok$", out, re.MULTILINE), out


def test_artifacts_smoke_build_prints_each_functions_sizes() -> None:
    """--smoke: contents only (no pip, no .pyc), offline; the real run is `sam build`."""
    out = run("artifacts.py", "--smoke")
    rows = table(out, "artifacts: per-function contents (smoke)")
    for name in ("ApiFunction", "TurnFunction", "MaintenanceFunction"):
        numbers(rows, f"{name}: files", f"{name}: unzipped", f"{name}: zipped")
        assert re.search(
            rf"^{name}: tests/docs/benchmarks/infra in it\s+none\s+none\s+ok", out, re.M
        ), out


def test_turn_memory_runs_tasks_through_the_turn_handler() -> None:
    out = run("turn_memory.py", "--tasks", "1")
    rows = table(out, "turn_memory:")
    numbers(rows, "bare interpreter, peak RSS", "peak RSS growth while they ran")
    # counts of what ran, not sizes: the one task and its 3 turns went through the handler
    assert re.search(r"^tasks of 3 turns and 1 hook completed \(of 1\)\s+1\s", out, re.M), out
    assert re.search(r"^  turns run through handlers.turn.handler\s+3\s", out, re.M), out


def test_import_cost() -> None:
    out = run("import_cost.py", "--runs", "1")
    for line in ("python -c pass\\s+median", "import factorial_aws\\s+median", "ratio"):
        assert re.search(rf"^{line}\s+{NUMBER}", out, re.MULTILINE), out
    assert re.search(r"^heavy modules pulled in\s+\S", out, re.MULTILINE), out
