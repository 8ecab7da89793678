"""Tool arguments: the pydantic model, the JSON schema the model sees, and validation of its JSON.

Responsibility: turn a tool signature into an argument model (one field per model-visible
parameter, extra keys forbidden), render that model as the ``parameters`` JSON schema of the
OpenAI chat completions API (optionally in strict mode), and validate the model's argument text
into Python values keyed by parameter name.

Choices:

- ``Annotated[X, "text"]``: plain string metadata is the parameter's description.
- Nested models stay in ``$defs`` and are referenced with ``$ref`` in both modes. In strict mode a
  ``$ref`` that carries sibling keys (a description) is inlined, as the OpenAI SDK does.
- Strict mode closes every object, lists every property in ``required``, makes optional or
  defaulted properties nullable and drops ``default``; a ``null`` sent for a defaulted field (at
  any depth) then means "use the default". ``oneOf`` becomes ``anyOf``. A free-form ``dict`` cannot
  be expressed in strict mode and is a definition error.
"""

from __future__ import annotations

import inspect
import json
import re
import types
import typing
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

import pydantic
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from factorial_aws.errors import InvalidInputError, ToolDefinitionError


class InvalidToolArgumentsError(InvalidInputError):
    """The model's tool arguments are not valid JSON, not an object, or do not validate."""

    code = "invalid_tool_arguments"


_ARGS_CONFIG = ConfigDict(extra="forbid")
_SHADOW_WARNING = r'Field name ".*" in ".*" shadows an attribute in parent "BaseModel"'
_BUILD_ERRORS = (pydantic.PydanticUserError, NameError, TypeError, ValueError)
_NULL: dict[str, Any] = {"type": "null"}
_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_ONE = ("items", "additionalProperties", "not", "contains", "propertyNames")
_MAX_PROBLEMS = 10

# --- the argument model ----------------------------------------------------------------------


def build_args_model(
    func: Callable[..., Any], tool_name: str, exclude: set[str] | frozenset[str]
) -> type[BaseModel]:
    """Build the pydantic model of a tool's model-visible arguments.

    Args:
        func: the tool function.
        tool_name: the tool name, used in error messages and as the model name.
        exclude: parameters the model never sees (hook parameters, the ToolContext parameter).

    Returns:
        A model with one field per remaining parameter, in signature order, extra keys forbidden.

    Raises:
        ToolDefinitionError: ``*args``/``**kwargs``, a positional-only or reserved parameter name,
            a missing annotation, or a type pydantic cannot validate or render as JSON schema.
    """
    hints = _type_hints(func, tool_name)
    fields: dict[str, Any] = {}
    for name, param in inspect.signature(func).parameters.items():
        where = f"tool {tool_name!r}: parameter {name!r}"
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolDefinitionError(f"{where}: *args/**kwargs are not supported")
        if name in exclude:
            continue
        if param.kind is param.POSITIONAL_ONLY:
            raise ToolDefinitionError(f"{where} is positional-only; tools are called by keyword")
        if name.startswith("_") or (name.startswith("model_") and hasattr(BaseModel, name)):
            raise ToolDefinitionError(f"{where}: the name is reserved by pydantic; rename it")
        if name not in hints:
            raise ToolDefinitionError(f"{where} has no type annotation")
        annotation = _with_description(hints[name])
        try:
            TypeAdapter(annotation).json_schema()
        except _BUILD_ERRORS as exc:
            raise ToolDefinitionError(f"{where}: unsupported type {hints[name]!r}: {exc}") from exc
        default = ... if param.default is param.empty else param.default
        fields[name] = (annotation, default)
    try:
        with warnings.catch_warnings():
            # ``json``, ``schema``, ``copy``... shadow deprecated BaseModel methods: harmless here.
            warnings.filterwarnings("ignore", message=_SHADOW_WARNING, category=UserWarning)
            return pydantic.create_model(tool_name, __config__=_ARGS_CONFIG, **fields)
    except _BUILD_ERRORS as exc:
        raise ToolDefinitionError(f"tool {tool_name!r}: cannot build the arguments: {exc}") from exc


