"""`factorial-aws dev` as a user starts it (a subprocess in a temp directory), stopped and started
again: the state directory keeps tasks, hooks and links; a turn killed mid-way is run again; one
server per state directory; `--ephemeral` keeps nothing; Ctrl-C exits 130."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli_api import APPROVE, cli_env

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"open: +(http://\S+\?token=\S+)")
START_S = 30

SLOW_APP = '''
import time
from pathlib import Path

from factorial_aws import Agent, App, tool

MARK = Path(__file__).with_name("started")


@tool
def slow_step(n: int) -> str:
    """A step that hangs the first time it runs (the test kills the server then)."""
    if not MARK.exists():
        MARK.write_text("1")
        time.sleep(120)
    return f"step {n} done"


app = App(agents=[Agent(name="slow", instructions="x", model="m", tools=[slow_step])])
'''


@dataclass
class Dev:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def text(self) -> str:
        return self.log.read_text()

    def stop(self, sig: signal.Signals = signal.SIGINT) -> int:
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env() -> dict[str, str]:
    # no FACTORIAL_HOOK_SECRET: the state directory's own secret is what keeps links valid
    out = {k: v for k, v in cli_env().items() if k != "FACTORIAL_HOOK_SECRET"}
    return {**out, "PYTHONPATH": os.pathsep.join([str(ROOT), out.get("PYTHONPATH", "")])}


def start(cwd: Path, ref: str, *args: str, port: int = 0, name: str = "dev") -> Dev:
    log = cwd / f"{name}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "factorial_aws", "dev", ref, "--port", str(port), *args],
            cwd=cwd,
            env=env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the dev server exited ({proc.returncode}):\n{log.read_text()}")
        found = re.search(r"serving \S+ on (http://127\.0\.0\.1:\d+)", log.read_text())
        if found:
            return Dev(proc, found.group(1), log)
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    pytest.fail(f"the dev server did not start in time:\n{log.read_text()}")


def wait_for(what: str, condition: Any, timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def servers() -> Iterator[list[Dev]]:
    """Every dev server a test starts is stopped at its end, whatever happened."""
    started: list[Dev] = []
    yield started
    for dev in started:
        if dev.proc.poll() is None:
            dev.proc.kill()
            dev.proc.wait()


def test_a_restart_keeps_a_parked_task_and_its_printed_link_resolves_it(
    tmp_path: Path, servers: list[Dev]
) -> None:
    port = free_port()
    first = start(tmp_path, "examples.payments.app:app", port=port)
    servers.append(first)
    status, created = first.call(
        "POST", "/tasks", {"agent": "payments", "input": "Pay 12.50 USD to DE89370400440532013000"}
    )
    assert status == 201, created
    task_id = created["task_id"]
    link = wait_for("the hook link", lambda: (m := LINK.search(first.text())) and m.group(1))

    # one dev server per state directory: the second says who holds it
    busy = subprocess.run(
        [sys.executable, "-m", "factorial_aws", "dev", "examples.payments.app:app", "--port", "0"],
        cwd=tmp_path,
        env=env(),
        capture_output=True,
        text=True,
        timeout=START_S,
    )
    assert busy.returncode == 1
    assert busy.stderr.startswith("error: state_dir_in_use: ")
    assert f"pid {first.proc.pid}" in busy.stderr and first.url in busy.stderr

    assert first.stop() == 130  # Ctrl-C
    assert (tmp_path / ".factorial" / "valkey" / "appendonlydir").is_dir()

    second = start(tmp_path, "examples.payments.app:app", port=port, name="second")
    servers.append(second)
    assert "recovered: resumed 1 parked task" in second.text()
    status, shown = second.call("GET", f"/tasks/{task_id}")
    assert status == 200 and shown["status"] == "waiting_hook", shown

    resolved = subprocess.run(
        [
            *(sys.executable, "-m", "factorial_aws", "hooks", "resolve", link),
            *("--data", json.dumps(APPROVE), "--url", second.url),
        ],
        cwd=tmp_path,
        env=env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert resolved.returncode == 0, resolved.stderr
    wait_for(
        "completion", lambda: second.call("GET", f"/tasks/{task_id}")[1]["status"] == "completed"
    )
    assert f"task {task_id}: completed" in wait_for(
        "the completion line",
        lambda: f"task {task_id}: completed" in second.text() and second.text(),
    )
    assert second.stop(signal.SIGTERM) == 0


def test_a_turn_killed_mid_way_runs_again_after_a_restart(
    tmp_path: Path, servers: list[Dev]
) -> None:
    (tmp_path / "slowapp.py").write_text(SLOW_APP)
    first = start(tmp_path, "slowapp:app", "--state-dir", "state")
    servers.append(first)
    status, created = first.call("POST", "/tasks", {"agent": "slow", "input": "go"})
    assert status == 201, created
    task_id = created["task_id"]
    wait_for("the tool to start", (tmp_path / "started").exists)
    assert first.call("GET", f"/tasks/{task_id}")[1]["status"] == "running"
    old_valkey = int((tmp_path / "state" / "valkey" / "valkey.pid").read_text())
    first.proc.kill()  # kill -9: no clean-up at all, the embedded Valkey is orphaned
    first.proc.wait()

    second = start(tmp_path, "slowapp:app", "--state-dir", "state", name="second")
    servers.append(second)
    assert not Path(f"/proc/{old_valkey}").exists() or _zombie(old_valkey)
    assert "re-ran 1 interrupted turn" in second.text()
    wait_for(
        "the task to complete",
        lambda: second.call("GET", f"/tasks/{task_id}")[1]["status"] == "completed",
        timeout_s=60,
    )
    _, task = second.call("GET", f"/tasks/{task_id}")
    assert "step 1 done" in str(task["output"])
    assert second.stop() == 130


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


def test_ephemeral_keeps_nothing(tmp_path: Path, servers: list[Dev]) -> None:
    first = start(tmp_path, "examples.payments.app:app", "--ephemeral")
    servers.append(first)
    assert "state: ephemeral" in first.text()
    status, created = first.call("POST", "/tasks", {"agent": "payments", "input": "Pay 1 USD"})
    assert status == 201
    assert first.stop() == 130
    assert not (tmp_path / ".factorial").exists()

    second = start(tmp_path, "examples.payments.app:app", "--ephemeral", name="second")
    servers.append(second)
    status, body = second.call("GET", f"/tasks/{created['task_id']}")
    assert status == 404 and body["error"]["code"] == "task_not_found"
    assert "recovered" not in second.text()
    assert second.stop() == 130
