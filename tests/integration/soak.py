"""A soak of the dev server over HTTP: many tasks at once, hooks resolved at random moments (some
twice), hooks left to expire, two hooks of one stage resolved at the same instant, sleeps,
fan-outs joined on all/any/N, random cancels, and tasks deliberately left parked.

:func:`run_soak` starts a :class:`~factorial_aws.local.dev.DevServer` (embedded Valkey, the stub
model through the real ``openai`` client) on 127.0.0.1, creates the tasks of a seeded plan with
``POST /tasks`` (each with its own ``Idempotency-Key``, some sent twice), runs one script per task
from a pool of threads (find its hooks with ``GET /tasks/{id}``, resolve, resolve again, cancel,
or leave alone), waits until every task has settled, and returns a :class:`SoakReport`. Every
tool records its idempotency key when its body runs, so the report can say whether any call was
applied twice. ``tests/integration/test_soak.py`` runs it at a size that fits ``make test``;
``benchmarks/soak.py`` runs a larger one.

Nothing here is timed: the deadlines only bound a run that would otherwise hang.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Annotated, Any

from factorial_aws import (
    Agent,
    App,
    Hook,
    HookRequestContext,
    PendingHook,
    ToolContext,
    hook,
    subagents,
    tool,
)
from factorial_aws import wait as waits
from factorial_aws.aws.settings import DevSettings
from factorial_aws.core import ids
from factorial_aws.local.dev import DevServer
from factorial_aws.testing import StubReply, call, text_reply, tool_calls_reply

SECRET = "soak-hook-secret"
TERMINAL = frozenset({"completed", "failed", "cancelled"})
HTTP_TIMEOUT_S = 60.0
POLL_S = 0.05
LONG_HOOK_S = 3600  # a hook the script resolves (or leaves parked): never expires in a run
SHORT_HOOK_S = 1  # a hook the script leaves to expire


# --- what the tools did -------------------------------------------------------------------------


class Executions:
    """Every tool body that ran, by idempotency key (a tool records itself first thing)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_key: Counter[str] = Counter()
        self.by_task: dict[str, list[str]] = {}

    def clear(self) -> None:
        with self._lock:
            self.by_key.clear()
            self.by_task.clear()

    def record(self, ctx: ToolContext) -> None:
        with self._lock:
            self.by_key[ctx.idempotency_key] += 1
            self.by_task.setdefault(ctx.task_id, []).append(ctx.tool_name)

    def of(self, task_id: str) -> list[str]:
        with self._lock:
            return list(self.by_task.get(task_id, []))


EXECUTIONS = Executions()  # the tools below are module-level, as an App's are


# --- the app --------------------------------------------------------------------------------------


class Approval(Hook):
    approved: bool
    reviewer: str


def ask_manager(ctx: HookRequestContext, amount: int, timeout_s: int) -> PendingHook[Approval]:
    return Approval.pending(ctx=ctx, title=f"approve {amount}", timeout_s=timeout_s)


def ask_first(ctx: HookRequestContext, amount: int) -> PendingHook[Approval]:
    return Approval.pending(ctx=ctx, title="first", timeout_s=LONG_HOOK_S)


def ask_second(ctx: HookRequestContext, amount: int) -> PendingHook[Approval]:
    return Approval.pending(ctx=ctx, title="second", timeout_s=LONG_HOOK_S)


@tool
def pay(
    amount: int,
    timeout_s: int,
    approval: Annotated[Approval, hook.requires(ask_manager)],
    ctx: ToolContext,
) -> str:
    """Pay once a manager approves."""
    EXECUTIONS.record(ctx)
    return f"paid {amount} ({approval.reviewer})" if approval.approved else f"refused {amount}"


@tool
def transfer(
    amount: int,
    first: Annotated[Approval, hook.requires(ask_first)],
    second: Annotated[Approval, hook.requires(ask_second)],
    ctx: ToolContext,
) -> str:
    """Transfer once two people approve (both asked at once)."""
    EXECUTIONS.record(ctx)
    return f"transferred {amount} ({first.reviewer}+{second.reviewer})"


@tool
def nap(seconds: int, ctx: ToolContext) -> object:
    """Sleep."""
    EXECUTIONS.record(ctx)
    return waits.sleep(seconds=seconds, data={"slept": seconds})


@tool
def note(topic: str, ctx: ToolContext) -> str:
    """Write a note on a topic."""
    EXECUTIONS.record(ctx)
    return f"note on {topic}"


researcher = Agent(name="researcher", instructions="research", model="stub", tools=[note])


