"""Records: everything persisted in Redis or sent over SQS, Scheduler or HTTP.

All are pydantic models encoded by :mod:`factorial_aws.core.codec`. The transcript is kept in the
OpenAI chat-completions shape because that is the one shape every OpenAI-compatible API accepts.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from factorial_aws.errors import InvalidInputError

JsonValue = Any
TaskInput = str | list[dict[str, Any]]

_FROZEN = ConfigDict(frozen=True, extra="forbid", defer_build=True)
_MUTABLE = ConfigDict(extra="forbid", defer_build=True)


# --- transcript ---


class ToolCall(BaseModel):
    """One function call requested by the model. ``arguments`` is the raw JSON text."""

    model_config = _FROZEN

    id: str
    name: str
    arguments: str


class Message(BaseModel):
    """One chat message (system, user, assistant or tool)."""

    model_config = _FROZEN

    role: Literal["system", "user", "assistant", "tool"]
    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None

    @classmethod
    def user(cls, text: str) -> Message:
        """A user message."""
        return cls(role="user", content=text)

    @classmethod
    def tool(cls, tool_call_id: str, content: str) -> Message:
        """The one tool message that answers ``tool_call_id``."""
        return cls(role="tool", tool_call_id=tool_call_id, content=content)


class ToolDefinition(BaseModel):
    """A tool as the model sees it."""

    model_config = _FROZEN

    name: str
    description: str
    parameters: dict[str, JsonValue]
    strict: bool = False


class ModelSettings(BaseModel):
    """Sampling settings passed to the model provider; ``None`` means the provider default."""

    model_config = _FROZEN

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = Field(default=None, gt=0)
    parallel_tool_calls: bool | None = None
    tool_choice: Literal["auto", "required", "none"] | None = None
    extra: dict[str, JsonValue] = Field(default_factory=dict)


class Usage(BaseModel):
    """Token counts of one model call."""

    model_config = _FROZEN

    input_tokens: int = 0
    output_tokens: int = 0


# --- hooks ---


class HookMode(StrEnum):
    """``requires``: a gate, expiry ends the tool call; ``awaits``: expiry may pass ``None``."""

    REQUIRES = "requires"
    AWAITS = "awaits"


class HookStatus(StrEnum):
    """Life of one hook."""

    REQUESTED = "requested"
    RESOLVED = "resolved"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class HookRequest(BaseModel):
    """A hook the store must register when the turn commits. Holds a token hash, never a token."""

    model_config = _FROZEN

    hook_id: str
    session_id: str
    task_id: str
    tool_call_id: str
    tool_name: str
    param: str
    mode: HookMode
    hook_type: str
    schema_: dict[str, JsonValue] = Field(alias="schema")
    title: str
    body: str = ""
    channel: str | None = None
    metadata: dict[str, JsonValue] = Field(default_factory=dict)
    expires_at: datetime
    token_hash: str
    token_version: int = 1
    source: str | None = None
    match: dict[str, JsonValue] | None = None


class HookUpdate(BaseModel):
    """What the store tells a turn about a hook that left ``requested``."""

    model_config = _FROZEN

    hook_id: str
    status: HookStatus
    payload: dict[str, JsonValue] | None = None


class HookNodeState(BaseModel):
    """One hook of a session, as the task context remembers it."""

    model_config = _MUTABLE

    param: str
    hook_id: str
    status: HookStatus = HookStatus.REQUESTED
    payload: dict[str, JsonValue] | None = None


def _key_defaults_to_call_id(data: Any) -> Any:
    """A record written before ``call_key`` existed: its ``tool_call_id`` was the key."""
    if isinstance(data, dict) and not data.get("call_key") and "tool_call_id" in data:
        return {**data, "call_key": data["tool_call_id"]}
    return data


class HookSessionState(BaseModel):
    """A hook-gated tool call in progress: its arguments and the hooks requested so far.

    ``tool_call_id`` is the provider's id (its tool message answers it); ``call_key`` the
    replay-stable key the session and hook ids are derived from (``ids.tool_call_key``).
    """

    model_config = _MUTABLE

    session_id: str
    tool_call_id: str
    call_key: str = ""
    tool_name: str
    arguments: dict[str, JsonValue]
    stage: int = 0
    nodes: dict[str, HookNodeState] = Field(default_factory=dict)

    _call_key = model_validator(mode="before")(_key_defaults_to_call_id)


# --- waits and children ---


class WaitKind(StrEnum):
    """What a parked tool call waits for."""

    SLEEP = "sleep"
    CRON = "cron"
    CHILDREN = "children"


class ChildSpec(BaseModel):
    """A child task the commit must create (idempotently: the id is derived)."""

    model_config = _FROZEN

    task_id: str
    parent_task_id: str
    agent: str
    input: str | list[dict[str, JsonValue]]
    key: str


class PendingWait(BaseModel):
    """A tool call that returned a wait; its tool message (answering the provider's
    ``tool_call_id``) is written when the wait ends. ``wait_id`` is derived from ``call_key``."""

    model_config = _FROZEN

    wait_id: str
    tool_call_id: str
    call_key: str = ""
    tool_name: str
    kind: WaitKind
    created_at: datetime
    wake_at: datetime | None = None
    cron: str | None = None
    tz: str | None = None
    child_ids: tuple[str, ...] = ()
    join: Literal["all", "any"] | int = "all"
    data: JsonValue = None

    _call_key = model_validator(mode="before")(_key_defaults_to_call_id)


class ChildOutcome(BaseModel):
    """How a child task ended, as recorded in its parent's join."""

    model_config = _FROZEN

    task_id: str
    status: Literal["completed", "failed", "cancelled"]
    output: JsonValue = None
    error: str | None = None


