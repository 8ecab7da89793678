"""Real process deaths mid-turn: a worker killed with SIGKILL while its tool runs, and the store
itself killed (SIGKILL, appendonly with fsync on every write) and restarted while a turn runs.
Both end with the task completed and the tool run at least once more than it finished
(docs/store.md, "Crashes and leases"); standalone and one-node cluster."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from factorial_aws import Agent, App, tool
from factorial_aws.local.stack import LocalStack
from factorial_aws.store import keys
from factorial_aws.store.base import StoreSettings
from factorial_aws.store.client import connect
from factorial_aws.testing import FakeClock, ScriptedModel
from factorial_aws.testing.valkey import HOST, EmbeddedValkey, _free_port, find_server_binary
from tests.integration import crash_worker
from tests.integration.conftest import RuleModel

#: workers and stores killed and restarted, waiting out leases
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
#: Upper bound on waiting for something that happens in another process (not a timing check).
PATIENCE_S = 60.0


def _dispatch_entries(client: Any) -> int:
    return sum(int(client.zcard(keys.dispatch_index(s))) for s in range(keys.SHARDS))


def _until(what: str, check: Any, step_s: float = 0.05) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(step_s)


@pytest.fixture(params=["standalone", "cluster"])
def shared_server(request: pytest.FixtureRequest) -> EmbeddedValkey:
    server: EmbeddedValkey = request.getfixturevalue(f"valkey_{request.param}")
    server.flush()
    return server


def test_a_worker_killed_mid_turn_is_recovered_by_the_sweep(
    shared_server: EmbeddedValkey, tmp_path: Path
) -> None:
    client = connect(shared_server.url)
    marks = tmp_path / "marks"
    os.environ["CRASH_WORKER_MARKS"] = str(marks)
    try:
        stack = crash_worker.stack(client)
        task_id = stack.control.create_task("w", "go").task_id
        stack.queue._heap.clear()  # the turn message goes to the worker process instead
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.crash_worker",
                shared_server.url,
                task_id,
                str(marks),
            ],
            cwd=ROOT,
            env={k: v for k, v in os.environ.items() if k != "CRASH_WORKER_BLOCK"},
        )
        try:
            _until("the worker's tool to start", lambda: marks.exists() and marks.read_text())
            first_lease = int(client.hget(keys.task(task_id), "lease"))
            # the worker is alive past its first lease: its heartbeat keeps the task
            _until("the first lease to lapse", lambda: _server_ms(client) > first_lease + 1500)
            assert stack.sweep().reclaimed == 0
            assert client.hget(keys.task(task_id), "status") == b"running"
            worker.kill()  # SIGKILL: no cleanup of any kind
            worker.wait()
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()

        def recovered() -> bool:
            stack.sweep()
            stack.run_due()
            return bool(stack.control.get_task(task_id).status == "completed")

        _until("the sweep to recover the task", recovered, step_s=0.2)
        pids = [line.split()[0] for line in marks.read_text().splitlines()]
        assert len(pids) == 2 and pids[0] == str(worker.pid) != pids[1]  # at least once
        assert _dispatch_entries(client) == 0
    finally:
        os.environ.pop("CRASH_WORKER_MARKS", None)
        client.close()


def _server_ms(client: Any) -> int:
    target = client.get_default_node() if hasattr(client, "get_default_node") else None
    seconds, micros = client.time(target_nodes=target) if target else client.time()
    return int(seconds) * 1000 + int(micros) // 1000


# --- the store killed mid-turn ---------------------------------------------------------------------


class PersistentValkey:
    """A Valkey process with an append-only file synced on every write, which can be killed
    with SIGKILL and started again on the same port and data directory."""

    def __init__(self, directory: Path, *, cluster: bool) -> None:
        self.dir, self.cluster = directory, cluster
        self.port = _free_port(cluster=cluster)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [find_server_binary(), "--bind", HOST, "--port", str(self.port), "--save", ""]
        args += ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.dir)]
        args += ["--protected-mode", "yes", "--daemonize", "no"]
        if self.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        with (self.dir / "server.log").open("ab") as log:
            self.process = subprocess.Popen(args, cwd=self.dir, stdout=log, stderr=log)
        admin = redis.Redis(host=HOST, port=self.port, socket_timeout=1)
        try:
            _until("the store to answer", lambda: _answers(admin))
            if self.cluster:
                slots = admin.execute_command("CLUSTER", "INFO").decode()
                if "cluster_slots_assigned:16384" not in slots:
                    admin.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
                _until("cluster_state:ok", lambda: b"cluster_state:ok" in _cluster_info(admin))
        finally:
            admin.close()

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def url(self) -> str:
        return f"redis://{HOST}:{self.port}"


def _answers(admin: redis.Redis) -> bool:
    try:
        return bool(admin.ping())
    except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError):
        return False


def _cluster_info(admin: redis.Redis) -> bytes:
    info: bytes = admin.execute_command("CLUSTER", "INFO")
    return info


@pytest.fixture(params=["standalone", "cluster"])
def persistent(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PersistentValkey]:
    server = PersistentValkey(tmp_path, cluster=request.param == "cluster")
    server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.kill()


def test_the_store_killed_mid_turn_ends_with_the_task_completed(
    persistent: PersistentValkey,
) -> None:
    runs: list[str] = []

    @tool
    def pull_the_plug() -> str:
        """The first time: the store dies while the turn runs."""
        runs.append("ran")
        if len(runs) == 1:
            persistent.kill()
        return "done"

    app = App([Agent(name="p", instructions="i", model="m", tools=[pull_the_plug])])

    def rule(req: Any) -> Any:
        return "ok" if req.messages[-1].role == "tool" else [ScriptedModel.call("pull_the_plug")]

    client = connect(persistent.url(), retry=Retry(NoBackoff(), 1), socket_timeout=2)
    stack = LocalStack(
        app,
        client,
        RuleModel(rule),
        FakeClock(),
        b"secret",
        "http://x",
        settings=StoreSettings(lease_ms=10_000),
        fake_time=True,
    )
    try:
        task_id = stack.control.create_task("p", "go").task_id
        stack.run_due()  # the tool kills the store: the commit fails, redelivery in 2 s
        assert runs == ["ran"]
        persistent.start()  # back, from its append-only file
        stack.clock.advance(3)
        _until("the store to be back for the client", lambda: _reachable(stack))
        stack.run_due()  # the redelivered message: the lease is live, it is acknowledged
        assert stack.queue.pending() == 0
        assert stack.control.get_task(task_id).status == "running"
        stack.clock.advance(10)  # the lease lapses: the sweep takes over
        assert stack.sweep().reclaimed == 1
        for _ in range(3):
            stack.run_due()
        view = stack.control.get_task(task_id)
        assert view.status == "completed" and view.output == "ok"
        assert runs == ["ran", "ran"]  # at least once: the cut-off turn's tool ran again
        assert _dispatch_entries(client) == 0
    finally:
        client.close()


def _reachable(stack: LocalStack) -> bool:
    try:
        stack.control.get_task(next(iter(["t-" + "a" * 26])))
    except Exception as exc:
        return type(exc).__name__ == "TaskNotFoundError"
    return True
