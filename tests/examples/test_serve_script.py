"""examples/serve.py: serves an example with its stub model until SIGTERM, then stops cleanly."""

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # a fresh interpreter serving an example
def test_serve_runs_an_example_until_terminated() -> None:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "serve.py"), "payments", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        seen: list[str] = []
        while not any("serving payments on " in line for line in seen):
            line = proc.stdout.readline()
            assert line, "".join(seen)
            seen.append(line)
        base = seen[-1].rsplit(" ", 1)[-1].strip()
        req = urllib.request.Request(
            f"{base}/tasks",
            data=json.dumps(
                {"agent": "payments", "input": "Pay 5.00 USD to DE89370400440532013000"}
            ).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            task_id = json.loads(resp.read())["task_id"]
        deadline = time.monotonic() + 60  # a hang, not a loaded machine
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"{base}/tasks/{task_id}", timeout=5) as resp:
                if json.loads(resp.read())["status"] == "waiting_hook":
                    break
            time.sleep(0.05)
        else:
            raise AssertionError("the task never parked on its hook")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "Approve a transfer of 5.00 USD" in out and "stopping" in out
