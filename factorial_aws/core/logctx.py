"""Log context: the task, turn and tool call a line of log belongs to.

The runtime binds these fields while it works on a task or runs a tool call; the AWS adapter's log
filter (``factorial_aws.aws.observability``) puts them on every log line. A ``ContextVar``, so the
fields follow a sync tool into the thread ``asyncio.to_thread`` runs it on, and stay apart between
concurrent tool calls.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

_fields: ContextVar[dict[str, Any] | None] = ContextVar("factorial_log_fields", default=None)


@contextlib.contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Add ``fields`` (task_id, turn, tool_call_id, ...) to the log context inside the block."""
    token = _fields.set({**(_fields.get() or {}), **fields})
    try:
        yield
    finally:
        _fields.reset(token)


def current() -> dict[str, Any]:
    """The fields bound here (a copy)."""
    return dict(_fields.get() or {})
