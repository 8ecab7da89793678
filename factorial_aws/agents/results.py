"""``ToolResult``: the canonical result of one tool call, and the normalization into it.

The model sees ``content`` (a string); the client (events, task API) sees ``value`` (JSON), which
keeps fields marked ``Hidden`` that ``content`` leaves out.

Normalization of a plain return value (:func:`normalize_value`):

- ``str``: content and value are the string.
- ``None``: content ``"null"`` (the JSON of the value, never an empty tool message), value ``None``.
- models, dataclasses, dicts, lists/tuples/sets, numbers, booleans: value is the JSON-compatible
  data (``model_dump(mode="json")`` for models; values JSON cannot hold fall back to ``str``);
  content is compact JSON of the same data without ``Hidden`` fields, at every depth.
- anything else: ``str(value)`` for both.
"""

from __future__ import annotations

import dataclasses
import json
import types
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict
from pydantic_core import to_jsonable_python

from factorial_aws.agents.waits import ChildrenWait, CronWait, SleepWait, WaitInstruction
from factorial_aws.errors import FactorialError

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo

_MAX_ERROR_CHARS = 2000


class ToolResult(BaseModel):
    """The result of one tool call.

    ``status`` is ``ok`` (success), ``fail`` (an expected failure the model may recover from) or
    ``error`` (an unexpected error: an exception, a timeout, bad arguments).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    status: Literal["ok", "fail", "error"]
    content: str
    value: Any = None

    @property
    def is_ok(self) -> bool:
        """Whether the call succeeded."""
        return self.status == "ok"


class Hidden:
    """Marks a field of a returned pydantic model that the client sees but the model does not.

    Use ``Annotated[str, Hidden]`` (or ``Annotated[str, Hidden()]``). It applies at every depth:
    in nested models, and in lists, tuples and dict values holding models.
    """


def _marks_hidden(meta: object) -> bool:
    return meta is Hidden or isinstance(meta, Hidden)


def _annotation_hidden(annotation: Any) -> bool:
    """``Annotated[X, Hidden]`` itself, or as a member of ``X | None`` / a Union."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return any(_marks_hidden(m) for m in get_args(annotation)[1:])
    if origin in (Union, types.UnionType):
        return any(_annotation_hidden(a) for a in get_args(annotation))
    return False


def _field_hidden(field: FieldInfo) -> bool:
    return any(_marks_hidden(m) for m in field.metadata) or _annotation_hidden(field.annotation)


def _exclude_spec(obj: Any) -> Any:
    """A pydantic ``exclude`` spec removing every Hidden field reachable from ``obj``, or None."""
    spec: dict[Any, Any] = {}
    if isinstance(obj, BaseModel):
        for name, field in type(obj).model_fields.items():
            sub = True if _field_hidden(field) else _exclude_spec(getattr(obj, name, None))
            if sub:
                spec[name] = sub
    elif isinstance(obj, list | tuple):
        spec = {i: sub for i, item in enumerate(obj) if (sub := _exclude_spec(item))}
    elif isinstance(obj, dict):
        spec = {key: sub for key, item in obj.items() if (sub := _exclude_spec(item))}
    return spec or None


def _jsonable(obj: Any, *, hide: bool) -> Any:
    """JSON-compatible data for ``obj``; with ``hide``, Hidden fields are left out."""
    if isinstance(obj, BaseModel):
        exclude = _exclude_spec(obj) if hide else None
        return obj.model_dump(mode="json", exclude=exclude, fallback=str)
    if isinstance(obj, dict):
        return {
            k if isinstance(k, str) else str(k): _jsonable(v, hide=hide) for k, v in obj.items()
        }
    if isinstance(obj, list | tuple | set | frozenset):
        return [_jsonable(item, hide=hide) for item in obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name), hide=hide) for f in dataclasses.fields(obj)}
    return to_jsonable_python(obj, fallback=str)


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)


def normalize_value(value: Any) -> ToolResult:
    """Normalize a plain return value into an ``ok`` result (see the module docstring).

    Args:
        value: what the tool returned (or what it passed to ``tool.ok``).

    Returns:
        A ``ToolResult`` with ``status="ok"``.
    """
    if isinstance(value, str):
        text = str(value)
        return ToolResult(status="ok", content=text, value=text)
    if value is None:
        return ToolResult(status="ok", content="null", value=None)
    structured = isinstance(value, BaseModel | dict | list | tuple | set | frozenset | int | float)
    if structured or (dataclasses.is_dataclass(value) and not isinstance(value, type)):
        data = _jsonable(value, hide=False)
        return ToolResult(status="ok", content=_dumps(_jsonable(value, hide=True)), value=data)
    text = str(value)
    return ToolResult(status="ok", content=text, value=text)


def normalize_return(value: Any) -> ToolResult | WaitInstruction:
    """Normalize what a tool body returned.

    Args:
        value: the return value.

    Returns:
        A ``ToolResult`` unchanged, a wait instruction unchanged (the runtime parks on it), or
        :func:`normalize_value` of anything else.
    """
    if isinstance(value, ToolResult | SleepWait | CronWait | ChildrenWait):
        return value
    return normalize_value(value)


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 3] + "..."


def error_result(exc_or_message: BaseException | str) -> ToolResult:
    """An ``error`` result for an unexpected failure; never includes a traceback.

    Args:
        exc_or_message: an exception, or a message.

    Returns:
        Content ``"error: <code or type>: <message>"`` (``"error: <message>"`` for a string);
        value ``{"error": {"code" | "type": ..., "message": ...}}``.
    """
    if isinstance(exc_or_message, FactorialError):
        key, kind, message = "code", exc_or_message.code, exc_or_message.message
    elif isinstance(exc_or_message, BaseException):
        key, kind, message = "type", type(exc_or_message).__name__, str(exc_or_message)
    else:
        message = str(exc_or_message)
        return ToolResult(
            status="error",
            content=f"error: {_clip(message)}",
            value={"error": {"code": "tool_error", "message": message}},
        )
    content = f"error: {kind}: {_clip(message)}" if message else f"error: {kind}"
    return ToolResult(
        status="error", content=content, value={"error": {key: kind, "message": message}}
    )


def timeout_result(tool_name: str, seconds: float) -> ToolResult:
    """The ``error`` result of a tool call abandoned after its timeout.

    Args:
        tool_name: the tool's name.
        seconds: the timeout that was exceeded.

    Returns:
        A ``ToolResult`` whose content says the tool timed out after ``seconds`` s.
    """
    message = f"tool {tool_name!r} timed out after {seconds:g} s"
    return ToolResult(
        status="error",
        content=f"error: {message}",
        value={"error": {"code": "tool_timeout", "message": message}},
    )
