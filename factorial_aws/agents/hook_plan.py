"""Compile a tool's hook parameters into a staged plan, once, when ``@tool`` decorates.

Finds the parameters annotated ``Annotated[H, hook.requires(builder)]`` or ``hook.awaits``, resolves
every request-builder parameter (``HookRequestContext``, a tool argument or another hook's payload)
and orders the hooks in stages (Kahn layering, signature order inside a stage). Hints are read with
``get_type_hints(include_extras=True)``, so ``from __future__ import annotations`` works. Anything
unservable raises a ``HookCompilationError`` subclass naming the tool and the parameter.

Choices:

- ``optional`` is True only for an ``awaits`` hook typed ``H | None``. ``requires`` accepts
  ``H | None`` too, but it is a gate (expiry ends the call), so its ``optional`` stays False.
- A builder parameter that refers to another hook may be annotated ``H``, ``H | None``, any base
  class of ``H`` (``Hook`` included) or ``Any``; a tool-argument reference is only rejected when
  both sides are plain, clearly unrelated classes (``int`` vs ``str``).
- A builder return annotation may be ``PendingHook[H]`` (bare ``PendingHook`` and
  ``PendingHook[Any]`` are accepted); a sync builder may also declare ``Awaitable[PendingHook[H]]``
  or ``Coroutine[Any, Any, PendingHook[H]]`` (the runtime awaits what it returns).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
import typing
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

from factorial_aws.agents.context import ToolContext
from factorial_aws.agents.hooks import Hook, HookMarker, HookRequestContext, PendingHook
from factorial_aws.core.records import HookMode
from factorial_aws.errors import (
    HookCompilationError,
    HookDependencyCycleError,
    HookDependencyResolutionError,
    HookTypeMismatchError,
)

_UNIONS: tuple[Any, ...] = (Union, types.UnionType)
_NUMERIC_PROMOTIONS = {(int, float), (int, complex), (float, complex)}
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


@dataclass(frozen=True)
class BuilderArg:
    """Where one builder parameter's value comes from.

    ``source`` is ``"ctx"`` (the HookRequestContext), ``"tool_arg"`` (a tool argument named ``ref``)
    or ``"hook"`` (the resolved payload of the hook parameter named ``ref``: a dependency edge).
    """

    name: str
    source: Literal["ctx", "tool_arg", "hook"]
    ref: str | None = None


@dataclass(frozen=True)
class HookNode:
    """One hook parameter of a tool."""

    param: str
    hook_type: type[Hook]
    mode: HookMode
    optional: bool
    builder: Callable[..., Any]
    builder_is_async: bool
    builder_args: tuple[BuilderArg, ...]
    depends_on: tuple[str, ...]


@dataclass(frozen=True)
class HookPlan:
    """The staged hook plan of a tool: stage N is requested when stage N-1 is resolved."""

    tool_name: str
    nodes: Mapping[str, HookNode]
    stages: tuple[tuple[str, ...], ...]

    @property
    def params(self) -> frozenset[str]:
        """Names of the tool parameters fed by hooks."""
        return frozenset(self.nodes)

    def __bool__(self) -> bool:
        return bool(self.nodes)


def compile_hook_plan(func: Callable[..., Any], *, tool_name: str | None = None) -> HookPlan:
    """Compile the hook parameters of a tool function into a staged :class:`HookPlan`.

    Args:
        func: the tool function (sync or async).
        tool_name: the tool name used in error messages and the plan (default: ``func.__name__``).

    Returns:
        The plan; ``HookPlan(tool_name, nodes={}, stages=())`` when the tool has no hook parameter.

    Raises:
        HookTypeMismatchError: a hook parameter that is not a ``Hook`` subclass, or a builder
            parameter/return annotation that contradicts the hook it refers to.
        HookDependencyResolutionError: a builder parameter nothing can provide.
        HookDependencyCycleError: builders that depend on each other (or on their own hook).
        HookCompilationError: any other unservable declaration (several markers, ``*args``...).
    """
    name = tool_name or str(getattr(func, "__name__", repr(func)))
    hints = _type_hints(func, f"tool {name!r}")
    hook_params: dict[str, HookNode] = {}
    tool_args: dict[str, Any] = {}
    for param in _signature(func, f"tool {name!r}").parameters.values():
        hint = hints.get(param.name)
        where = f"tool {name!r}, parameter {param.name!r}"
        found = _hook_param(param, hint, where)
        if found is not None:
            hook_params[param.name] = found
        elif param.kind not in _VARIADIC and _strip_annotated(hint) is not ToolContext:
            tool_args[param.name] = hint
    nodes = {p: _compile_node(h, hook_params, tool_args, name) for p, h in hook_params.items()}
    stages = _stages(nodes, name)
    return HookPlan(tool_name=name, nodes=types.MappingProxyType(nodes), stages=stages)


def _hook_param(param: inspect.Parameter, hint: Any, where: str) -> HookNode | None:
    """The hook declared on a tool parameter (builder not resolved yet), or None."""
    metadata = get_args(hint)[1:] if get_origin(hint) is Annotated else ()
    markers = [m for m in metadata if isinstance(m, HookMarker)]
    if not markers:
        if _contains_marker(hint):
            raise HookCompilationError(
                f"{where}: the hook marker must be the outermost Annotated metadata; "
                "write Annotated[H | None, hook.awaits(builder)]"
            )
        return None
    if len(markers) > 1:
        raise HookCompilationError(f"{where}: more than one hook marker on one parameter")
    if param.kind in _VARIADIC:
        raise HookCompilationError(f"{where}: *args/**kwargs cannot be hook parameters")
    marker = markers[0]
    if not callable(marker.builder):
        raise HookCompilationError(f"{where}: the hook builder {marker.builder!r} is not callable")
    inner, is_optional = _split_optional(get_args(hint)[0])
    if not (isinstance(inner, type) and issubclass(inner, Hook)):
        raise HookTypeMismatchError(
            f"{where}: a hook parameter must be annotated with a Hook subclass "
            f"(or H | None for hook.awaits), got {_type_name(get_args(hint)[0])}"
        )
    optional = is_optional and marker.mode is HookMode.AWAITS
    return HookNode(param.name, inner, marker.mode, optional, marker.builder, False, (), ())


def _compile_node(
    hp: HookNode, hooks: Mapping[str, HookNode], tool_args: Mapping[str, Any], tool: str
) -> HookNode:
    """Resolve one hook's builder: its injected arguments, dependencies and return type."""
    where = f"tool {tool!r}, parameter {hp.param!r}: builder {_callable_name(hp.builder)}()"
    hints = _builder_hints(hp.builder, where)
    is_async = inspect.iscoroutinefunction(hp.builder) or inspect.iscoroutinefunction(
        getattr(hp.builder, "__call__", None)  # noqa: B004 - async callable objects
    )
    if "return" in hints:
        _check_return(hints["return"], hp.hook_type, is_async=is_async, where=where)
    args: list[BuilderArg] = []
    for bp in _signature(hp.builder, where).parameters.values():
        arg = _resolve_arg(bp, hints.get(bp.name), hp, hooks, tool_args, where)
        if arg is None:
            continue
        if bp.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise HookCompilationError(
                f"{where} parameter {bp.name!r} is injected by name and cannot be positional-only"
            )
        args.append(arg)
    deps = tuple(dict.fromkeys(a.ref for a in args if a.source == "hook" and a.ref))
    return dataclasses.replace(
        hp, builder_is_async=is_async, builder_args=tuple(args), depends_on=deps
    )


