"""``@tool``: turn a typed function into a tool the model can call.

The signature is compiled once, at decoration: the JSON schema of the model-visible arguments, the
pydantic model that validates them, the hook plan and the injected context parameter. A signature
the framework cannot serve raises a :class:`~factorial_aws.errors.DefinitionError` naming the tool
and the parameter, at import time.
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass, field
from typing import Any, overload

from factorial_aws.agents import results, schema
from factorial_aws.agents.context import ToolContext
from factorial_aws.agents.hook_plan import HookPlan, compile_hook_plan
from factorial_aws.agents.results import ToolResult
from factorial_aws.core.records import ToolDefinition
from factorial_aws.errors import ToolDefinitionError

if typing.TYPE_CHECKING:
    from collections.abc import Callable

    from pydantic import BaseModel

DEFAULT_TIMEOUT_S = 60.0


@dataclass(frozen=True, eq=False)
class Tool:
    """A compiled tool. Calling it calls the underlying function unchanged."""

    name: str
    description: str
    func: Callable[..., Any]
    is_async: bool
    args_model: type[BaseModel]
    parameters: dict[str, Any]
    strict: bool
    hook_plan: HookPlan
    context_param: str | None
    timeout_s: float
    enabled: Callable[[ToolContext], bool] | None = None
    tool_params: tuple[str, ...] = field(default=())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    def definition(self) -> ToolDefinition:
        """The tool as the model sees it."""
        return ToolDefinition(
            name=self.name,
            description=self.description,
            parameters=self.parameters,
            strict=self.strict,
        )

    def parse_arguments(self, raw: str) -> dict[str, Any]:
        """Validate the model's JSON arguments into Python values keyed by parameter name.

        Raises:
            InvalidToolArgumentsError: malformed JSON or values that do not validate.
        """
        return schema.validate_arguments(self.args_model, raw, strict=self.strict)


def _context_param(func: Callable[..., Any], name: str) -> str | None:
    hints = typing.get_type_hints(func, include_extras=False)
    found = [p for p, hint in hints.items() if p != "return" and hint is ToolContext]
    if len(found) > 1:
        raise ToolDefinitionError(f"tool {name!r}: more than one ToolContext parameter: {found}")
    return found[0] if found else None


def _build(
    func: Callable[..., Any],
    *,
    name: str | None,
    description: str | None,
    strict: bool,
    timeout_s: float,
    enabled: Callable[[ToolContext], bool] | None,
) -> Tool:
    if not callable(func):
        raise ToolDefinitionError(f"@tool needs a function, got {func!r}")
    tool_name = name or func.__name__
    if timeout_s <= 0:
        raise ToolDefinitionError(f"tool {tool_name!r}: timeout_s must be positive")
    plan = compile_hook_plan(func, tool_name=tool_name)
    ctx_param = _context_param(func, tool_name)
    excluded = set(plan.params) | ({ctx_param} if ctx_param else set())
    args_model = schema.build_args_model(func, tool_name, exclude=excluded)
    desc = description if description is not None else inspect.getdoc(func) or ""
    return Tool(
        name=tool_name,
        description=desc.strip(),
        func=func,
        is_async=inspect.iscoroutinefunction(func),
        args_model=args_model,
        parameters=schema.parameters_schema(args_model, strict=strict),
        strict=strict,
        hook_plan=plan,
        context_param=ctx_param,
        timeout_s=timeout_s,
        enabled=enabled,
        tool_params=tuple(args_model.model_fields),
    )


class _ToolDecorator:
    """``@tool`` / ``@tool(name=..., ...)`` plus the result builders ``tool.ok/fail/error``."""

    @overload
    def __call__(self, func: Callable[..., Any], /) -> Tool: ...

    @overload
    def __call__(
        self,
        func: None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        strict: bool = False,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        enabled: Callable[[ToolContext], bool] | None = None,
    ) -> Callable[[Callable[..., Any]], Tool]: ...

    def __call__(
        self,
        func: Callable[..., Any] | None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        strict: bool = False,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        enabled: Callable[[ToolContext], bool] | None = None,
    ) -> Tool | Callable[[Callable[..., Any]], Tool]:
        """Decorate a function as a tool.

        Args:
            func: the function (when used bare, ``@tool``).
            name: the tool name the model sees (default: the function name).
            description: default: the docstring.
            strict: emit an OpenAI strict-mode schema (every property required, optional ones
                nullable, no additional properties).
            timeout_s: the call is abandoned (a tool error) after this many seconds.
            enabled: a predicate; when it returns False the tool is not offered for that task.
        """
        opts: dict[str, Any] = {
            "name": name,
            "description": description,
            "strict": strict,
            "timeout_s": timeout_s,
            "enabled": enabled,
        }
        if func is not None:
            return _build(func, **opts)
        return lambda f: _build(f, **opts)

    @staticmethod
    def ok(value: Any = None) -> ToolResult:
        """A successful result; ``value`` is normalized like a plain return."""
        return results.normalize_value(value)

    @staticmethod
    def fail(message: str) -> ToolResult:
        """An expected failure the model should see and may recover from."""
        return ToolResult(status="fail", content=message, value={"error": message})

    @staticmethod
    def error(exc_or_message: BaseException | str) -> ToolResult:
        """An unexpected error (the model sees a short description, never a traceback)."""
        return results.error_result(exc_or_message)


tool = _ToolDecorator()
