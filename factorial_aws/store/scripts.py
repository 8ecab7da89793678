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
        self, name: str, keys: Sequence[str], args: Sequence[Arg], index: Sequence[IndexWrite]
    ) -> list[Any]:
        """Write global index entries, then run a transition, in one pipelined round trip.

        The index entries go first, so a crash leaves a stale entry (the sweep drops it), never a
        missing one. They live in other slots, which is why they cannot be inside the script.
        """
        if not index:
            return self.call(name, keys, args)
        script = self._scripts[name]
        pipe = self._client.pipeline(transaction=False)
        for entry in index:
            pipe.zadd(entry.key, {entry.member: entry.score}, nx=entry.keep_first)
        options: dict[str, Any] = {}
        if isinstance(self._client, RedisCluster):
            # Name the node: otherwise redis-py's cluster pipeline asks the server for the
            # script's keys (COMMAND GETKEYS) first, one more round trip per transition.
            options["target_nodes"] = self._client.get_node_from_key(keys[0])  # type: ignore[no-untyped-call]
        pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args, **options)
        try:
            results = pipe.execute(raise_on_error=False)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise StoreUnavailableError(f"{name}: {exc}") from exc
        for r in results[:-1]:
            if isinstance(r, Exception):
                raise StoreUnavailableError(f"index write before {name}: {r}")
        last = results[-1]
        if isinstance(last, NoScriptError):  # the server forgot it: the Script object reloads
            return self.call(name, keys, args)
        if isinstance(last, ResponseError):
            raise StateCorruptedError(f"{name}: {last}")
        if isinstance(last, Exception):
            raise StoreUnavailableError(f"{name}: {last}")
        return list(decode(last))