class Wake(BaseModel):
    """A wait that ended: time came, or the children join was met."""

    model_config = _FROZEN

    wait_id: str
    fired_at: datetime
    children: tuple[ChildOutcome, ...] = ()


# --- the task context ---


class TaskContext(BaseModel):
    """Everything a turn needs to know about a task, and everything it changes."""

    model_config = _MUTABLE

    v: int = 1
    task_id: str
    agent: str
    owner_id: str | None = None
    turn: int = 0
    messages: list[Message] = Field(default_factory=list)
    sessions: dict[str, HookSessionState] = Field(default_factory=dict)
    waits: dict[str, PendingWait] = Field(default_factory=dict)
    deferred_user_messages: list[str] = Field(default_factory=list)
    rejected_candidates: list[str] = Field(default_factory=list)
    retry_attempt: int = 0

    @property
    def has_pending_calls(self) -> bool:
        """Whether some tool call of the last assistant message still has no tool message."""
        return bool(self.sessions or self.waits)


class TurnInput(BaseModel):
    """What arrived for a task since its last turn: steering, hook updates, wakes."""

    model_config = _FROZEN

    steering: tuple[str, ...] = ()
    hook_updates: tuple[HookUpdate, ...] = ()
    wakes: tuple[Wake, ...] = ()


class TaskEvent(BaseModel):
    """One entry of a task's event stream. Never carries a token."""

    model_config = _FROZEN

    kind: str
    data: dict[str, JsonValue] = Field(default_factory=dict)


class QueueMessage(BaseModel):
    """A message on the turn queue: ids only, never a transcript (SQS caps messages at 1 MiB).

    ``turn``: run the next turn of ``task_id`` if its dispatch sequence is still ``seq``.
    ``wake``: the time wait ``wait_id`` of ``task_id`` is due (sent with a delay or by a schedule).
    ``expire``: the hook ``hook_id`` of ``task_id`` reaches its expiry (sent with a delay; the
    maintenance sweep covers hooks whose expiry is further than a queue delay away).
    """

    model_config = _FROZEN

    v: int = 1
    kind: Literal["turn", "wake", "expire"] = "turn"
    task_id: str
    seq: int = 0
    wait_id: str | None = None
    hook_id: str | None = None


def initial_messages(task_input: TaskInput) -> list[Message]:
    """The first messages of a task: a user text, or a list of chat messages.

    Raises:
        InvalidInputError: an empty input, or messages that are not user/assistant/system text.
    """
    if isinstance(task_input, str):
        if not task_input.strip():
            raise InvalidInputError("input must not be empty")
        check_text(task_input, "input")
        return [Message.user(task_input)]
    if not task_input:
        raise InvalidInputError("input must not be an empty list")
    out = []
    for i, m in enumerate(task_input):
        role, content = m.get("role"), m.get("content")
        if role not in ("user", "assistant", "system") or not isinstance(content, str):
            raise InvalidInputError(
                f"input[{i}] must be {{'role': 'user'|'assistant'|'system', 'content': str}}"
            )
        check_text(content, f"input[{i}].content")
        out.append(Message(role=role, content=content))
    return out


def check_text(text: str, where: str) -> None:
    """Refuse a string that is not Unicode text (a lone UTF-16 surrogate, such as the JSON
    ``"\\ud800"``): it could not be encoded for the store, a log or the model.

    Raises:
        InvalidInputError: naming ``where``.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            f"{where} is not Unicode text: a lone surrogate at position {exc.start}"
        ) from None
