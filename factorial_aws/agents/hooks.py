"""Typed hooks: ``Hook`` payload models, ``PendingHook`` requests and the ``hook`` markers.

A tool parameter annotated ``Annotated[Approval, hook.requires(builder)]`` is fed by a hook: the
runtime calls ``builder`` (with the ids it will store already known), parks the task, and calls the
tool once the hook is resolved with a payload that validates as ``Approval``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from factorial_aws.core import ids
from factorial_aws.core.records import HookMode
from factorial_aws.webhooks.match import check_match

if TYPE_CHECKING:
    from collections.abc import Callable


class Hook(BaseModel):
    """Base of hook payload types. Extra fields are rejected unless a subclass allows them."""

    model_config: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    @classmethod
    def pending(
        cls,
        *,
        ctx: HookRequestContext,
        title: str,
        body: str = "",
        channel: str | None = None,
        timeout_s: float = 86_400,
        metadata: dict[str, Any] | None = None,
        source: str | None = None,
        match: dict[str, Any] | None = None,
    ) -> PendingHook[Self]:
        """Describe the request for this hook. Call it from a request builder.

        Args:
            ctx: the context the runtime passed to the builder (carries the final hook id).
            title: one line shown to whoever resolves the hook.
            body: longer text (markdown or plain).
            channel: a free-form routing hint ("email", "slack", ...).
            timeout_s: seconds until the hook expires.
            metadata: JSON-compatible data stored with the hook.
            source: the name of a webhook source of the App (``webhooks.github()`` is
                ``"github"``) whose deliveries resolve this hook: ``POST /webhooks/{source}``
                routes each verified event to the open hooks whose ``match`` it satisfies.
            match: with ``source``: dotted paths into the event (list indexes as numbers,
                ``"actions.0.value"``) and the JSON scalar each must equal, 1 to 8 of them.
        """
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        if (source is None) != (match is None):
            raise ValueError(
                "source= and match= go together: a hook waits on a source's events that match"
            )
        checked = check_match(match) if match is not None else None
        return PendingHook(
            hook_type=cls,
            hook_id=ctx.hook_id,
            submit_url=ctx.submit_url,
            token=ctx.token,
            expires_at=ctx.now + timedelta(seconds=timeout_s),
            title=title,
            body=body,
            channel=channel,
            metadata=dict(metadata or {}),
            source=source,
            match=checked,
        )


H = TypeVar("H", bound=Hook)

#: At most this many problems are listed in a payload's validation message.
MAX_PROBLEMS = 10


def hook_type_code(hook_type: type[Hook]) -> str:
    """The code of ``hook_type`` that ends each of its hook ids (from its qualified name)."""
    return ids.hook_type_code(f"{hook_type.__module__}.{hook_type.__qualname__}")


def validate_payload(hook_type: type[H], payload: Any) -> H:
    """The payload (decoded JSON) as ``hook_type``: the one check both the resolve route and the
    tool call apply, so a resolve is accepted exactly when the tool would accept its payload.

    Raises:
        ValidationError: it does not validate (:func:`describe_problems` words it).
    """
    return hook_type.model_validate(payload)


def recursive_union(hook_type: type[Hook]) -> str | None:
    """Where ``hook_type`` has a plain (undiscriminated) union of which two or more members lead
    back into that union, or None.

    pydantic validates such a union by trying every member at every level and collecting every
    member's errors, so the time to reject a payload doubles with each level of nesting (a 645
    byte payload took 0.5 s, a few KiB minutes): whoever holds a link could pin a resolver's CPU.
    A discriminated union (``Field(discriminator=...)``) is validated in linear time.
    """
    schema = hook_type.model_json_schema()
    defs: dict[str, Any] = schema.get("$defs", {})
    direct = {name: _refs(node) for name, node in defs.items()}
    reach: dict[str, set[str]] = {}
    for name in defs:
        seen: set[str] = set()
        todo = list(direct[name])
        while todo:
            ref = todo.pop()
            if ref not in seen:
                seen.add(ref)
                todo.extend(direct.get(ref, ()))
        reach[name] = seen
    for owner, node in defs.items():
        for path, members in _plain_unions(node, owner):
            back = [
                m for m in members if any(r == owner or owner in reach.get(r, ()) for r in _refs(m))
            ]
            if len(back) >= 2:
                return path
    return None


def _refs(node: Any) -> set[str]:
    """The names of the ``$defs`` a schema node refers to (without following them)."""
    if isinstance(node, dict):
        found = {str(node["$ref"]).rsplit("/", 1)[-1]} if "$ref" in node else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


def _plain_unions(node: Any, path: str) -> list[tuple[str, list[Any]]]:
    """``(path, members)`` of every ``anyOf`` (pydantic's undiscriminated union) in a node."""
    found: list[tuple[str, list[Any]]] = []
    if isinstance(node, dict):
        if isinstance(node.get("anyOf"), list) and "discriminator" not in node:
            found.append((path, node["anyOf"]))
        for key, value in node.items():
            found += _plain_unions(value, f"{path}.{key}" if key != "properties" else path)
    elif isinstance(node, list):
        for value in node:
            found += _plain_unions(value, path)
    return found


def describe_problems(exc: ValidationError) -> str:
    """``$.<field path>: <problem>`` per error, joined by ``"; "`` (at most ``MAX_PROBLEMS``)."""
    problems = []
    for error in exc.errors(include_url=False):
        path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
        problems.append(f"{path}: {error['msg']}")
    text = "; ".join(problems[:MAX_PROBLEMS])
    if len(problems) > MAX_PROBLEMS:
        text += f"; ... ({len(problems) - MAX_PROBLEMS} more)"
    return text


@dataclass(frozen=True)
class PendingHook(Generic[H]):
    """A requested hook: what a builder returns, and what it may send to a person or a system.

    ``submit_url`` takes a ``POST`` of the payload with the token in the ``X-Hook-Token`` header;
    ``link`` is a capability URL (token in the query) suitable for an e-mail: opening it shows the
    hook's form and never resolves anything by itself.
    """

    hook_type: type[H]
    hook_id: str
    submit_url: str
    token: str
    expires_at: datetime
    title: str
    body: str = ""
    channel: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    match: dict[str, Any] | None = None

    @property
    def link(self) -> str:
        """The capability URL of the hook's form (``GET`` shows it; nothing is resolved)."""
        base = self.submit_url.removesuffix("/resolve")
        return f"{base}?token={self.token}"


@dataclass(frozen=True)
class HookRequestContext:
    """What a request builder knows: the task, the tool call and the hook's final ids."""

    task_id: str
    agent: str
    tool_name: str
    tool_call_id: str
    session_id: str
    hook_id: str
    param: str
    submit_url: str
    token: str
    now: datetime
    owner_id: str | None = None


@dataclass(frozen=True)
class HookMarker:
    """The ``Annotated`` marker produced by ``hook.requires`` / ``hook.awaits``."""

    mode: HookMode
    builder: Callable[..., Any]


class _HookNamespace:
    """``hook.requires(builder)`` and ``hook.awaits(builder)``."""

    def requires(self, builder: Callable[..., Any]) -> HookMarker:
        """A gate: if the hook expires, the tool call ends as a tool error the model sees."""
        return HookMarker(HookMode.REQUIRES, builder)

    def awaits(self, builder: Callable[..., Any]) -> HookMarker:
        """An input: if the hook expires and the parameter is Optional, the tool runs with None."""
        return HookMarker(HookMode.AWAITS, builder)


hook = _HookNamespace()