@tool
def fan_out(topics: list[str], join: str, ctx: ToolContext) -> object:
    """Spawn one researcher per topic and wait for them (join: all, any, or a number)."""
    EXECUTIONS.record(ctx)
    refs = [subagents.spawn(researcher, f"topic {t}", key=t) for t in topics]
    how: Any = int(join) if join.isdigit() else join
    return waits.children(refs, join=how)


def _agent(name: str, *tools: Any) -> Agent:
    return Agent(name=name, instructions=name, model="stub", tools=list(tools))


APP = App(
    [
        _agent("payer", pay),
        _agent("dual", transfer),
        _agent("sleeper", nap),
        _agent("lead", fan_out),
        researcher,
    ]
)


def stub_reply(body: dict[str, Any]) -> StubReply:
    """The model: call the tool the task's input names (once), then finish with its result."""
    messages = body["messages"]
    if messages[-1]["role"] == "tool":
        return text_reply(f"done: {messages[-1]['content']}")
    if messages[0]["content"] == "research":
        return tool_calls_reply(call("note", topic=str(messages[1]["content"])))
    spec = json.loads(messages[1]["content"])
    return tool_calls_reply(call(spec["tool"], **spec["args"]))


# --- the plan ------------------------------------------------------------------------------------

#: What a task's script does: (weight, agent, action).
KINDS: list[tuple[int, str, str]] = [
    (4, "payer", "resolve"),  # resolve once, at a random moment
    (3, "payer", "resolve_twice"),  # then again: idempotent (same key) or 409 (no key)
    (2, "payer", "refuse"),  # resolve with approved=false: the tool runs and says so
    (2, "payer", "expire"),  # leave a short hook to expire: the tool never runs
    (1, "payer", "park"),  # leave a long hook alone: parked at the end, accounted for
    (3, "dual", "resolve_pair"),  # both hooks of the stage at the same instant
    (2, "sleeper", "none"),
    (3, "lead", "none"),  # fan-out, join all / any / N
    (3, "any", "cancel"),  # any of the above, cancelled at a random moment
]


@dataclass
class Plan:
    """One task: what it runs and what its script does to it."""

    index: int
    agent: str
    action: str
    spec: dict[str, Any]
    delay_s: float
    key: str
    task_id: str = ""
    cancelled: bool = False  # the cancel was accepted (200)
    notes: list[str] = field(default_factory=list)


def make_plan(n: int, rng: random.Random, seed: int) -> list[Plan]:
    """``n`` tasks: first one of each kind (each join, a cancel of each agent), then a random
    mix weighted by :data:`KINDS`."""
    weights = [w for w, _, _ in KINDS]
    agents = ["payer", "dual", "sleeper", "lead"]
    first = [(a, k) for _, a, k in KINDS if a != "any"] + [("lead", "none")] * 2
    first += [(a, "cancel") for a in agents]
    plans = []
    joins = iter(["all", "any", "n"])
    for i in range(n):
        if i < len(first):
            agent, action = first[i]
        else:
            _, agent, action = rng.choices(KINDS, weights)[0]
        if agent == "any":
            agent = rng.choice(agents)
        join = next(joins, None) if agent == "lead" and action == "none" else None
        spec = _spec(agent, action, i, rng, join)
        plans.append(Plan(i, agent, action, spec, rng.uniform(0, 0.5), f"soak-{seed}-{i}"))
    return plans


def _spec(agent: str, action: str, i: int, rng: random.Random, join: str | None) -> dict[str, Any]:
    if agent == "payer":
        timeout = SHORT_HOOK_S if action == "expire" else LONG_HOOK_S
        return {"tool": "pay", "args": {"amount": i, "timeout_s": timeout}}
    if agent == "dual":
        return {"tool": "transfer", "args": {"amount": i}}
    if agent == "sleeper":
        return {"tool": "nap", "args": {"seconds": rng.choice([1, 2])}}
    topics = [f"{i}-{t}" for t in range(rng.choice([2, 3]))]
    join = join or rng.choice(["all", "any", "n"])
    if join == "n":
        join = str(len(topics) - 1)
    return {"tool": "fan_out", "args": {"topics": topics, "join": join}}


# --- HTTP --------------------------------------------------------------------------------------


class Http:
    """JSON over HTTP to the dev server, a new connection per call (any thread)."""

    def __init__(self, base_url: str) -> None:
        host, _, port = base_url.removeprefix("http://").rpartition(":")
        self.host, self.port = host, int(port)
        self.answers: Counter[int] = Counter()
        self._lock = threading.Lock()

    def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=HTTP_TIMEOUT_S)
        try:
            data = None if body is None else json.dumps(body)
            sent = {"Content-Type": "application/json", **(headers or {})}
            conn.request(method, path, body=data, headers=sent)
            answer = conn.getresponse()
            status, text = answer.status, answer.read()
        finally:
            conn.close()
        with self._lock:
            self.answers[status] += 1
        return status, json.loads(text)


