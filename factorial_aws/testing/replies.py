"""Scripted model replies shared by :class:`~factorial_aws.testing.ScriptedModel` (in process) and
:class:`~factorial_aws.testing.StubOpenAIServer` (over HTTP).

A reply is one small frozen dataclass: :class:`TextReply`, :class:`ToolCallsReply` or
:class:`ErrorReply` (HTTP stub only). Tool calls are written as :class:`ToolCallSpec` values, built
with :func:`call` (keyword arguments, JSON-encoded) or :func:`raw_call` (raw argument text, e.g.
malformed JSON, and an optional explicit id). A spec without an id gets one when it is served, from
a :class:`CallIdSequence` owned by the server or the scripted model: ``call_1``, ``call_2``...,
unique over that owner's life.

Imports only the standard library and :mod:`factorial_aws.core.records`; never ``openai``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import string
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from factorial_aws.core.records import ToolCall, Usage

if TYPE_CHECKING:
    from collections.abc import Mapping

#: Upper bound of a scripted delay, so that a test can never hang on a stub.
MAX_DELAY_S = 5.0

_DEFAULT_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "conflict_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def _check_delay(delay_s: float) -> None:
    if not 0.0 <= delay_s <= MAX_DELAY_S:
        raise ValueError(f"delay_s must be within [0, {MAX_DELAY_S}], got {delay_s}")


@dataclass(frozen=True)
class ToolCallSpec:
    """One tool call the scripted model will request.

    Attributes:
        name: The tool name.
        arguments: The raw arguments text, sent as-is (it need not be valid JSON).
        call_id: An explicit tool call id, or ``None`` to have one generated when served.
    """

    name: str
    arguments: str
    call_id: str | None = None


@dataclass(frozen=True)
class TextReply:
    """A final assistant text answer (``finish_reason`` ``"stop"``).

    Attributes:
        content: The assistant text.
        usage: Token counts to report; ``None`` lets the server estimate them (the scripted model
            then reports zeros).
        delay_s: Seconds the HTTP stub waits before answering (at most :data:`MAX_DELAY_S`).
    """

    content: str
    usage: Usage | None = None
    delay_s: float = 0.0

    def __post_init__(self) -> None:
        _check_delay(self.delay_s)


@dataclass(frozen=True)
class ToolCallsReply:
    """An assistant message requesting tool calls (``finish_reason`` ``"tool_calls"``).

    Attributes:
        calls: The requested calls, in order.
        content: Optional assistant text sent along with the calls.
        usage: As for :class:`TextReply`.
        delay_s: As for :class:`TextReply`.
    """

    calls: tuple[ToolCallSpec, ...]
    content: str | None = None
    usage: Usage | None = None
    delay_s: float = 0.0

    def __post_init__(self) -> None:
        _check_delay(self.delay_s)
        if not self.calls:
            raise ValueError("a ToolCallsReply needs at least one call")


@dataclass(frozen=True)
class ErrorReply:
    """An HTTP error answer of the stub server: ``{"error": {"message", "type", "code"}}``.

    Attributes:
        status: The HTTP status code (400-599).
        message: The provider's error message.
        type: The error type; ``None`` picks the usual OpenAI type for ``status``.
        code: The error code, or ``None``.
        delay_s: As for :class:`TextReply`.
    """

    status: int
    message: str = "stub error"
    type: str | None = None
    code: str | None = None
    delay_s: float = 0.0

    def __post_init__(self) -> None:
        _check_delay(self.delay_s)
        if not 400 <= self.status <= 599:
            raise ValueError(f"an error reply needs a 4xx or 5xx status, got {self.status}")

    def body(self) -> dict[str, Any]:
        """The JSON error body the stub answers with."""
        default_type = _DEFAULT_ERROR_TYPES.get(self.status, "server_error")
        return {
            "error": {
                "message": self.message,
                "type": self.type or default_type,
                "code": self.code,
                "param": None,
            }
        }


#: Anything :class:`~factorial_aws.testing.StubOpenAIServer` can be scripted with.
StubReply: TypeAlias = TextReply | ToolCallsReply | ErrorReply


def call(name: str, /, **arguments: Any) -> ToolCallSpec:
    """A tool call with JSON-encoded keyword ``arguments`` and a generated id.

    Args:
        name: The tool name.
        **arguments: The call's arguments (JSON-serialisable).

    Returns:
        The spec; its id is generated when it is served.
    """
    return ToolCallSpec(name=name, arguments=json.dumps(arguments))


def raw_call(
    name: str, arguments: str | Mapping[str, Any], *, call_id: str | None = None
) -> ToolCallSpec:
    """A tool call with raw argument text (sent as-is, even if not JSON) or a mapping to encode.

    Args:
        name: The tool name.
        arguments: The raw arguments text, or a mapping that is JSON-encoded.
        call_id: An explicit id, or ``None`` to have one generated when served.

    Returns:
        The spec.
    """
    text = arguments if isinstance(arguments, str) else json.dumps(dict(arguments))
    return ToolCallSpec(name=name, arguments=text, call_id=call_id)


def text_reply(content: str, *, usage: Usage | None = None, delay_s: float = 0.0) -> TextReply:
    """A final text answer. See :class:`TextReply`."""
    return TextReply(content=content, usage=usage, delay_s=delay_s)


def tool_calls_reply(
    *calls: ToolCallSpec,
    content: str | None = None,
    usage: Usage | None = None,
    delay_s: float = 0.0,
) -> ToolCallsReply:
    """A reply requesting ``calls``. See :class:`ToolCallsReply`."""
    return ToolCallsReply(calls=calls, content=content, usage=usage, delay_s=delay_s)


def error_reply(
    status: int,
    message: str = "stub error",
    *,
    type: str | None = None,
    code: str | None = None,
    delay_s: float = 0.0,
) -> ErrorReply:
    """An HTTP error answer of the stub server. See :class:`ErrorReply`."""
    return ErrorReply(status=status, message=message, type=type, code=code, delay_s=delay_s)


_ALNUM = string.ascii_letters + string.digits


class CallIdSequence:
    """Generates ``call_1``, ``call_2``... for specs without an id (thread-safe); with
    ``alphanumeric=True``, distinct 9-character ids of letters and digits instead, as some
    providers issue (deterministic: derived from the counter)."""

    def __init__(self, *, alphanumeric: bool = False) -> None:
        self._counter = itertools.count(1)
        self._lock = threading.Lock()
        self._alphanumeric = alphanumeric

    def next_id(self) -> str:
        """The next unused id."""
        with self._lock:
            n = next(self._counter)
        if not self._alphanumeric:
            return f"call_{n}"
        digest = hashlib.sha256(f"stub-call-{n}".encode()).digest()
        head = "".join(_ALNUM[b % len(_ALNUM)] for b in digest[:4])
        tail = ""
        for _ in range(5):  # the counter in base 62: distinct ids
            n, digit = divmod(n, len(_ALNUM))
            tail += _ALNUM[digit]
        return head + tail

    def resolve(self, spec: ToolCallSpec | ToolCall) -> ToolCall:
        """The :class:`ToolCall` record of ``spec``, generating its id if it has none."""
        if isinstance(spec, ToolCall):
            return spec
        call_id = spec.call_id if spec.call_id is not None else self.next_id()
        return ToolCall(id=call_id, name=spec.name, arguments=spec.arguments)
