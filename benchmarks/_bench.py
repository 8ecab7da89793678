"""What the benchmarks share: an embedded server, a round-trip counter, a PING baseline, a table.

Not a benchmark itself (the leading underscore keeps it out of the list in benchmarks/README.md).
The scripts import it as ``_bench`` (they run as ``python benchmarks/<name>.py``, so this directory
is on ``sys.path``).
"""

from __future__ import annotations

import contextlib
import statistics
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import redis
from redis.connection import AbstractConnection

from factorial_aws import Agent, App, Hook, HookRequestContext, PendingHook, hook, tool
from factorial_aws.core import ids
from factorial_aws.core.clock import SystemClock
from factorial_aws.local.stack import LocalStack
from factorial_aws.store.base import StoreSettings
from factorial_aws.testing import ScriptedModel
from factorial_aws.testing.valkey import HOST, EmbeddedValkey

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from factorial_aws.llm.base import ModelRequest, ModelResponse

SECRET = b"benchmark-secret"
PAYLOAD_APPROVED = {"approved": True, "reviewer": "ana"}
BASE_URL = "http://127.0.0.1:9"

# --- round trips ----------------------------------------------------------------------------------


@dataclass
class Tally:
    """What the client sent while counting.

    ``trips``: packed sends, each answered before the caller goes on (a pipeline is one);
    ``commands``: commands in them; ``server``: commands the server ran, counting those a Lua
    script ran (``INFO commandstats`` delta), filled in only when an admin connection is given.
    """

    trips: int = 0
    commands: int = 0
    server: int = 0
    sent: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        """Accumulate another tally into this one."""
        self.trips += other.trips
        self.commands += other.commands
        self.server += other.server
        self.sent += other.sent


class _Wire:
    """Class-level wrappers on redis-py's connection: every client of the process is counted."""

    current: Tally | None = None
    installed = False

    @classmethod
    def install(cls) -> None:
        if cls.installed:
            return
        send_packed = AbstractConnection.send_packed_command
        send_command = AbstractConnection.send_command
        pack_commands = AbstractConnection.pack_commands

        def counted_send_packed(self: Any, command: Any, check_health: bool = True) -> Any:
            if cls.current is not None:
                cls.current.trips += 1
            return send_packed(self, command, check_health)

        def counted_send_command(self: Any, *args: Any, **kwargs: Any) -> Any:
            if cls.current is not None:
                cls.current.commands += 1
                cls.current.sent.append(_name(args))
            return send_command(self, *args, **kwargs)

        def counted_pack_commands(self: Any, commands: Any) -> Any:
            commands = list(commands)
            if cls.current is not None:
                cls.current.commands += len(commands)
                cls.current.sent.append("[" + " ".join(_name(c) for c in commands) + "]")
            return pack_commands(self, commands)

        AbstractConnection.send_packed_command = counted_send_packed
        AbstractConnection.send_command = counted_send_command
        AbstractConnection.pack_commands = counted_pack_commands
        cls.installed = True


def _name(args: Any) -> str:
    first = args[0] if args else "?"
    text = first.decode() if isinstance(first, bytes) else str(first)
    if text.upper() in ("COMMAND", "SCRIPT", "CLIENT", "CLUSTER") and len(args) > 1:
        text = f"{text} {args[1]}"
    return text.upper()


def _server_calls(admin: redis.Redis) -> int:
    stats: dict[str, dict[str, Any]] = admin.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")


@contextlib.contextmanager
def counting(admin: redis.Redis | None = None) -> Iterator[Tally]:
    """Count round trips and commands of everything the block sends (not nested)."""
    _Wire.install()
    tally = Tally()
    before = _server_calls(admin) if admin is not None else 0
    _Wire.current = tally
    try:
        yield tally
    finally:
        _Wire.current = None
        if admin is not None:
            tally.server = _server_calls(admin) - before


# --- the server -----------------------------------------------------------------------------------


@contextlib.contextmanager
def server(*, cluster: bool) -> Iterator[tuple[EmbeddedValkey, Any, redis.Redis]]:
    """An embedded Valkey, a client of the matching kind and a plain admin connection."""
    with EmbeddedValkey(cluster=cluster) as valkey:
        client = valkey.client()
        admin = redis.Redis(host=HOST, port=valkey.port)
        try:
            yield valkey, client, admin
        finally:
            client.close()
            admin.close()