def _resolve_arg(
    bp: inspect.Parameter,
    hint: Any,
    hp: HookNode,
    hooks: Mapping[str, HookNode],
    tool_args: Mapping[str, Any],
    where: str,
) -> BuilderArg | None:
    """Where one builder parameter's value comes from (None: not injected, its default applies)."""
    at = f"{where} parameter {bp.name!r}"
    if bp.kind in _VARIADIC:
        raise HookCompilationError(f"{at}: builders cannot take *args/**kwargs")
    if _strip_annotated(hint) is HookRequestContext:
        return BuilderArg(bp.name, "ctx")
    if bp.name == hp.param:
        raise HookDependencyCycleError(f"{at}: a builder cannot depend on its own hook")
    if bp.name in hooks:
        target = hooks[bp.name].hook_type
        if hint is not None and not _accepts_hook(hint, target):
            raise HookTypeMismatchError(
                f"{at} is annotated {_type_name(hint)} but hook {bp.name!r} "
                f"resolves to {target.__name__}"
            )
        return BuilderArg(bp.name, "hook", bp.name)
    if bp.name in tool_args:
        if not _compatible(tool_args[bp.name], hint):
            raise HookTypeMismatchError(
                f"{at} is annotated {_type_name(hint)} but tool argument {bp.name!r} "
                f"is {_type_name(tool_args[bp.name])}"
            )
        return BuilderArg(bp.name, "tool_arg", bp.name)
    if bp.default is not inspect.Parameter.empty:
        return None
    raise HookDependencyResolutionError(f"{at}: {_unresolved_hint(hint, hooks)}")


def _unresolved_hint(hint: Any, hooks: Mapping[str, HookNode]) -> str:
    """Explain why a builder parameter cannot be provided."""
    base, _ = _split_optional(hint)
    by_type = [p for p, h in hooks.items() if isinstance(base, type) and h.hook_type is base]
    if by_type:
        return (
            f"is not a tool argument or hook parameter; reference hooks by parameter name "
            f"({by_type[0]!r}), not by type"
        )
    options = "annotate a parameter HookRequestContext, or name a tool argument or hook parameter"
    return f"nothing provides it ({options}, or give it a default)"


def _check_return(ret: Any, hook_type: type[Hook], *, is_async: bool, where: str) -> None:
    """Reject a builder return annotation that is not ``PendingHook[hook_type]``."""
    declared = ret = _strip_annotated(ret)
    if not is_async and get_origin(ret) in (Awaitable, Coroutine):
        ret = get_args(ret)[-1] if get_args(ret) else Any
    if ret is Any or ret is PendingHook:
        return
    if get_origin(ret) is PendingHook and get_args(ret)[0] in (hook_type, Any):
        return
    raise HookTypeMismatchError(
        f"{where} returns {_type_name(declared)}; expected PendingHook[{hook_type.__name__}]"
    )


