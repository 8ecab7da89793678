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
    ) -> PendingHook[Self]:
        """Describe the request for this hook. Call it from a request builder.

        Args:
            ctx: the context the runtime passed to the builder (carries the final hook id).
            title: one line shown to whoever resolves the hook.
            body: longer text (markdown or plain).
            channel: a free-form routing hint ("email", "slack", ...).
            timeout_s: seconds until the hook expires.
            metadata: JSON-compatible data stored with the hook.
        """
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
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
