"""Dev server start to first request served, and a burst of tasks through the local runtime, as
multiples of a bare Redis round trip measured in the same run.

Usage: python benchmarks/dev_server.py [--tasks N] [--starts S] [--cluster] [--workers W]
                                      [--soak N]

Everything runs in this process on 127.0.0.1, as ``factorial-aws dev`` does: the dev server
(``factorial_aws.local.dev.DevServer`` on an embedded Valkey), its HTTP API, its stub model
server, and the benchmark's HTTP clients (a pool of threads). Three measurements:

- **Start to first request served**: from the ``DevServer(...).start()`` call to the first
  successful ``GET /openapi.json`` over HTTP; median of S starts (after one start that is not
  counted), on a standalone Valkey and on a one-node cluster (whose start includes Valkey's wait
  for ``cluster_state:ok``). Split into the embedded Valkey, the stub model server, the rest of
  ``start()``, the first GET (which builds the OpenAPI document) and, for comparison, a second GET.
- **A burst of N tasks** of the payments example (``examples/payments``, with its stub model as
  the dev server's ``stub_reply``): N ``POST /tasks`` from a pool of threads, a wait until every
  task has parked on its approval hook, then N ``POST /hooks/{id}/resolve``, and a wait until
  every task has completed. Printed: tasks/s end to end, the create -> parked and resolve ->
  completed throughputs, and the time from a resolve's HTTP response to the start of the task's
  next turn (the dev server's turn handler entered for it), p50 and p99, with the queue wait and
  the worker's time per turn that explain it. The dev server runs turns on a pool of W worker
  threads (``--workers``; default: the dev server's own default for this machine), each with its
  own event loop; the table says how many. Before the burst, a few tasks are resolved one at a
  time (the workers idle): resolve -> next turn without a backlog.
- **A soak** (``--soak N``, after the burst): N more tasks through the same server, in bursts of
  ``SOAK_BATCH``, and the process's resident memory (RSS) after each batch: its growth from the
  first batch (the warm-up) to the last, in MB, and per 1,000 tasks. Flat is the target.

The unit is a PING through the dev server's own Redis client, timed on the same server while the
dev server is idle. The dev server is measured through a subclass that times its parts and a
wrapper on its queue's ``send`` (this script only; nothing else changes).
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import os
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from _bench import Row, TimedModel, median, pct, ping_times, print_table

from examples.payments.app import app as payments_app
from examples.payments.stub import stub_reply
from factorial_aws.core import ids
from factorial_aws.local.dev import DevServer, default_workers

if TYPE_CHECKING:
    from collections.abc import Callable

    from factorial_aws.core.records import QueueMessage

DEFAULT_TASKS = 200
DEFAULT_STARTS = 3
THREADS = 16
WARMUP_TASKS = 5
IDLE_TASKS = 20  # resolved one at a time before the burst
HTTP_TRIPS = 20
SLOW_KEPT_ALIVE = 5  # a kept-alive round trip this many times a new connection's ...
SLOW_KEPT_ALIVE_S = 0.01  # ... and over this: noted under the table
SOAK_BATCH = 200
PINGS = 300
HTTP_TIMEOUT_S = 10.0
FIRST_GET_LIMIT_S = 15.0
PHASE_LIMIT_S = 40.0
IBAN = "DE89370400440532013000"
APPROVAL = {"approved": True, "reviewer": "ana", "comment": "benchmark"}
BAD_OUTCOMES = frozenset({"failed", "cancelled", "stale_commit"})


def quiet(_: str) -> None:
    """The dev server's ``say``: silent (it would print every hook link and every completion)."""


class Said:
    """The dev server's ``say``: keeps what it says at start, prints nothing."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, text: str) -> None:
        if not text.startswith("task "):  # every hook link and completion: not kept
            self.lines.append(text)

    def stub_url(self) -> str:
        """The stub model server's address, as the dev server announced it."""
        (line,) = (x for x in self.lines if x.startswith("model:"))
        return line.rsplit(" at ", 1)[1].strip()


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f} ms"


def us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} us"


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


# --- the probe: what the worker did, per phase ----------------------------------------------------