def _stages(nodes: Mapping[str, HookNode], tool: str) -> tuple[tuple[str, ...], ...]:
    """Kahn layering: each stage holds the hooks whose dependencies are all in earlier stages."""
    remaining = dict.fromkeys(nodes)
    placed: set[str] = set()
    stages: list[tuple[str, ...]] = []
    while remaining:
        stage = tuple(p for p in remaining if placed.issuperset(nodes[p].depends_on))
        if not stage:
            raise _cycle_error(nodes, remaining, tool)
        stages.append(stage)
        placed.update(stage)
        for p in stage:
            del remaining[p]
    return tuple(stages)


def _cycle_error(
    nodes: Mapping[str, HookNode], remaining: Mapping[str, None], tool: str
) -> HookDependencyCycleError:
    """Describe one cycle among the hooks Kahn could not place (each has an unplaced dependency)."""
    path: list[str] = []
    index: dict[str, int] = {}
    current = next(iter(remaining))
    while current not in index:
        index[current] = len(path)
        path.append(current)
        current = next(d for d in nodes[current].depends_on if d in remaining)
    cycle = path[index[current] :]
    order = list(nodes)
    first = min(range(len(cycle)), key=lambda i: order.index(cycle[i]))
    cycle = cycle[first:] + cycle[:first]
    chain = " -> ".join([*cycle, cycle[0]])
    return HookDependencyCycleError(
        f"tool {tool!r}, parameter {cycle[0]!r}: hook builders depend on each other in a cycle "
        f"({chain}; each builder needs the next hook's payload)"
    )


def _signature(obj: Callable[..., Any], where: str) -> inspect.Signature:
    try:
        return inspect.signature(obj)
    except (TypeError, ValueError) as exc:
        raise HookCompilationError(f"{where}: cannot read the signature: {exc}") from exc


def _type_hints(obj: Any, where: str) -> dict[str, Any]:
    try:
        return typing.get_type_hints(obj, include_extras=True)
    except (NameError, AttributeError, SyntaxError) as exc:
        raise HookCompilationError(f"{where}: cannot resolve the type hints: {exc}") from exc


def _builder_hints(builder: Callable[..., Any], where: str) -> dict[str, Any]:
    """Type hints of a builder (a function, method, partial or callable object)."""
    target: Any = builder
    while isinstance(target, functools.partial):
        target = target.func
    if not (inspect.isfunction(target) or inspect.ismethod(target)):
        target = getattr(target, "__call__", target)  # noqa: B004 - callable objects
    try:
        return _type_hints(target, where)
    except TypeError:
        return {}


def _callable_name(obj: Any) -> str:
    return str(getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or repr(obj))


def _strip_annotated(tp: Any) -> Any:
    return get_args(tp)[0] if get_origin(tp) is Annotated else tp


def _split_optional(tp: Any) -> tuple[Any, bool]:
    """``(X, True)`` for ``X | None`` (Annotated layers removed), else ``(tp, False)``."""
    tp = _strip_annotated(tp)
    if get_origin(tp) in _UNIONS:
        members = [a for a in get_args(tp) if a is not type(None)]
        if len(members) == 1 and len(members) < len(get_args(tp)):
            return _strip_annotated(members[0]), True
    return tp, False


def _contains_marker(tp: Any) -> bool:
    return any(isinstance(a, HookMarker) or _contains_marker(a) for a in get_args(tp))


def _accepts_hook(hint: Any, hook_type: type[Hook]) -> bool:
    """Whether a builder parameter annotated ``hint`` can receive a ``hook_type`` payload."""
    hint = _strip_annotated(hint)
    if get_origin(hint) in _UNIONS:
        return any(_accepts_hook(member, hook_type) for member in get_args(hint))
    if hint is Any or isinstance(hint, TypeVar):
        return True
    return isinstance(hint, type) and issubclass(hook_type, hint)


def _plain_class(tp: Any) -> type | None:
    """The class behind a simple annotation (``int``, ``list[str]``, ``X | None``), else None."""
    tp, _ = _split_optional(tp)
    origin = get_origin(tp) or tp
    if origin is Any or origin in _UNIONS or not isinstance(origin, type):
        return None
    return origin


def _compatible(tool_hint: Any, builder_hint: Any) -> bool:
    """False only when a tool argument and a builder parameter are clearly unrelated classes."""
    tool_cls, builder_cls = _plain_class(tool_hint), _plain_class(builder_hint)
    if tool_cls is None or builder_cls is None or (tool_cls, builder_cls) in _NUMERIC_PROMOTIONS:
        return True
    try:
        return issubclass(tool_cls, builder_cls) or issubclass(builder_cls, tool_cls)
    except TypeError:  # e.g. a non-runtime Protocol: be lenient
        return True


def _type_name(tp: Any) -> str:
    if isinstance(tp, type) and not get_args(tp):
        return tp.__name__
    return repr(tp).replace("typing.", "").replace("collections.abc.", "")
