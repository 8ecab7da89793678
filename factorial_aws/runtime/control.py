"""The control plane: what the HTTP API (and the CLI) do to tasks and hooks.

Each operation is one store transition plus the dispatch it calls for: creating a task sends its
first turn message, a resolve that completes a stage sends the woken task's turn message, a cancel
that completes a parent's join wakes the parent. Reads never change a task.
"""

from __future__ import annotations

import copy
import functools
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from factorial_aws.agents.hooks import describe_problems, validate_payload
from factorial_aws.core import ids
from factorial_aws.errors import (
    HookAlreadyResolvedError,
    HookCancelledError,
    HookError,
    HookExpiredError,
    HookNotFoundError,
    HookPayloadInvalidError,
    HookRotationConflictError,
    InvalidSignatureError,
    TaskNotFoundError,
    WebhookNotConfiguredError,
)
from factorial_aws.runtime.ports import MAX_QUEUE_DELAY_S
from factorial_aws.runtime.webhook_flow import DeliveryResult, deliver
from factorial_aws.store import hooks as store_hooks
from factorial_aws.store import views
from factorial_aws.store.cancel_task import cancel_task
from factorial_aws.store.steer_task import steer_task
from factorial_aws.store.tasks import Created, create_task

if TYPE_CHECKING:
    from factorial_aws.agents.agent import App
    from factorial_aws.agents.hooks import Hook
    from factorial_aws.core.records import TaskInput
    from factorial_aws.runtime.dispatch import Dispatcher
    from factorial_aws.store.base import StoreContext
    from factorial_aws.store.hooks import HookView, ResolveResult
    from factorial_aws.webhooks.source import WebhookSource

#: A source's signing secrets: the current one first, then the one being rotated out (if any).
WebhookSecrets = Callable[["WebhookSource"], Sequence[str]]


def no_webhook_secrets(source: WebhookSource) -> list[str]:
    """No secret for any source (every delivery answers 503 ``webhook_not_configured``): the
    default of a Control built without a reader."""
    return []


#: The message of a 422: the hook page maps each ``$.<field>`` problem to its field.
INVALID_PAYLOAD = "payload does not match hook {hook_id}: {problems}"

_NOT_ROTATABLE: dict[str, type[HookError]] = {
    "resolved": HookAlreadyResolvedError,
    "expired": HookExpiredError,
    "cancelled": HookCancelledError,
}


@dataclass(frozen=True)
class RotatedToken:
    """A new hook token, shown once to the authenticated caller that rotated it."""

    hook_id: str
    token: str
    version: int
    link: str