def ping_times(client: Any, n: int) -> list[float]:
    """``n`` PING round trips, each timed (seconds)."""
    out = []
    for _ in range(n):
        start = time.perf_counter()
        client.ping()
        out.append(time.perf_counter() - start)
    return out


def pct(values: list[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def median(values: list[float]) -> float:
    """The median."""
    return statistics.median(values)


# --- the table ------------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of a result table; ``ok`` None means there is no target (information only)."""

    figure: str
    value: str
    target: str = ""
    ok: bool | None = None
    status: str = ""

    def verdict(self) -> str:
        if self.status:
            return self.status
        if self.ok is None:
            return "info"
        return "ok" if self.ok else "over"


HEADER = f"{'figure':<58} {'value':>16} {'target':>12}  status"


def print_table(title: str, rows: list[Row]) -> None:
    """Print a titled table: figure, value, target, ok/over/info."""
    print()
    print(title)
    print(HEADER)
    print("-" * len(HEADER))
    for r in rows:
        print(f"{r.figure:<58} {r.value:>16} {r.target:>12}  {r.verdict()}")


# --- the agents the benchmarks run ----------------------------------------------------------------


class Approval(Hook):
    """A manager's decision."""

    approved: bool
    reviewer: str


class TimedModel:
    """A model client whose call times go to ``add`` (a model's time is not the framework's)."""

    def __init__(self, inner: Any, add: Callable[[float], None]) -> None:
        self.inner = inner
        self.add = add

    async def complete(self, request: ModelRequest) -> ModelResponse:
        t0 = time.perf_counter()
        try:
            response: ModelResponse = await self.inner.complete(request)
            return response
        finally:
            self.add(time.perf_counter() - t0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def ask_manager(ctx: HookRequestContext, amount: int) -> PendingHook[Approval]:
    return Approval.pending(ctx=ctx, title=f"Approve a payment of {amount}", timeout_s=3600)


@tool
def pay(amount: int, approval: Annotated[Approval, hook.requires(ask_manager)]) -> str:
    """Pay once a manager approves."""
    return f"paid {amount}" if approval.approved else f"refused by {approval.reviewer}"


@tool
def lookup(key: str) -> str:
    """A plain tool (no hook): answers at once."""
    return f"value of {key}"


call = ScriptedModel.call


class RuleModel:
    """A model whose reply is a function of the request (as in tests/integration/conftest.py)."""

    def __init__(self, rule: Callable[[ModelRequest], Any]) -> None:
        self.rule = rule

    async def complete(self, request: ModelRequest) -> ModelResponse:
        return await ScriptedModel(self.rule(request)).complete(request)


def tool_messages(req: ModelRequest) -> int:
    return sum(1 for m in req.messages if m.role == "tool")


def pay_rule(req: ModelRequest) -> Any:
    """Ask for one hook-gated payment, then answer with its result."""
    if req.messages[-1].role == "tool":
        return f"done: {req.messages[-1].content}"
    return [call("pay", amount=42)]


def lookup_rule(turns: int) -> Callable[[ModelRequest], Any]:
    """Call the plain tool ``turns - 1`` times (continuing turns), then answer."""

    def rule(req: ModelRequest) -> Any:
        n = tool_messages(req)
        return [call("lookup", key=f"k{n}")] if n < turns - 1 else "done"

    return rule


APP = App(
    agents=[
        Agent(name="pay", instructions="Pay what you are asked to pay.", model="m", tools=[pay]),
        Agent(name="look", instructions="Look things up.", model="m", tools=[lookup]),
    ]
)


def make_stack(
    client: Any,
    rule: Callable[[ModelRequest], Any],
    app: App = APP,
    settings: StoreSettings | None = None,
    wrap: Callable[[RuleModel], Any] | None = None,
) -> LocalStack:
    """A LocalStack on ``client`` with the real clock (scripts read the server's TIME), whose
    model is ``RuleModel(rule)``, wrapped by ``wrap`` when given."""
    model = RuleModel(rule)
    return LocalStack(
        app=app,
        client=client,
        model=wrap(model) if wrap else model,
        clock=SystemClock(),
        hook_secret=SECRET,
        public_base_url=BASE_URL,
        settings=settings or StoreSettings(),
    )


def token_for(hook_id: str) -> str:
    """The hook's capability token (version 1), as the builder's link carries it."""
    return ids.hook_token(SECRET, hook_id, 1)
