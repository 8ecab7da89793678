"""The JSON shapes of the HTTP API (docs/DESIGN.md section 8): request bodies, validated by
Powertools, and answers, which also make the OpenAPI document.

Field names are the contract; answers may gain fields, never lose or rename one. No answer ever
carries a hook token, except the one ``rotate`` returns to the caller that asked for it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

#: Longest accepted agent name, owner id and steering text.
MAX_AGENT_CHARS = 200
MAX_OWNER_CHARS = 512
MAX_STEER_CHARS = 32 * 1024
#: Longest accepted ``Idempotency-Key`` header.
MAX_IDEMPOTENCY_KEY_CHARS = 200

_REQUEST = ConfigDict(extra="forbid")
_ANSWER = ConfigDict(populate_by_name=True)


class CreateTaskRequest(BaseModel):
    """``POST /tasks``: the agent, its input (a text or chat messages) and an optional owner."""

    model_config = _REQUEST

    agent: str = Field(min_length=1, max_length=MAX_AGENT_CHARS)
    input: str | list[dict[str, Any]]
    owner_id: str | None = Field(default=None, min_length=1, max_length=MAX_OWNER_CHARS)


class SteerRequest(BaseModel):
    """``POST /tasks/{task_id}/steer``: a user message for the task's next turn."""

    model_config = _REQUEST

    text: str = Field(min_length=1, max_length=MAX_STEER_CHARS)


class RotateRequest(BaseModel):
    """``POST /hooks/{hook_id}/rotate``: keep the current token valid too, or not (default)."""

    model_config = _REQUEST

    revoke_previous: bool = True


class ErrorDetail(BaseModel):
    """A stable error code and a human-readable message."""

    code: str
    message: str


class ErrorBody(BaseModel):
    """Every error answer."""

    error: ErrorDetail


class TaskRef(BaseModel):
    """A created task (or the same task again, for a replayed idempotency key)."""

    task_id: str
    status: str


class PendingHookOut(BaseModel):
    """A hook the task waits on."""

    hook_id: str
    title: str
    status: str
    expires_at: datetime


class TaskOut(BaseModel):
    """``GET /tasks/{task_id}``."""

    task_id: str
    agent: str
    status: str
    turn: int
    output: Any = None
    error: ErrorDetail | None = None
    pending_hooks: list[PendingHookOut]
    parent_id: str | None = None
    children: list[str] = []
    created_at: datetime | None = None
    updated_at: datetime | None = None


class TaskSummaryOut(BaseModel):
    """One task of ``GET /tasks``."""

    task_id: str
    agent: str
    status: str
    turn: int
    created_at: datetime
    updated_at: datetime
    parent_id: str | None = None


class TasksPage(BaseModel):
    """A page of the owner's tasks, newest first; pass ``next`` as ``after`` for the following
    page (null: there is none)."""

    tasks: list[TaskSummaryOut]
    next: str | None


class EventOut(BaseModel):
    """One event of a task."""

    id: str
    kind: str
    data: dict[str, Any]
    at: datetime


class EventsPage(BaseModel):
    """A page of events; pass ``next`` as ``after`` for the following page (null: none yet)."""

    events: list[EventOut]
    next: str | None


class CancelOut(BaseModel):
    """The cancelled task and its cancelled descendants (the task first)."""

    task_id: str
    status: Literal["cancelled"] = "cancelled"
    cancelled: list[str]


class SteerOut(BaseModel):
    """The steering message was queued for the task's next turn."""

    task_id: str
    queued: bool = True


class HookOut(BaseModel):
    """``GET /hooks/{hook_id}``: what the hook asks for (never a token)."""

    model_config = _ANSWER

    hook_id: str
    task_id: str
    title: str
    body: str
    status: str
    expires_at: datetime
    json_schema: dict[str, Any] = Field(alias="schema")
    source: str | None = None
    match: dict[str, Any] | None = None


class WebhookOut(BaseModel):
    """``POST /webhooks/{name}``: ``resolved`` lists the hooks this delivery resolved;
    ``ignored`` (empty list): nothing matched and validated (a sender must not retry it);
    ``idempotent``: the same delivery resolved ``hook_ids`` before (nothing written)."""

    status: Literal["resolved", "ignored", "idempotent"]
    hook_ids: list[str]


class ChallengeOut(BaseModel):
    """A Slack Events API URL verification, answered with its challenge."""

    challenge: str


class ResolveOut(BaseModel):
    """``200``: the hook is resolved; ``idempotent``: a replay of an earlier resolve with the same
    ``Idempotency-Key`` (nothing written). ``task_resumed``: this resolve completed the stage and
    the task runs again."""

    hook_id: str
    task_id: str
    status: Literal["resolved", "idempotent"]
    task_resumed: bool


class AcceptedOut(BaseModel):
    """``202``: an early resolve. The hook's builder has run but the turn that registers the hook
    has not committed yet; the payload (already validated by the hook's type) is kept and applied
    when the hook registers. If that tool call is never committed, it is dropped with the task."""

    hook_id: str
    task_id: str
    status: Literal["accepted"]


class RotateOut(BaseModel):
    """A new hook token, shown once, and the hook's page link carrying it."""

    hook_id: str
    token: str
    version: int
    link: str


_STATUS_TEXT = {
    400: "Invalid request (invalid_json, invalid_request, invalid_input)",
    401: "Not signed (unauthorized) or no hook token (hook_token_invalid)",
    403: "Forbidden",
    404: "No such task or hook (or not yours)",
    409: "Conflict with the current state (hook_already_resolved, hook_cancelled, "
    "hook_type_unknown, ...)",
    410: "The hook expired",
    413: "Body over the size limit (payload_too_large), or the task's context would pass its "
    "cap (context_too_large)",
    422: "The payload does not validate as the hook's type (hook_payload_invalid)",
    503: "The store is unavailable; retry",
}


def documented(ok: int, description: str, *errors: int) -> dict[int, OpenAPIResponse]:
    """The OpenAPI answers of a route: ``ok`` (its schema from the return annotation) and the
    error statuses it gives, all with :class:`ErrorBody` (503 on every route)."""
    answers: dict[int, OpenAPIResponse] = {ok: {"description": description}}
    for status in (*errors, 503):
        answers[status] = {
            "description": _STATUS_TEXT.get(status, "Error"),
            "content": {"application/json": {"model": ErrorBody}},
        }
    return answers