def _type_hints(func: Callable[..., Any], tool_name: str) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func, include_extras=True)
    except NameError as exc:
        word = rf"\b{re.escape(getattr(exc, 'name', None) or chr(0))}\b"
        raw = getattr(func, "__annotations__", {})
        names = [p for p, ann in raw.items() if isinstance(ann, str) and re.search(word, ann)]
        where = f": parameter {names[0]!r}" if names else ""
        raise ToolDefinitionError(
            f"tool {tool_name!r}{where}: cannot resolve the type annotation: {exc}"
        ) from exc
    except (AttributeError, SyntaxError, TypeError) as exc:
        raise ToolDefinitionError(f"tool {tool_name!r}: cannot read annotations: {exc}") from exc


def _with_description(hint: Any) -> Any:
    """``Annotated[X, "text", ...]`` -> ``Annotated[X, Field(description="text"), ...]``."""
    if get_origin(hint) is not Annotated:
        return hint
    base, *meta = get_args(hint)
    texts = [m for m in meta if isinstance(m, str)]
    if not texts:
        return hint
    others = [m for m in meta if not isinstance(m, str)]
    # A later Field(description=...) overrides the string, as pydantic merges left to right.
    return Annotated.__class_getitem__((base, Field(description=" ".join(texts)), *others))


# --- the JSON schema -------------------------------------------------------------------------


def parameters_schema(args_model: type[BaseModel], *, strict: bool) -> dict[str, Any]:
    """The ``parameters`` JSON schema of a tool, as the OpenAI chat completions API wants it.

    Args:
        args_model: the model from :func:`build_args_model`.
        strict: emit an OpenAI strict-mode schema (see the module docstring).

    Returns:
        ``{"type": "object", "properties", "required", "additionalProperties": false}`` plus
        ``$defs`` when nested models or enums are used; no ``title`` keys.

    Raises:
        ToolDefinitionError: the schema cannot be generated, or strict mode cannot express it.
    """
    tool_name = args_model.__name__
    try:
        raw = _drop_titles(args_model.model_json_schema())
    except _BUILD_ERRORS as exc:
        raise ToolDefinitionError(f"tool {tool_name!r}: cannot build the schema: {exc}") from exc
    top: dict[str, Any] = {
        "type": "object",
        "properties": raw.get("properties", {}),
        "required": raw.get("required", []),
        "additionalProperties": False,
    }
    if raw.get("$defs"):
        top["$defs"] = raw["$defs"]
    if strict:
        result: dict[str, Any] = _Strict(tool_name, raw.get("$defs", {})).node(top, ())
        return result
    return top


