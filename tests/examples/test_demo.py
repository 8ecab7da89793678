"""`make demo` end to end: the demo script parks on a hook, resolves it and completes."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_parks_on_the_hook_then_completes() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "waiting_hook on t-" in out
    assert "approved by ana" in out
    assert "status=completed" in out