@dataclass
class Phase:
    """What the queue and the turn worker did during one phase (times: ``perf_counter``)."""

    name: str
    entered: dict[str, float] = field(default_factory=dict)  # first turn handled, per task
    sent: dict[str, float] = field(default_factory=dict)  # first turn message sent, per task
    backlog: list[int] = field(default_factory=list)  # turns ahead (queued + running), per send
    outcomes: dict[str, str] = field(default_factory=dict)  # last outcome, per task
    service: list[float] = field(default_factory=list)  # handler time, per turn
    model: list[float] = field(default_factory=list)  # stub model call, per turn
    printing: list[float] = field(default_factory=list)  # the dev server's hook printing

    def count(self, outcome: str) -> int:
        return sum(1 for o in self.outcomes.values() if o == outcome)


class Probe:
    """Collects what the dev server's workers do; the benchmark waits on it."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.phase = Phase("idle")
        self.turn = threading.local()  # the model and printing time of each worker's turn
        self.busy = 0  # workers handling a message

    def add_model_time(self, seconds: float) -> None:
        """Time the stub model took (over HTTP) during the calling worker's turn."""
        self.turn.model_s = getattr(self.turn, "model_s", 0.0) + seconds

    def add_print_time(self, seconds: float) -> None:
        """Time the dev server took to print hook links during the calling worker's turn."""
        self.turn.print_s = getattr(self.turn, "print_s", 0.0) + seconds

    def begin(self, name: str) -> Phase:
        with self.cond:
            self.phase = Phase(name)
            return self.phase

    def sent(self, message: QueueMessage, queued: int) -> None:
        now = time.perf_counter()
        if message.kind != "turn":
            return
        with self.cond:
            self.phase.sent.setdefault(message.task_id, now)
            self.phase.backlog.append(queued + self.busy)

    def enter(self, message: QueueMessage, now: float) -> None:
        self.turn.model_s = self.turn.print_s = 0.0
        with self.cond:
            self.busy += 1
            self.phase.entered.setdefault(message.task_id, now)

    def leave(self, message: QueueMessage, took: float, outcome: str) -> None:
        with self.cond:
            self.busy -= 1
            self.phase.outcomes[message.task_id] = outcome
            self.phase.service.append(took)
            self.phase.model.append(self.turn.model_s)
            self.phase.printing.append(self.turn.print_s)
            self.cond.notify_all()

    def wait(self, n: int, outcome: str) -> float:
        """Block until ``n`` tasks of the phase reached ``outcome``; the time it happened."""
        with self.cond:
            phase = self.phase
            done = self.cond.wait_for(
                lambda: (
                    phase.count(outcome) >= n
                    or any(o in BAD_OUTCOMES for o in phase.outcomes.values())
                ),
                timeout=PHASE_LIMIT_S,
            )
            now = time.perf_counter()
            bad = {t: o for t, o in phase.outcomes.items() if o in BAD_OUTCOMES}
        if bad:
            raise RuntimeError(f"{phase.name}: tasks ended {sorted(set(bad.values()))}: {bad}")
        if not done:
            raise RuntimeError(
                f"{phase.name}: {phase.count(outcome)}/{n} tasks {outcome} after {PHASE_LIMIT_S} s"
            )
        return now


