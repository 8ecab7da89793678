"""What the CLI prints: readable lines and tables, JSON for ``--json``, errors on stderr, and a
live status line on a terminal only."""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

_SPINNER = "|/-\\"
_MAX_VALUE_CHARS = 240


@dataclass
class Console:
    """Where output goes. ``status`` lines (the spinner) appear only when ``err`` is a TTY.
    Safe to call from several threads (the dev server prints from its workers)."""

    out: IO[str] = field(default_factory=lambda: sys.stdout)
    err: IO[str] = field(default_factory=lambda: sys.stderr)
    live: bool | None = None

    def __post_init__(self) -> None:
        if self.live is None:
            self.live = _isatty(self.err)
        self._status_width = 0
        self._frame = 0
        self._lock = threading.RLock()

    def line(self, text: str = "") -> None:
        """One line of output (stdout)."""
        with self._lock:
            self.clear_status()
            self.out.write(text + "\n")
            self.out.flush()

    def note(self, text: str) -> None:
        """A remark for the person at the terminal (stderr, so stdout stays parseable)."""
        with self._lock:
            self.clear_status()
            self.err.write(text + "\n")
            self.err.flush()

    def json(self, value: Any, *, compact: bool = False) -> None:
        """``value`` as JSON on stdout (one line when ``compact``)."""
        text = json.dumps(value, separators=(",", ":")) if compact else json.dumps(value, indent=2)
        self.line(text)

    def error(self, code: str, message: str) -> None:
        """``error: <code>: <message>`` on stderr."""
        self.note(f"error: {code}: {message}")

    def status(self, text: str) -> None:
        """Replace the live status line (a spinner and ``text``); nothing when not a TTY."""
        if not self.live:
            return
        frame = _SPINNER[self._frame % len(_SPINNER)]
        self._frame += 1
        shown = f"{frame} {text}"
        pad = max(0, self._status_width - len(shown))
        self.err.write("\r" + shown + " " * pad)
        self.err.flush()
        self._status_width = len(shown)

    def clear_status(self) -> None:
        """Erase the live status line, if one is shown."""
        if self._status_width:
            self.err.write("\r" + " " * self._status_width + "\r")
            self.err.flush()
            self._status_width = 0


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """Left-aligned columns, the last one not padded."""
    all_rows = [list(headers), *[list(r) for r in rows]]
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(headers) - 1)]
    return [
        "  ".join([*(c.ljust(w) for c, w in zip(r, widths, strict=False)), r[-1]]).rstrip()
        for r in all_rows
    ]


def fields(pairs: Sequence[tuple[str, str]]) -> list[str]:
    """``name  value`` lines with the names aligned."""
    width = max((len(k) for k, _ in pairs), default=0)
    return [f"{k.ljust(width)}  {v}" for k, v in pairs]


def short_value(value: Any, limit: int = _MAX_VALUE_CHARS) -> str:
    """A value on one line: text as is, anything else as compact JSON, cut at ``limit``."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def long_value(value: Any) -> str:
    """A value in full: text as is, anything else as indented JSON."""
    return value if isinstance(value, str) else json.dumps(value, indent=2)


def clock_time(at: str | None) -> str:
    """``HH:MM:SS.mmm`` of an ISO timestamp of the API (its own time, UTC)."""
    if not at:
        return "--:--:--.---"
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        return at
    return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def when(at: str | None) -> str:
    """An ISO timestamp of the API, shortened to the second, or ``-``."""
    if not at:
        return "-"
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        return at
    return moment.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if moment.utcoffset() is not None else "")


def describe_event(event: Mapping[str, Any]) -> str:  # noqa: C901 - one branch per kind
    """One readable line for a task event (``GET /tasks/{id}/events``)."""
    kind = str(event.get("kind", "?"))
    data: Mapping[str, Any] = event.get("data") or {}
    if kind == "created":
        return f"created (agent {data.get('agent', '?')})"
    if kind == "model_replied":
        calls = int(data.get("tool_calls") or 0)
        asked = f"asked for {calls} tool call{'s' if calls != 1 else ''}" if calls else "replied"
        return f"turn {data.get('turn', '?')}: the model {asked}"
    if kind == "tool_result":
        status = data.get("status", "?")
        return f"tool {data.get('tool', '?')} -> {status}: {short_value(data.get('value'))}"
    if kind == "hook_requested":
        return f"hook requested: {data.get('hook_id')} {data.get('title', '')!r}"
    if kind.startswith("hook_") and kind != "hook_token_rotated":
        seen = f" (given to the tool's {data['param']!r} parameter)" if "param" in data else ""
        return f"hook {kind.removeprefix('hook_')}: {data.get('hook_id')}{seen}"
    if kind == "hook_token_rotated":
        kept = "" if data.get("previous_revoked", True) else ", previous token still valid"
        return f"hook token rotated: {data.get('hook_id')} (version {data.get('version')}{kept})"
    if kind == "wait_registered":
        return f"waiting: {data.get('wait_kind', '?')} (wait {data.get('wait_id')})"
    if kind == "wait_ended":
        return f"wait ended: {data.get('wait_kind', '?')} (wait {data.get('wait_id')})"
    if kind in ("woke", "children_joined"):
        return f"{kind.replace('_', ' ')} (wait {data.get('wait_id')})"
    if kind == "retry":
        return (
            f"model call failed ({data.get('code')}); retry {data.get('attempt')} "
            f"in {data.get('delay_s')}s"
        )
    if kind == "failed":
        return f"failed: {data.get('code')}: {data.get('message')}"
    if kind == "cancelled":
        return f"cancelled ({data.get('reason', 'by request')})"
    if kind == "steered":
        return f"steering message queued ({data.get('bytes', '?')} bytes)"
    if kind == "verifier_rejected":
        return f"verifier rejected the output: {data.get('reason')}"
    extra = " ".join(f"{k}={short_value(v, 80)}" for k, v in data.items())
    return f"{kind} {extra}".rstrip()


def event_line(event: Mapping[str, Any]) -> str:
    """A timestamped event line."""
    return f"{clock_time(event.get('at'))}  {describe_event(event)}"