# --- the run -----------------------------------------------------------------------------------


@dataclass
class SoakReport:
    """What a soak saw. :meth:`problems` is empty when nothing was lost or applied twice."""

    seed: int
    plans: list[Plan]
    statuses: dict[str, str]  # every task, children included -> its final status
    children: dict[str, list[str]]
    executions: dict[str, int]  # idempotency key -> times the tool body ran
    answers: Counter[int]
    events: Counter[str]  # what happened: resolves, idempotent replays, expiries, cancels, ...
    errors: list[str]
    elapsed_s: float

    @property
    def children_ids(self) -> list[str]:
        roots = {p.task_id for p in self.plans}
        return [t for t in self.statuses if t not in roots]

    @property
    def parked(self) -> list[str]:
        return [p.task_id for p in self.plans if p.action == "park" and not p.cancelled]

    @property
    def lost(self) -> list[str]:
        """Tasks neither terminal nor deliberately parked."""
        parked = set(self.parked)
        return sorted(t for t, s in self.statuses.items() if s not in TERMINAL and t not in parked)

    @property
    def applied_twice(self) -> dict[str, int]:
        return {k: n for k, n in self.executions.items() if n > 1}

    def problems(self) -> list[str]:
        found = list(self.errors)
        if self.lost:
            lost = {t: self.statuses[t] for t in self.lost[:10]}
            found.append(f"{len(self.lost)} tasks lost (not terminal): {lost}")
        if self.applied_twice:
            found.append(f"calls applied twice: {self.applied_twice}")
        for task_id in self.parked:
            if self.statuses.get(task_id) != "waiting_hook":
                found.append(f"parked task {task_id} is {self.statuses.get(task_id)}")
        failed = [t for t, s in self.statuses.items() if s == "failed"]
        if failed:
            found.append(f"{len(failed)} tasks failed: {failed[:5]}")
        if any(status >= 500 for status in self.answers):
            found.append(f"server errors: {dict(self.answers)}")
        return found


def run_soak(
    tasks: int,
    *,
    seed: int = 1,
    workers: int = 16,
    deadline_s: float = 120.0,
    cluster: bool = False,
    say: Callable[[str], None] | None = None,
) -> SoakReport:
    """Run the soak on a fresh dev server (see the module docstring); ``cluster`` runs its
    embedded Valkey as a one-node cluster (ElastiCache Serverless is always cluster mode)."""
    rng = random.Random(seed)
    plans = make_plan(tasks, rng, seed)
    EXECUTIONS.clear()
    lines: list[str] = []
    dev = DevServer(
        APP,
        port=0,
        settings=DevSettings(hook_secret=SECRET),
        stub_reply=stub_reply,
        say=say or lines.append,
        cluster=cluster,
    )
    with dev:
        return _Run(dev, plans, rng, seed, workers, deadline_s).run()