class ProbedDevServer(DevServer):
    """The dev server with timers around its parts; it runs exactly as ``DevServer`` does."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.probe = Probe()
        self.spans: dict[str, float] = {}

    def _redis(self) -> Any:
        t0 = time.perf_counter()
        try:
            return super()._redis()
        finally:
            self.spans["store"] = time.perf_counter() - t0

    def _model(self) -> Any:
        t0 = time.perf_counter()
        try:
            return TimedModel(super()._model(), self.probe.add_model_time)
        finally:
            self.spans["model"] = time.perf_counter() - t0

    async def _handle(self, message: QueueMessage) -> str:
        t0 = time.perf_counter()
        self.probe.enter(message, t0)
        outcome = await super()._handle(message)
        self.probe.leave(message, time.perf_counter() - t0, outcome)
        return outcome

    def _print_hooks(self, task_id: str) -> None:
        t0 = time.perf_counter()
        try:
            super()._print_hooks(task_id)
        finally:
            self.probe.add_print_time(time.perf_counter() - t0)

    def watch_queue(self) -> None:
        """Record each message sent to the in-process queue (an instance attribute, here only)."""
        assert self.stack is not None
        queue = self.stack.queue
        send = queue.send

        def recorded_send(message: QueueMessage, delay_s: int = 0) -> None:
            self.probe.sent(message, queue.pending())
            send(message, delay_s)

        queue.send = recorded_send  # type: ignore[method-assign]


# --- HTTP -----------------------------------------------------------------------------------------


class Api:
    """JSON over HTTP/1.1 keep-alive, one connection per calling thread."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[http.client.HTTPConnection] = []

    def _conn(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=HTTP_TIMEOUT_S)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Any:
        data = None if body is None else json.dumps(body).encode()
        sent = {"Content-Type": "application/json"} if data is not None else {}
        conn = self._conn()
        conn.request(method, path, body=data, headers={**sent, **(headers or {})})
        response = conn.getresponse()
        raw = response.read()
        if response.status >= 300:
            raise RuntimeError(f"{method} {path} -> {response.status}: {raw[:300]!r}")
        return json.loads(raw)

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()  # a closed connection reconnects on its next request


def first_get(base_url: str) -> None:
    """``GET /openapi.json`` on a new connection until it answers 200."""
    parts = urlsplit(base_url)
    deadline = time.perf_counter() + FIRST_GET_LIMIT_S
    while True:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
        try:
            conn.request("GET", "/openapi.json")
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        finally:
            conn.close()
        if time.perf_counter() > deadline:
            raise RuntimeError(f"no GET /openapi.json served in {FIRST_GET_LIMIT_S} s")
        time.sleep(0.001)


# --- start to first request served ----------------------------------------------------------------


@dataclass
class Start:
    """One start, in seconds."""

    total: float  # start() called -> first GET /openapi.json answered
    call: float  # start() returned
    store: float  # embedded Valkey started, client made
    model: float  # stub model server started
    second_get: float
    pings: list[float]


def one_start(cluster: bool) -> Start:
    dev = ProbedDevServer(payments_app, port=0, cluster=cluster, say=quiet, stub_reply=stub_reply)
    t0 = time.perf_counter()
    try:
        dev.start()
        called = time.perf_counter() - t0
        first_get(dev.base_url)
        total = time.perf_counter() - t0
        t1 = time.perf_counter()
        first_get(dev.base_url)
        second = time.perf_counter() - t1
        assert dev.stack is not None
        pings = ping_times(dev.stack.client, PINGS)
    finally:
        dev.stop()
    return Start(total, called, dev.spans["store"], dev.spans["model"], second, pings)


def start_rows(label: str, starts: list[Start]) -> list[Row]:
    ping = median([p for s in starts for p in s.pings])
    total = median([s.total for s in starts])
    call = median([s.call for s in starts])
    store = median([s.store for s in starts])
    model = median([s.model for s in starts])
    first = median([s.total - s.call for s in starts])
    return [
        Row(
            f"start() -> first GET /openapi.json served, {label}",
            ms(total),
        ),
        Row(f"  ... in PINGs (PING p50 {us(ping)} on those servers)", f"{total / ping:,.0f}x"),
        Row(
            f"  min / max of the {len(starts)} starts",
            f"{ms(min(s.total for s in starts))} / {ms(max(s.total for s in starts))}",
        ),
        Row("  start() returned", ms(call)),
        Row("    embedded Valkey up (spawn, ready poll every 20 ms)", ms(store)),
        Row("    stub model server up", ms(model)),
        Row("    the rest (LocalStack, API resolver, threads)", ms(call - store - model)),
        Row("  first GET /openapi.json (builds the document)", ms(first)),
        Row(
            "  a second GET /openapi.json (new connection)",
            ms(median([s.second_get for s in starts])),
        ),
    ]


# --- the burst ------------------------------------------------------------------------------------


@dataclass
class Timed:
    """A call's result, its latency and when it was answered."""

    value: Any
    took: float
    at: float


def timed(fn: Callable[[], Any]) -> Timed:
    t0 = time.perf_counter()
    value = fn()
    t1 = time.perf_counter()
    return Timed(value, t1 - t0, t1)


