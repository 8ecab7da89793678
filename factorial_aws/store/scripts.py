"""Load the Lua transitions once and call them: the only place that talks EVALSHA.

Each ``lua/<name>.lua`` file (not starting with ``_``) is one transition; ``lua/_lib.lua`` is
prepended to each. Scripts are registered as redis-py ``Script`` objects, which reload themselves
on ``NOSCRIPT`` (after a failover or a restart the server may have forgotten them). Replies are
decoded from bytes to str recursively; a script's ``error_reply`` (a broken invariant) becomes
:class:`~factorial_aws.errors.StateCorruptedError`, a connection failure
:class:`~factorial_aws.errors.StoreUnavailableError`.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING, Any, NamedTuple

from redis.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from factorial_aws.errors import StateCorruptedError, StoreUnavailableError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from redis.commands.core import Script

    from factorial_aws.store.client import RedisClient

Arg = str | int | float | bytes


class IndexWrite(NamedTuple):
    """One global index entry written in front of a transition. ``keep_first``: ZADD NX (a
    replay must not move an entry whose score is its creation time)."""

    key: str
    score: float
    member: str
    keep_first: bool = False


#: ``IndexMove.expected`` for "any lease entry" (a running task's entry; its score ends in .5).
ANY_LEASE = "lease"


class IndexMove(NamedTuple):
    """Re-score (``new``) or remove (``new=None``) a global index member only if its score is
    still ``expected`` (a number, or :data:`ANY_LEASE`): ``move_index_entry.lua``, pipelined in
    front of a transition like an :class:`IndexWrite`."""

    key: str
    member: str
    expected: float | str
    new: float | None = None


class IndexDrop(NamedTuple):
    """Remove a global index member (ZREM), pipelined in front of a transition: an entry the
    transition makes useless (a hook expiry or a wake the turn consumed)."""

    key: str
    member: str


IndexOp = IndexWrite | IndexMove | IndexDrop


def _lua_dir() -> Any:
    return resources.files("factorial_aws.store") / "lua"


def script_names() -> list[str]:
    """The transitions, one per ``.lua`` file."""
    return sorted(
        p.name.removesuffix(".lua")
        for p in _lua_dir().iterdir()
        if p.name.endswith(".lua") and not p.name.startswith("_")
    )


def script_source(name: str) -> str:
    """The full source of a transition: the shared library, then the script."""
    lua = _lua_dir()
    lib: str = (lua / "_lib.lua").read_text()
    body: str = (lua / f"{name}.lua").read_text()
    return lib + "\n" + body


def decode(value: Any) -> Any:
    """Bytes to str, recursively through lists."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


class Scripts:
    """The registered transitions of one client."""

    def __init__(self, client: RedisClient) -> None:
        self._client = client
        self._scripts: dict[str, Script] = {
            name: client.register_script(script_source(name)) for name in script_names()
        }

    def call(self, name: str, keys: Sequence[str], args: Sequence[Arg]) -> list[Any]:
        """Run one transition (one round trip)."""
        try:
            return list(decode(self._scripts[name](keys=list(keys), args=list(args))))
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise StoreUnavailableError(f"{name}: {exc}") from exc
        except ResponseError as exc:
            raise StateCorruptedError(f"{name}: {exc}") from exc

    def call_indexed(
        self, name: str, keys: Sequence[str], args: Sequence[Arg], index: Sequence[IndexOp]
    ) -> list[Any]:
        """Write global index entries, then run a transition, in one pipelined round trip.

        The index entries go first, so a crash leaves a stale entry, never a missing one. They
        live in other slots, which is why they cannot be inside the script.
        """
        if not index:
            return self.call(name, keys, args)
        pipe = self._client.pipeline(transaction=False)
        for op in index:
            if isinstance(op, IndexMove):
                self._evalsha(pipe, "move_index_entry", [op.key], _move_args(op))
            elif isinstance(op, IndexDrop):
                pipe.zrem(op.key, op.member)
            else:
                pipe.zadd(op.key, {op.member: op.score}, nx=op.keep_first)
        self._evalsha(pipe, name, keys, args)
        try:
            results = pipe.execute(raise_on_error=False)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise StoreUnavailableError(f"{name}: {exc}") from exc
        *before, last = results
        redo = _to_redo(name, index, before)
        if isinstance(last, NoScriptError):  # the server forgot it: the Script object reloads
            last = self._call_raw(name, keys, args)
        for op in redo:  # an index script the server forgot: after the transition, on its own
            self.move(op)
        if isinstance(last, ResponseError):
            raise StateCorruptedError(f"{name}: {last}")
        if isinstance(last, Exception):
            raise StoreUnavailableError(f"{name}: {last}")
        return list(decode(last))

    def call_many(
        self, name: str, calls: Sequence[tuple[Sequence[str], Sequence[Arg]]]
    ) -> list[list[Any]]:
        """Run one transition on many trees in one pipelined round trip (per cluster node);
        each reply as :meth:`call` would give it."""
        if not calls:
            return []
        pipe = self._client.pipeline(transaction=False)
        for keys, args in calls:
            self._evalsha(pipe, name, keys, args)
        try:
            results = pipe.execute(raise_on_error=False)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise StoreUnavailableError(f"{name}: {exc}") from exc
        out: list[list[Any]] = []
        for (keys, args), r in zip(calls, results, strict=True):
            if isinstance(r, NoScriptError):  # the server forgot it: the Script object reloads
                out.append(self.call(name, keys, args))
            elif isinstance(r, ResponseError):
                raise StateCorruptedError(f"{name}: {r}")
            elif isinstance(r, Exception):
                raise StoreUnavailableError(f"{name}: {r}")
            else:
                out.append(list(decode(r)))
        return out

    def move(self, op: IndexMove) -> str:
        """Apply one :class:`IndexMove` on its own (one round trip); its outcome."""
        return str(self.call("move_index_entry", [op.key], _move_args(op))[0])

    def _call_raw(self, name: str, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        try:
            return self._scripts[name](keys=list(keys), args=list(args))
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise StoreUnavailableError(f"{name}: {exc}") from exc
        except ResponseError as exc:
            return exc

    def _evalsha(self, pipe: Any, name: str, keys: Sequence[str], args: Sequence[Arg]) -> None:
        options: dict[str, Any] = {}
        if isinstance(self._client, RedisCluster):
            # Name the node: otherwise redis-py's cluster pipeline asks the server for the
            # script's keys (COMMAND GETKEYS) first, one more round trip per transition.
            options["target_nodes"] = self._client.get_node_from_key(keys[0])  # type: ignore[no-untyped-call]
        sha = self._scripts[name].sha
        pipe.execute_command("EVALSHA", sha, len(keys), *keys, *args, **options)


def _to_redo(name: str, index: Sequence[IndexOp], results: Sequence[Any]) -> list[IndexMove]:
    """The index moves to apply again on their own (their script was not loaded); any other
    failed index op raises."""
    redo: list[IndexMove] = []
    for op, r in zip(index, results, strict=True):
        if isinstance(r, NoScriptError) and isinstance(op, IndexMove):
            redo.append(op)
        elif isinstance(r, Exception):
            raise StoreUnavailableError(f"index write before {name}: {r}")
    return redo


def _move_args(op: IndexMove) -> list[Arg]:
    new = "" if op.new is None else _score(op.new)
    expected = op.expected if isinstance(op.expected, str) else _score(op.expected)
    return ["", op.member, expected, new]


def _score(value: float) -> str:
    """A score as the exact text Lua reads back (integers without an exponent, .5 kept)."""
    return str(int(value)) if value == int(value) else repr(float(value))