class _Run:
    def __init__(
        self,
        dev: DevServer,
        plans: list[Plan],
        rng: random.Random,
        seed: int,
        workers: int,
        deadline_s: float,
    ) -> None:
        self.http = Http(dev.base_url)
        self.plans = plans
        self.seed = seed
        self.workers = workers
        self.deadline = time.monotonic() + deadline_s
        self.events: Counter[str] = Counter()
        self.errors: list[str] = []
        self._lock = threading.Lock()
        # per-plan random choices, drawn up front so threads do not share the generator
        self.choices = {p.index: random.Random(rng.random()) for p in plans}

    def run(self) -> SoakReport:
        started = time.monotonic()
        with ThreadPoolExecutor(self.workers) as pool:
            for _ in pool.map(self._guard(self._create), self.plans):
                pass
            for _ in pool.map(self._guard(self._script), self.plans):
                pass
        statuses, children = self._settle()
        executions = dict(EXECUTIONS.by_key)
        return SoakReport(
            seed=self.seed,
            plans=self.plans,
            statuses=statuses,
            children=children,
            executions=executions,
            answers=self.http.answers,
            events=self.events,
            errors=self.errors,
            elapsed_s=time.monotonic() - started,
        )

    def _guard(self, step: Callable[[Plan], None]) -> Callable[[Plan], None]:
        def guarded(plan: Plan) -> None:
            try:
                step(plan)
            except Exception as exc:
                self._error(plan, f"{type(exc).__name__}: {exc}")

        return guarded

    def _error(self, plan: Plan, text: str) -> None:
        with self._lock:
            self.errors.append(f"task #{plan.index} ({plan.agent}/{plan.action}): {text}")

    def _count(self, what: str) -> None:
        with self._lock:
            self.events[what] += 1

    # -- create: each with its own key; a third of them sent twice (the same task comes back)

    def _create(self, plan: Plan) -> None:
        body = {"agent": plan.agent, "input": json.dumps(plan.spec), "owner_id": plan.key}
        headers = {"Idempotency-Key": plan.key}
        status, answer = self.http.call("POST", "/tasks", body, headers)
        if status != 201:
            raise AssertionError(f"create -> {status} {answer}")
        plan.task_id = answer["task_id"]
        if plan.index % 3 == 0:
            status, again = self.http.call("POST", "/tasks", body, headers)
            if (status, again.get("task_id")) != (201, plan.task_id):
                raise AssertionError(f"replayed create -> {status} {again}, not {plan.task_id}")
            self._count("create replayed")
        status, listed = self.http.call("GET", f"/tasks?owner_id={plan.key}")
        # the root, and the children its first turn may already have spawned (turns run
        # concurrently with this request): nothing of another tree
        listed_ids = [t["task_id"] for t in listed.get("tasks", [])]
        tree = [i for i in listed_ids if i == plan.task_id or i.startswith(plan.task_id + ".")]
        if plan.task_id not in listed_ids or tree != listed_ids:
            raise AssertionError(f"owner {plan.key} lists {listed}, not only {plan.task_id}'s tree")

    # -- the scripts

    def _script(self, plan: Plan) -> None:
        rng = self.choices[plan.index]
        time.sleep(plan.delay_s)
        if plan.action == "cancel":
            self._cancel(plan, rng)
        elif plan.action in ("resolve", "resolve_twice", "refuse"):
            (hook_id,) = self._hooks(plan, 1)
            time.sleep(rng.uniform(0, 0.3))
            approved = plan.action != "refuse"
            first = self._resolve(plan, hook_id, approved, key=f"{plan.key}-r")
            if first != "resolved":
                raise AssertionError(f"first resolve answered {first}")
            self._count("hooks resolved")
            if plan.action == "resolve_twice":
                time.sleep(rng.uniform(0, 0.2))
                same_key = rng.random() < 0.5
                second = self._resolve(
                    plan, hook_id, approved, key=f"{plan.key}-r" if same_key else None
                )
                expected = "idempotent" if same_key else "hook_already_resolved"
                if second not in (expected, "hook_not_found"):  # not found: its tree is gone
                    raise AssertionError(f"second resolve answered {second}, not {expected}")
                self._count(f"second resolve: {second}")
        elif plan.action == "resolve_pair":
            self._resolve_pair(plan)
        elif plan.action == "expire":  # nothing to do (it may have expired already)
            self._count("hooks left to expire")
        elif plan.action == "park":
            self._hooks(plan, 1)
            self._count("tasks left parked")

    def _hooks(self, plan: Plan, n: int) -> list[str]:
        """The task's pending hooks, once it has parked on ``n`` of them."""
        while True:
            status, task = self.http.call("GET", f"/tasks/{plan.task_id}")
            if status != 200 or task["task_id"] != plan.task_id:
                raise AssertionError(f"GET task -> {status} {task}")
            hooks = [h["hook_id"] for h in task["pending_hooks"] if h["status"] == "requested"]
            if task["status"] == "waiting_hook" and len(hooks) >= n:
                return hooks
            if task["status"] in TERMINAL:
                raise AssertionError(f"finished ({task['status']}) before parking")
            self._wait()

    def _resolve(self, plan: Plan, hook_id: str, approved: bool, key: str | None) -> str:
        """Resolve with the hook's own token; the answer's status or error code."""
        token = ids.hook_token(SECRET.encode(), hook_id, 1)
        headers = {"X-Hook-Token": token}
        if key is not None:
            headers["Idempotency-Key"] = key
        payload = {"approved": approved, "reviewer": f"r{plan.index}"}
        status, answer = self.http.call("POST", f"/hooks/{hook_id}/resolve", payload, headers)
        if status == 200:
            if (answer["hook_id"], answer["task_id"]) != (hook_id, plan.task_id):
                raise AssertionError(f"resolve of {hook_id} answered about {answer}")
            return str(answer["status"])
        return str(answer["error"]["code"])

    def _resolve_pair(self, plan: Plan) -> None:
        hooks = self._hooks(plan, 2)
        at_once = threading.Barrier(2)
        results: dict[str, str] = {}

        def resolve(hook_id: str) -> None:
            at_once.wait()
            results[hook_id] = self._resolve(plan, hook_id, True, key=None)

        threads = [threading.Thread(target=resolve, args=(h,)) for h in hooks]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if sorted(results.values()) != ["resolved", "resolved"]:
            raise AssertionError(f"two hooks of one stage resolved at once answered {results}")
        self._count("hook pairs resolved at once")

    def _cancel(self, plan: Plan, rng: random.Random) -> None:
        time.sleep(rng.uniform(0, 1.5))
        status, answer = self.http.call("POST", f"/tasks/{plan.task_id}/cancel")
        if status == 200:
            if answer["cancelled"][:1] != [plan.task_id]:
                raise AssertionError(f"cancel of {plan.task_id} answered {answer}")
            plan.cancelled = True
            self._count("cancelled")
        elif status == 409 and answer["error"]["code"] == "task_finished":
            self._count("cancel after the end")
        else:
            raise AssertionError(f"cancel -> {status} {answer}")

    # -- the end: every task (children included) settles, then the accounting

    def _settle(self) -> tuple[dict[str, str], dict[str, list[str]]]:
        statuses: dict[str, str] = {}
        children: dict[str, list[str]] = {}
        parked = {p.task_id for p in self.plans if p.action == "park"}
        pending = [p.task_id for p in self.plans if p.task_id]
        while pending:
            waiting = []
            for task_id in pending:
                status, task = self.http.call("GET", f"/tasks/{task_id}")
                if status != 200:
                    raise AssertionError(f"GET {task_id} -> {status} {task}")
                statuses[task_id] = task["status"]
                for child in task["children"]:
                    if child not in statuses and child not in pending and child not in waiting:
                        waiting.append(child)
                children[task_id] = list(task["children"])
                settled = task["status"] in TERMINAL or (
                    task_id in parked and task["status"] == "waiting_hook"
                )
                if not settled:
                    waiting.append(task_id)
            pending = waiting
            if pending and time.monotonic() > self.deadline:
                break  # reported as lost
            if pending:
                self._wait(0.2)
        self._check_outcomes(statuses, children)
        return statuses, children

    def _check_outcomes(self, statuses: dict[str, str], children: dict[str, list[str]]) -> None:
        """What each finished task's tools did, against what its script asked for."""
        for plan in self.plans:
            ran = EXECUTIONS.of(plan.task_id)
            status = statuses.get(plan.task_id)
            if plan.cancelled:
                if status != "cancelled":
                    self._error(plan, f"cancel accepted, task is {status}")
                for child in children.get(plan.task_id, []):
                    if statuses.get(child) not in TERMINAL:
                        self._error(plan, f"child {child} of a cancelled task is not finished")
                continue
            expected = {"expire": [], "park": []}.get(plan.action, [plan.spec["tool"]])
            if status in TERMINAL and ran != expected:
                self._error(plan, f"{status} with tool runs {ran}, expected {expected}")
            if plan.action == "expire" and status == "completed":
                self._count("hooks expired")
            if plan.agent == "lead":
                for child in children.get(plan.task_id, []):
                    done = EXECUTIONS.of(child)
                    if statuses.get(child) == "completed" and done != ["note"]:
                        self._error(plan, f"child {child} ran {done}")
                    join = plan.spec["args"]["join"]
                    self._count(f"children (join {'N' if join.isdigit() else join})")

    def _wait(self, seconds: float = POLL_S) -> None:
        if time.monotonic() > self.deadline:
            raise TimeoutError("the soak's deadline passed")
        time.sleep(seconds)


def summary(report: SoakReport) -> Iterator[tuple[str, str]]:
    """``(figure, value)`` lines describing a run (the lost and the doubled: :meth:`problems`)."""
    statuses = Counter(report.statuses.values())
    yield "tasks (roots + children)", f"{len(report.plans)} + {len(report.children_ids)}"
    for status, n in sorted(statuses.items()):
        yield f"  {status}", str(n)
    for what, n in sorted(report.events.items()):
        yield what, str(n)
    yield "tool executions", str(sum(report.executions.values()))
    yield "HTTP answers", ", ".join(f"{s}: {n}" for s, n in sorted(report.answers.items()))
    yield "elapsed", f"{report.elapsed_s:.1f} s"


@contextlib.contextmanager
def cpu_burners(n: int) -> Iterator[None]:
    """``n`` busy-loop processes for the duration (stopped by their own pids)."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait(timeout=30)