@dataclass
class Run:
    """One create -> parked -> resolve -> completed pass over a set of tasks."""

    created: Phase
    resolved: Phase
    creates: list[Timed]
    resolves: dict[str, Timed]  # per task
    create_s: float = 0.0  # first POST /tasks sent -> last task parked
    create_http_s: float = 0.0  # ... -> last POST /tasks answered
    resolve_s: float = 0.0  # first resolve sent -> last task completed
    resolve_http_s: float = 0.0  # ... -> last resolve answered
    cpu_s: float = 0.0  # CPU time of the whole process (every thread) over the run

    def resolve_to_turn(self) -> list[float]:
        return [self.resolved.entered[t] - r.at for t, r in self.resolves.items()]

    def resolve_sent_to_turn(self) -> list[float]:
        return [self.resolved.entered[t] - (r.at - r.took) for t, r in self.resolves.items()]

    def queue_wait(self) -> list[float]:
        return [self.resolved.entered[t] - self.resolved.sent[t] for t in self.resolves]


class Bench:
    """A started dev server of the payments example, and the clients that drive it."""

    def __init__(self, dev: ProbedDevServer, pool: ThreadPoolExecutor) -> None:
        assert dev.stack is not None
        self.dev = dev
        self.secret = dev.stack.hook_secret
        self.api = Api(dev.base_url)
        self.pool = pool
        self.serial = 0

    def create(self, i: int) -> Timed:
        text = f"Pay {100 + i:,}.00 USD to {IBAN}."
        return timed(lambda: self.api.call("POST", "/tasks", {"agent": "payments", "input": text}))

    def hook_of(self, task_id: str) -> str:
        (pending,) = self.api.call("GET", f"/tasks/{task_id}")["pending_hooks"]
        return str(pending["hook_id"])

    def resolve(self, hook_id: str) -> Timed:
        token = ids.hook_token(self.secret, hook_id, 1)
        path = f"/hooks/{hook_id}/resolve"
        out = timed(lambda: self.api.call("POST", path, APPROVAL, {"X-Hook-Token": token}))
        assert out.value["task_resumed"], out.value
        return out

    def park(self, n: int, name: str) -> tuple[Phase, list[Timed], float, float]:
        """Create ``n`` tasks at once; wait until all are parked on their hooks."""
        phase = self.dev.probe.begin(name)
        t0 = time.perf_counter()
        creates = list(self.pool.map(self.create, range(self.serial, self.serial + n)))
        self.serial += n
        http_s = time.perf_counter() - t0
        parked = self.dev.probe.wait(n, "waiting_hook")
        return phase, creates, parked - t0, http_s

    def run(self, n: int, name: str, *, one_at_a_time: bool = False) -> Run:
        cpu0 = time.process_time()
        created, creates, create_s, create_http_s = self.park(n, f"{name}: create")
        tasks = [c.value["task_id"] for c in creates]
        hooks = list(self.pool.map(self.hook_of, tasks))  # not timed
        resolved = self.dev.probe.begin(f"{name}: resolve")
        t0 = time.perf_counter()
        if one_at_a_time:  # the worker is idle at each resolve
            out = []
            for i, hook_id in enumerate(hooks):
                out.append(self.resolve(hook_id))
                self.dev.probe.wait(i + 1, "completed")
        else:
            out = list(self.pool.map(self.resolve, hooks))
        resolve_http_s = time.perf_counter() - t0
        done = self.dev.probe.wait(n, "completed")
        run = Run(created, resolved, creates, dict(zip(tasks, out, strict=True)))
        run.create_s, run.create_http_s = create_s, create_http_s
        run.resolve_s, run.resolve_http_s = done - t0, resolve_http_s
        run.cpu_s = time.process_time() - cpu0
        return run


@dataclass
class BurstResult:
    burst: Run
    idle: Run
    pings: list[float]
    trips: dict[str, list[float]]
    version: str
    workers: int
    soak: list[tuple[int, float]] = field(default_factory=list)  # (tasks so far, RSS MB)


