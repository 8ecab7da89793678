"""What the transition wrappers called from outside a turn share (wake_task.py, steer_task.py,
reclaim_lapsed_lease.py, cancel_task.py, expire_tree.py: one module per script, named as it is).

One script call each (docs/store.md, and each ``lua/<name>.lua`` header for KEYS/ARGV). A script
that must touch a whole subtree or tree (``cancel_task``, ``expire_tree``) is given every key up
front: the wrapper reads the subtree first, and the script returns ``retry`` without writing when
it changed meanwhile; the wrapper then reads again (at most ``ATTEMPTS`` times). ``not_found``
raises :class:`TaskNotFoundError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from factorial_aws.core import ids
from factorial_aws.core.status import TERMINAL, WAITING
from factorial_aws.errors import StoreUnavailableError, TaskNotFoundError
from factorial_aws.store.scripts import decode

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from factorial_aws.store.base import StoreContext
    from factorial_aws.store.scripts import Arg, IndexWrite

#: How many times a wrapper reads a subtree or tree again when it changed under the script.
ATTEMPTS = 5
#: Statuses in which a task needs no dispatch entry.
PARKED_OR_ENDED = WAITING | TERMINAL


def check_task_id(task_id: str) -> None:
    """Raises :class:`TaskNotFoundError` for a string that cannot be a task id."""
    if not ids.is_valid_id(task_id):
        raise TaskNotFoundError(f"no task {task_id!r}")


def call(
    sc: StoreContext,
    name: str,
    task_id: str,
    ks: list[str],
    args: list[Arg],
    index: Sequence[IndexWrite] = (),
) -> list[Any]:
    """Run the script ``name`` (now_ms first in ARGV) with ``index`` in the same round trip."""
    res = sc.scripts.call_indexed(name, ks, [sc.now_arg(), *args], index)
    if res[0] == "not_found":
        raise TaskNotFoundError(f"no task {task_id!r}")
    return res


def text(value: Any) -> Any:
    """A reply (or a set of replies) decoded to str."""
    if isinstance(value, set):
        return {decode(v) for v in value}
    return decode(value)


def read(sc: StoreContext, build: Callable[[Any], object]) -> list[Any]:
    """One pipelined round trip of reads (one slot: a tree's keys); replies decoded to str."""
    pipe = sc.client.pipeline(transaction=False)
    build(pipe)
    try:
        return [text(r) for r in pipe.execute()]
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise StoreUnavailableError(f"read: {exc}") from exc