@dataclass(frozen=True)
class Control:
    """Task and hook operations for the API."""

    app: App
    store: StoreContext
    dispatcher: Dispatcher
    hook_secret: bytes
    public_base_url: str
    webhook_secrets: WebhookSecrets = no_webhook_secrets

    def create_task(
        self,
        agent: str,
        task_input: TaskInput,
        *,
        owner_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> Created:
        """Create a task and send its first turn (a replay sends nothing)."""
        self.app.agent(agent)  # UnknownAgentError before anything is written
        created = create_task(
            self.store, agent, task_input, owner_id=owner_id, idempotency_key=idempotency_key
        )
        if created.created:
            self.dispatcher.turn(created.task_id, created.seq)
        return created

    def get_task(self, task_id: str) -> views.TaskView:
        """The task with its pending hooks."""
        view = views.get_task(self.store, task_id)
        if view is None:
            raise TaskNotFoundError(f"no task {task_id!r}")
        return view

    def list_tasks(
        self,
        owner_id: str,
        *,
        status: str | None = None,
        limit: int = views.DEFAULT_TASKS_PAGE,
        after: str | None = None,
    ) -> views.TaskPage:
        """A page of the owner's tasks (roots and children), newest first; pass the page's
        ``next`` as ``after`` for the following one. Tasks created without an owner are in no
        owner's list."""
        return views.list_tasks(self.store, owner_id, status=status, limit=limit, after=after)

    def events(self, task_id: str, after: str | None = None, limit: int = 100) -> list[Any]:
        """A page of the task's events after the cursor."""
        self.get_task(task_id)
        return views.read_events(self.store, task_id, after, limit)

    def cancel_task(self, task_id: str, reason: str = "cancelled by request") -> tuple[str, ...]:
        """Cancel a task and its descendants; wake its parent if that completes a join."""
        result = cancel_task(self.store, task_id, reason)
        parent = self.get_task(task_id).parent_id
        if parent and result.parent_seq:
            self.dispatcher.turn(parent, result.parent_seq)
        now = self.dispatcher.clock.now()
        for wait_id, wake_at in views.time_waits(self.store, result.cancelled):
            if (wake_at - now).total_seconds() > MAX_QUEUE_DELAY_S:  # a schedule exists for it
                self.dispatcher.cancel_wake(wait_id)
        return result.cancelled

    def steer_task(self, task_id: str, text: str) -> None:
        """Queue a user message for the task's next turn."""
        steer_task(self.store, task_id, text)

    def describe_hook(self, hook_id: str) -> HookView:
        """Title, body, schema, status and expiry of a hook (never resolves anything)."""
        view = store_hooks.describe_hook(self.store, hook_id)
        if view is None:
            raise HookNotFoundError(f"no hook {hook_id!r}")
        hook_type = self.app.hook_type(hook_id)  # None: a type this deployment no longer has
        schema = copy.deepcopy(_schema_of(hook_type)) if hook_type is not None else {}
        return replace(view, schema=schema)

    def _secrets(self, source: WebhookSource) -> Sequence[str]:
        secrets = self.webhook_secrets(source)
        if not secrets:
            raise WebhookNotConfiguredError(
                f"webhook source {source.name!r} has no signing secret configured "
                f"({source.secret_env} locally; its Secrets Manager secret on AWS)"
            )
        return secrets

    def deliver_webhook(self, name: str, body: bytes, headers: Mapping[str, str]) -> DeliveryResult:
        """Verify a delivery to the source ``name`` (before anything is read or written), then
        resolve the open hooks it matches and validates for (:func:`webhook_flow.deliver`).

        Raises:
            UnknownWebhookSourceError: the app declares no such source (404).
            InvalidSignatureError: not signed by the source's secret (current or previous),
                stale, or malformed (401); nothing is written.
            WebhookNotConfiguredError: the source has no secret (503).
        """
        source = self.app.webhook(name)
        delivery = source.verify(self._secrets(source), body, headers, self.dispatcher.clock.now())
        if delivery.challenge is not None:
            return DeliveryResult("ignored", challenge=delivery.challenge)
        return deliver(self.app, self.store, self.dispatcher, delivery)

    def signed_sources(self, body: bytes, headers: Mapping[str, str]) -> tuple[str, ...]:
        """The app's webhook sources whose valid signature this request carries (only those
        whose signature header is present are tried; no store call)."""
        now = self.dispatcher.clock.now()
        verified: list[str] = []
        for source in self.app.webhooks.values():
            if not source.carries_signature(headers):
                continue
            try:
                source.verify(self._secrets(source), body, headers, now)
            except (InvalidSignatureError, WebhookNotConfiguredError):
                continue
            verified.append(source.name)
        return tuple(verified)

    def resolve_hook(
        self,
        hook_id: str,
        payload: dict[str, Any] | bytes | str,
        token: str,
        idempotency_key: str | None = None,
        *,
        signed_by: Sequence[str] = (),
    ) -> ResolveResult:
        """Resolve a hook: validate the payload by the hook's own type, then one store call;
        when that wakes the task (stage complete, or the hook found expired), send its turn.

        The outcome is the result's ``outcome`` (see :class:`ResolveResult`), plus
        ``type_unknown``: the hook's type is not one of this app's (nothing was written).
        ``signed_by``: the webhook sources whose signature the request carries
        (:meth:`signed_sources`); a hook with ``source=`` needs its own among them
        (``invalid_signature`` otherwise).

        Raises:
            PayloadTooLargeError: the payload is over the cap.
            HookPayloadInvalidError: not JSON, or not valid as the hook's type (the message
                names each field path); checked before any store call, so nothing is written.
        """
        hook_type = self.app.hook_type(hook_id)
        text, value = store_hooks.payload_json(self.store, payload)
        if hook_type is not None:
            try:
                validate_payload(hook_type, value)
            except ValidationError as exc:
                problems = describe_problems(exc)
                message = INVALID_PAYLOAD.format(hook_id=hook_id, problems=problems)
                raise HookPayloadInvalidError(message) from None
        first = ids.hook_token(self.hook_secret, hook_id, ids.FIRST_TOKEN_VERSION)
        result = store_hooks.resolve_hook(
            self.store,
            hook_id,
            text if hook_type is not None else None,
            token,
            idempotency_key,
            early_token=hmac.compare_digest(token.encode(), first.encode()),
            sources=signed_by,
        )
        if result.seq:  # a stage completed, or the hook was found expired: the task woke
            self.dispatcher.turn(result.task_id, result.seq)
        if result.outcome == "checked":  # a right token, but no type to validate a payload by
            return replace(result, outcome="type_unknown")
        return result

    def rotate_hook_token(self, hook_id: str, *, revoke_previous: bool = True) -> RotatedToken:
        """Issue a new token for a requested hook (the old one stops working unless kept)."""
        view = self.describe_hook(hook_id)
        version = view.token_version + 1
        token = ids.hook_token(self.hook_secret, hook_id, version)
        result = store_hooks.rotate_hook_token(
            self.store, hook_id, ids.token_hash(token), version, revoke_previous
        )
        if not result.rotated:  # a resolve, an expiry or another rotation got there first
            status = result.status or "requested"
            error = _NOT_ROTATABLE.get(status, HookRotationConflictError)
            raise error(
                f"hook {hook_id} was not rotated: it is {status}"
                + (" and was rotated concurrently" if status == "requested" else "")
            )
        base = self.public_base_url.rstrip("/")
        return RotatedToken(hook_id, token, version, f"{base}/hooks/{hook_id}?token={token}")


@functools.lru_cache(maxsize=256)
def _schema_of(hook_type: type[Hook]) -> dict[str, Any]:
    """A hook type's JSON Schema (fields in declaration order, as the approval form shows them),
    computed once per type (callers copy it)."""
    return hook_type.model_json_schema()