def rss_mb() -> float:
    """This process's resident memory, in MB (Linux: /proc; else the peak, from resource)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def soak(bench: Bench, n: int) -> list[tuple[int, float]]:
    """``n`` tasks in bursts of ``SOAK_BATCH``; the RSS after each (after a garbage collection)."""
    out: list[tuple[int, float]] = []
    done = 0
    while done < n:
        size = min(SOAK_BATCH, n - done)
        bench.run(size, f"soak {done}")
        done += size
        gc.collect()
        out.append((done, rss_mb()))
    return out


def server_version(client: Any) -> str:
    info: dict[str, Any] = client.info("server")
    if "redis_version" not in info:  # a cluster client: one answer per node
        info = next(iter(info.values()))
    return str(info.get("valkey_version") or info["redis_version"])


def round_trips(base_url: str, path: str, body: Any, *, keep_alive: bool) -> list[float]:
    """``HTTP_TRIPS`` requests one after the other, on one kept-alive connection or a new
    connection each; each timed."""
    api = Api(base_url)
    method = "GET" if body is None else "POST"
    out = []
    try:
        if keep_alive:
            api.call(method, path, body)  # not timed: opens the connection
        for _ in range(HTTP_TRIPS):
            if not keep_alive:
                api.close()  # the next request opens a new connection
            out.append(timed(lambda: api.call(method, path, body)).took)
    finally:
        api.close()
    return out


def http_trips(dev: ProbedDevServer, said: Said) -> dict[str, list[float]]:
    """Serial round trips to the API and to the stub model server (the worker is idle)."""
    model_url = said.stub_url()
    chat = {"model": "m", "messages": [{"role": "user", "content": f"Pay 1.00 USD to {IBAN}."}]}
    trips = {}
    for keep_alive in (False, True):
        how = "one kept-alive connection" if keep_alive else "new connections"
        trips[f"API GET /openapi.json, {how}"] = round_trips(
            dev.base_url, "/openapi.json", None, keep_alive=keep_alive
        )
        trips[f"stub model POST /v1/chat/..., {how}"] = round_trips(
            model_url, "/v1/chat/completions", chat, keep_alive=keep_alive
        )
    return trips


def burst(n: int, cluster: bool, workers: int, soak_tasks: int = 0) -> BurstResult:
    said = Said()
    dev = ProbedDevServer(
        payments_app, port=0, cluster=cluster, say=said, stub_reply=stub_reply, workers=workers
    )
    dev.start()
    bench: Bench | None = None
    try:
        assert dev.stack is not None
        dev.watch_queue()
        with ThreadPoolExecutor(THREADS, thread_name_prefix="bench-http") as pool:
            bench = Bench(dev, pool)
            bench.run(min(n, WARMUP_TASKS), "warm-up")  # model client, scripts, connections
            idle = bench.run(min(n, IDLE_TASKS), "idle worker", one_at_a_time=True)
            pings = ping_times(dev.stack.client, PINGS)
            trips = http_trips(dev, said)
            result = bench.run(n, "burst")
            soaked = soak(bench, soak_tasks) if soak_tasks else []
        version = server_version(dev.stack.client)
    finally:
        if bench is not None:
            bench.api.close()
        dev.stop()
    return BurstResult(result, idle, pings, trips, version, workers, soaked)


def p50_p99(values: list[float]) -> str:
    return f"{ms(median(values))} / {ms(pct(values, 99))}"


def in_pings(seconds: float, ping: float) -> str:
    return f"{seconds / ping:,.0f}x"


def throughput_rows(run: Run, n: int, workers: int) -> list[Row]:
    created, resolved = run.created, run.resolved
    return [
        Row(
            f"tasks/s end to end ({n} tasks; {workers} turn workers)",
            f"{n / (run.create_s + run.resolve_s):,.0f}/s",
        ),
        Row(
            f"  create -> all parked on their hook ({run.create_s:.2f} s)",
            f"{n / run.create_s:,.0f}/s",
        ),
        Row(
            f"    POST /tasks: last answered at {run.create_http_s:.2f} s; p50/p99",
            p50_p99([c.took for c in run.creates]),
        ),
        Row(
            f"    {len(created.service) / n:.1f} turns per task; worker time per turn, mean",
            ms(mean(created.service)),
        ),
        Row("      of which the stub model call", ms(mean(created.model))),
        Row("      of which printing the hook links (reads the task)", ms(mean(created.printing))),
        Row(
            "  CPU time per task, whole process (API, workers, stub model, clients)",
            ms(run.cpu_s / n),
        ),
        Row(
            f"    ... so at most, on one core (one GIL; {os.cpu_count()} CPUs here)",
            f"{n / run.cpu_s:,.0f}/s",
        ),
        Row(f"  resolve -> all completed ({run.resolve_s:.2f} s)", f"{n / run.resolve_s:,.0f}/s"),
        Row(
            f"    POST .../resolve: last answered at {run.resolve_http_s:.2f} s; p50/p99",
            p50_p99([r.took for r in run.resolves.values()]),
        ),
        Row(
            f"    {len(resolved.service) / n:.1f} turns per task; worker time per turn, mean",
            ms(mean(resolved.service)),
        ),
        Row("      of which the stub model call", ms(mean(resolved.model))),
    ]


def latency_rows(run: Run, ping: float) -> list[Row]:
    answered = run.resolve_to_turn()
    sent = run.resolve_sent_to_turn()
    backlog = [float(b) for b in run.resolved.backlog]
    early = sum(1 for w in answered if w < 0)
    return [
        Row("resolve answered -> next turn starts, p50", ms(median(answered))),
        Row("  ... in PINGs", in_pings(median(answered), ping)),
        Row("resolve answered -> next turn starts, p99", ms(pct(answered, 99))),
        Row("  ... in PINGs", in_pings(pct(answered, 99), ping)),
        Row("  resolve sent -> next turn starts, p50 / p99", p50_p99(sent)),
        Row("  queue wait (message sent -> turn starts), p50 / p99", p50_p99(run.queue_wait())),
        Row(
            "  turns ahead when sent (queued + running), mean / max",
            f"{mean(backlog):,.0f} / {max(backlog, default=0):,.0f}",
        ),
        Row("  turns started before the resolve's answer was read", f"{early}/{len(answered)}"),
    ]


def idle_rows(run: Run, ping: float) -> list[Row]:
    sent = run.resolve_sent_to_turn()
    late = [-w for w in run.resolve_to_turn()]
    return [
        Row(f"idle worker ({len(sent)} resolves, each after the last completed)", ""),
        Row("  resolve sent -> next turn starts, p50", ms(median(sent))),
        Row("    ... in PINGs", f"{median(sent) / ping:,.1f}x"),
        Row(
            "  resolve sent -> next turn starts, p99 (max)",
            f"{ms(pct(sent, 99))} ({ms(max(sent))})",
        ),
        Row(
            "  queue wait, p50 / max",
            f"{ms(median(run.queue_wait()))} / {ms(max(run.queue_wait()))}",
        ),
        Row("  resolve's answer read after the turn started, p50 / p99", p50_p99(late)),
        Row("  worker time per turn after the resolve, mean", ms(mean(run.resolved.service))),
    ]


def trip_rows(trips: dict[str, list[float]]) -> list[Row]:
    rows = [Row(f"HTTP round trips, {HTTP_TRIPS} one after the other, p50 / p99", "")]
    rows += [Row(f"  {name}", p50_p99(values)) for name, values in trips.items()]
    return rows


def burst_rows(res: BurstResult, n: int) -> list[Row]:
    ping = median(res.pings)
    return [
        Row(
            "PING p50 / p99, dev server's client, server idle (unit)",
            f"{us(ping)} / {us(pct(res.pings, 99))}",
        ),
        *throughput_rows(res.burst, n, res.workers),
        *latency_rows(res.burst, ping),
        *idle_rows(res.idle, ping),
        *trip_rows(res.trips),
        *soak_rows(res.soak),
    ]


def soak_rows(points: list[tuple[int, float]]) -> list[Row]:
    if not points:
        return []
    (warm, first), (last_n, last) = points[0], points[-1]
    rows = [
        Row(f"soak: {last_n:,} tasks in bursts of {SOAK_BATCH}, RSS after each", ""),
        Row(f"  RSS after the first {warm:,} (warm-up)", f"{first:,.1f} MB"),
        Row(f"  RSS after {last_n:,}", f"{last:,.1f} MB"),
    ]
    if last_n > warm:
        growth = last - first
        rows.append(
            Row(f"  growth after the warm-up ({last_n - warm:,} tasks)", f"{growth:+,.1f} MB")
        )
        rows.append(Row("  ... per 1,000 tasks", f"{growth / (last_n - warm) * 1000:+,.1f} MB"))
        half_n, half = points[len(points) // 2]
        if last_n > half_n > warm:
            rows.append(
                Row(
                    f"  growth over the second half ({last_n - half_n:,} tasks)",
                    f"{last - half:+,.1f} MB",
                )
            )
    return rows


# --- main -----------------------------------------------------------------------------------------


def main() -> None:
    """Measure the starts and the burst; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--tasks", type=int, default=DEFAULT_TASKS, help="tasks in the burst (default %(default)s)"
    )
    parser.add_argument(
        "--starts",
        type=int,
        default=DEFAULT_STARTS,
        help="counted starts of each kind (default %(default)s)",
    )
    parser.add_argument(
        "--cluster", action="store_true", help="run the burst on a one-node cluster"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help="the dev server's turn workers (default: its default here, %(default)s)",
    )
    parser.add_argument(
        "--soak",
        type=int,
        default=0,
        metavar="N",
        help="after the burst, N more tasks and the RSS growth (e.g. 10000; default: none)",
    )
    args = parser.parse_args()
    n, starts = max(1, args.tasks), max(1, args.starts)
    started = time.perf_counter()
    cold = one_start(cluster=False)  # not counted: the process's first start (lazy imports)
    standalone = [one_start(cluster=False) for _ in range(starts)]
    cluster = [one_start(cluster=True) for _ in range(starts)]
    res = burst(n, args.cluster, max(1, args.workers), max(0, args.soak))
    rows = start_rows("standalone", standalone)
    rows.insert(3, Row("  the process's first start (not counted)", ms(cold.total)))
    rows += start_rows("one-node cluster", cluster) + burst_rows(res, n)
    kind = "one-node cluster" if args.cluster else "standalone"
    print_table(
        f"dev_server: Valkey {res.version} on 127.0.0.1, burst of {n} tasks on {kind} "
        f"({THREADS} HTTP threads, {res.workers} turn workers), "
        f"{time.perf_counter() - started:.1f} s",
        rows,
    )
    print()
    print("where the time goes (arithmetic on the figures above):")
    for line in notes(res):
        print(textwrap.fill(line, 100, initial_indent="- ", subsequent_indent="  "))


