"""`make demo` end to end: the demo script parks on a hook, resolves it over HTTP and completes."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # a fresh interpreter and a dev server
def test_demo_parks_on_the_hook_then_completes() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py")],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    out = run.stdout
    assert run.returncode == 0, out + run.stderr
    parked = out.index("-> waiting_hook")
    assert "/resolve" in out[parked:] and "-> resolved, task_resumed=True" in out
    done = out.index("-> completed")
    assert parked < done
    assert "sent 125000 cents to DE89370400440532013000, approved by ana" in out[done:]