def _map_children(node: dict[str, Any], fn: Callable[[Any, str], Any]) -> dict[str, Any]:
    """Apply ``fn(subschema, label)`` to the direct subschemas of ``node`` (never to data)."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: fn(sub, name) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [fn(sub, "") for sub in value]
        elif key in _SCHEMA_ONE and isinstance(value, dict):
            out[key] = fn(value, "[]" if key == "items" else "")
        else:
            out[key] = value
    return out


def _drop_titles(node: Any, _label: str = "") -> Any:
    if not isinstance(node, dict):
        return node
    return _map_children({k: v for k, v in node.items() if k != "title"}, _drop_titles)


def _is_nullable(node: Any) -> bool:
    if not isinstance(node, dict):
        return node is True
    kind = node.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    if None in node.get("enum", ()) or ("const" in node and node["const"] is None):
        return True
    return any(_is_nullable(sub) for sub in node.get("anyOf", ()))


def _nullable(node: dict[str, Any]) -> dict[str, Any]:
    if _is_nullable(node):
        return node
    if isinstance(node.get("anyOf"), list):
        return {**node, "anyOf": [*node["anyOf"], _NULL]}
    inner = {k: v for k, v in node.items() if k != "description"}
    outer = {k: v for k, v in node.items() if k == "description"}
    return {"anyOf": [inner, _NULL], **outer}


class _Strict:
    """Rewrite a schema for OpenAI strict mode (pure: returns new dicts)."""

    def __init__(self, tool_name: str, defs: Mapping[str, Any]) -> None:
        self.tool_name = tool_name
        self.defs = defs
        self.inlining: set[str] = set()

    def node(self, node: Any, path: tuple[str, ...]) -> Any:
        if not isinstance(node, dict):
            return node
        node = {k: v for k, v in node.items() if k not in ("default", "discriminator")}
        if "oneOf" in node:
            node["anyOf"] = node.pop("oneOf")
        ref = node.get("$ref")
        if isinstance(ref, str) and len(node) > 1:
            if ref in self.inlining:  # a recursive model: keep the bare reference
                return {"$ref": ref}
            self.inlining.add(ref)
            merged = {**self.defs[ref.rsplit("/", 1)[-1]], **node}
            del merged["$ref"]
            try:
                return self.node(merged, path)
            finally:
                self.inlining.discard(ref)
        node = _map_children(node, lambda sub, label: self.node(sub, (*path, label)))
        if "properties" in node or node.get("type") == "object":
            node = self._close(node, path)
        return node

    def _close(self, node: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
        props = node.get("properties")
        if not isinstance(props, dict):
            where = ".".join(p for p in path if p) or "(arguments)"
            raise ToolDefinitionError(
                f"tool {self.tool_name!r}: strict mode cannot express a free-form object (dict) "
                f"at {where!r}; use a pydantic model or strict=False"
            )
        required = set(node.get("required", ()))
        node["properties"] = {
            name: sub if name in required else _nullable(sub) for name, sub in props.items()
        }
        node["required"] = list(props)
        node["additionalProperties"] = False
        return node


# --- validation ------------------------------------------------------------------------------


def validate_arguments(args_model: type[BaseModel], raw: str, *, strict: bool) -> dict[str, Any]:
    """Parse and validate the model's JSON argument text.

    Args:
        args_model: the model from :func:`build_args_model`.
        raw: the ``arguments`` string of the tool call; empty means no arguments.
        strict: the tool uses a strict schema, so ``null`` for a defaulted field means the default.

    Returns:
        Python values (nested models as instances, enums as members) keyed by parameter name.

    Raises:
        InvalidToolArgumentsError: malformed JSON, not an object, or values that do not validate.
    """
    text = raw.strip()
    try:
        data = json.loads(text) if text else {}
    except json.JSONDecodeError as exc:
        raise InvalidToolArgumentsError(
            f"arguments are not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    if not isinstance(data, dict):
        raise InvalidToolArgumentsError(
            f"arguments must be a JSON object, got {type(data).__name__}: {_short(data)}"
        )
    if strict:
        data = _drop_default_nulls(args_model, data)
    try:
        model = args_model.model_validate(data)
    except ValidationError as exc:
        raise InvalidToolArgumentsError(_describe(exc)) from exc
    return {name: model.__dict__[name] for name in args_model.model_fields}


def _field_keys(model: type[BaseModel]) -> dict[str, Any]:
    return {
        (f.validation_alias if isinstance(f.validation_alias, str) else f.alias) or name: f
        for name, f in model.model_fields.items()
    }


def _drop_default_nulls(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    keys, out = _field_keys(model), {}
    for key, value in data.items():
        field = keys.get(key)
        if field is not None and value is None and not field.is_required():
            continue
        out[key] = value if field is None else _strip_nested(field.annotation, value)
    return out


def _strip_nested(annotation: Any, value: Any) -> Any:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _strip_nested(args[0], value)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _drop_default_nulls(annotation, value) if isinstance(value, dict) else value
    if origin in (Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        if len(members) == 1:
            return _strip_nested(members[0], value)
        return _strip_union(members, value) if isinstance(value, dict) else value
    if isinstance(value, list) and origin in (list, set, frozenset, Sequence) and args:
        return [_strip_nested(args[0], item) for item in value]
    if isinstance(value, dict) and origin in (dict, Mapping) and len(args) == 2:
        return {k: _strip_nested(args[1], v) for k, v in value.items()}
    return value


def _strip_union(members: list[Any], value: dict[str, Any]) -> dict[str, Any]:
    """Strip with the first model member that then validates (exact key sets first)."""
    models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
    for model in sorted(models, key=lambda m: set(_field_keys(m)) != set(value)):
        stripped = _drop_default_nulls(model, value)
        try:
            model.model_validate(stripped)
        except ValidationError:
            continue
        return stripped
    return value


def _describe(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors(include_url=False):
        where = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in err["loc"]
        ).lstrip(".")
        message = "unknown argument" if err["type"] == "extra_forbidden" else err["msg"]
        if err["type"] not in ("missing", "extra_forbidden"):
            message += f" (got {_short(err['input'])})"
        problems.append(f"{where or '(arguments)'}: {message}")
    more = len(problems) - _MAX_PROBLEMS
    text = "; ".join(problems[:_MAX_PROBLEMS]) + (f"; and {more} more" if more > 0 else "")
    return f"invalid arguments: {text}"


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."