def notes(res: BurstResult) -> list[str]:
    """What the figures say about each other (computed, not measured again)."""
    run = res.burst
    turn = mean(run.resolved.service)
    backlog = mean([float(b) for b in run.resolved.backlog])
    model = mean(run.resolved.model)
    out = [
        f"the dev server runs turns on {res.workers} worker threads "
        "(factorial_aws/local/queue.py), in one process (one GIL) with its API, its stub model "
        f"server and {THREADS} client threads: the workers overlap their waits (store, model), "
        "not their Python code",
        f"burst: a resumed turn waits for the turns ahead of it: {backlog:,.1f} (mean) x "
        f"{ms(turn)} per turn / {res.workers} workers = {ms(backlog * turn / res.workers)} (at "
        f"most); measured queue wait, mean: {ms(mean(run.queue_wait()))}",
        f"a turn's worker time: {ms(turn)}, of which {ms(model)} in the stub model call "
        f"({model / turn:.0%})",
    ]
    new = {k.split(",")[0]: median(v) for k, v in res.trips.items() if "new connections" in k}
    kept = {k.split(",")[0]: median(v) for k, v in res.trips.items() if "kept-alive" in k}
    for name, t in kept.items():
        if t > SLOW_KEPT_ALIVE * new[name] and t > SLOW_KEPT_ALIVE_S:
            out.append(
                f"{name}: {ms(t)} on a kept-alive connection against {ms(new[name])} on new "
                "ones: a reply sent in two writes (headers, then body) with TCP_NODELAY off "
                "waits for the client's delayed ACK (about 40 ms on Linux)"
            )
    return out


if __name__ == "__main__":
    main()
