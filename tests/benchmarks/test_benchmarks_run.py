"""Smoke test of the benchmarks: each runs with tiny counts, exits 0 and prints its table.

Not a timed test: nothing here looks at a figure. The benchmarks start their own embedded Valkey.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEADER = re.compile(r"^figure\s+value\s+target\s+status$", re.MULTILINE)


def run(script: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert proc.returncode == 0, f"{script} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.mark.parametrize(
    ("script", "args", "title"),
    [
        ("store_bench.py", ("--iterations", "5"), "store_bench:"),
        (
            "index_bench.py",
            ("--rate", "16", "--period-s", "3", "--periods", "2", "--parked", "2"),
            "index_bench:",
        ),
        ("turn_overhead.py", ("--iterations", "2", "--turns", "2"), "turn_overhead:"),
        ("cold_start.py", ("--runs", "1"), "cold_start:"),
        ("dev_server.py", ("--tasks", "3", "--starts", "1", "--soak", "3"), "dev_server:"),
        ("soak.py", ("--tasks", "16", "--workers", "8"), "soak:"),
        (
            "webhooks_bench.py",
            ("--open", "20", "--iterations", "3", "--early", "5"),
            "webhooks_bench:",
        ),
    ],
    ids=[
        "store_bench",
        "index_bench",
        "turn_overhead",
        "cold_start",
        "dev_server",
        "soak",
        "webhooks",
    ],
)
def test_benchmark_prints_its_table(script: str, args: tuple[str, ...], title: str) -> None:
    out = run(script, *args)
    assert title in out
    assert HEADER.search(out), out
    if script == "store_bench.py":
        assert "[cluster]" in out  # the round-trip counts run on the one-node cluster too
    if script == "index_bench.py":  # the three figures of DESIGN section 9 it owns
        assert "rt per turn incl. later cleanup" in out and "[cluster]" in out
        assert "dispatch index size after each sweep period" in out
        assert "bytes per parked task, every key but the transcript" in out
    if script == "webhooks_bench.py":
        assert "delivery -> resolved, p50, in PINGs" in out and "[cluster]" in out
        assert "round trips per resolving delivery" in out
    if script == "dev_server.py":
        assert "resolve answered -> next turn starts, p99" in out
        assert "one-node cluster" in out  # the start is measured on a cluster too
        assert "turn workers)" in out and "RSS after the first 3 (warm-up)" in out
    if script == "soak.py":
        assert re.search(r"^calls applied twice\s+0\s+0\s+ok$", out, re.MULTILINE), out


def test_cold_start_measures_handlers_that_exist(tmp_path: Path) -> None:
    """Stand-in handlers, so the measuring path runs even before handlers/ is written."""
    handlers = tmp_path / "handlers"
    handlers.mkdir()
    (handlers / "api.py").write_text("import json\n\ndef handler(event, context):\n    return {}\n")
    (handlers / "maintenance.py").write_text("def handler(event, context):\n    return {}\n")
    out = run("cold_start.py", "--runs", "1", "--root", str(tmp_path))
    assert HEADER.search(out), out
    assert "import handlers.api / import boto3" in out
    assert "import handlers.maintenance / import boto3" in out
    assert re.search(r"^import handlers\.turn\s+missing", out, re.MULTILINE), out


def test_import_cost_runs() -> None:
    out = run("import_cost.py", "--runs", "1")
    assert "import factorial_aws" in out


def test_artifacts_smoke_build_prints_each_functions_sizes() -> None:
    """--smoke: contents only (no pip, no .pyc), offline; the real run is `sam build`."""
    out = run("artifacts.py", "--smoke")
    assert "artifacts: per-function contents (smoke)" in out
    assert HEADER.search(out), out
    for name in ("ApiFunction", "TurnFunction", "MaintenanceFunction"):
        assert re.search(rf"^{name}: unzipped\s+[\d.]+ MB", out, re.M), out
        assert re.search(rf"^{name}: zipped\s+[\d.]+ MB", out, re.M), out
        assert re.search(
            rf"^{name}: tests/docs/benchmarks/infra in it\s+none\s+none\s+ok", out, re.M
        )


def test_turn_memory_runs_tasks_through_the_turn_handler() -> None:
    out = run("turn_memory.py", "--tasks", "1")
    assert "turn_memory:" in out
    assert HEADER.search(out), out
    assert re.search(r"^tasks of 3 turns and 1 hook completed \(of 1\)\s+1\s", out, re.M), out
    assert re.search(r"^  turns run through handlers.turn.handler\s+3\s", out, re.M), out
