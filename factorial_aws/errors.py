"""One error tree for the whole framework.

Every error the framework raises derives from :class:`FactorialError` and carries a stable ``code``
(used in HTTP bodies, events and logs) and a ``retryable`` flag. The HTTP layer maps codes to status
codes in one table; nothing else branches on message text. This module imports nothing from the
package.
"""

from __future__ import annotations

from typing import ClassVar


class FactorialError(Exception):
    """Base of every error raised by factorial_aws."""

    code: ClassVar[str] = "factorial_error"
    retryable: ClassVar[bool] = False

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.code)
        self.message = message or self.code

    def to_dict(self) -> dict[str, str]:
        """The error body of the HTTP API: ``{"code": ..., "message": ...}``."""
        return {"code": self.code, "message": self.message}


# --- definition errors: raised at import time, when a tool/agent/app is declared ---


class DefinitionError(FactorialError):
    """A tool, hook, agent or app definition the framework cannot serve."""

    code = "definition_error"


class ToolDefinitionError(DefinitionError):
    """A tool signature that cannot be turned into a JSON schema or called."""

    code = "tool_definition_error"


class HookCompilationError(DefinitionError):
    """A hook declaration on a tool parameter that cannot be compiled."""

    code = "hook_compilation_error"


class HookDependencyResolutionError(HookCompilationError):
    """A hook request builder parameter that nothing can provide."""

    code = "hook_dependency_resolution_error"


class HookTypeMismatchError(HookCompilationError):
    """A builder parameter or return type that does not match the hook it refers to."""

    code = "hook_type_mismatch"


class HookDependencyCycleError(HookCompilationError):
    """Hook builders that depend on each other in a cycle."""

    code = "hook_dependency_cycle"


class AgentDefinitionError(DefinitionError):
    """An agent or app definition that is inconsistent (duplicate names, bad limits)."""

    code = "agent_definition_error"


class NotAToolError(AgentDefinitionError):
    """Something in ``Agent(tools=...)`` that is not a ``Tool`` (a plain function not decorated
    with ``@tool``, a class, a string...)."""

    code = "not_a_tool"


# --- input errors: bad values given by a caller at run time ---


class InvalidInputError(FactorialError):
    """A value given by a caller that is not acceptable."""

    code = "invalid_input"


class InvalidWaitError(InvalidInputError):
    """A wait that cannot be scheduled (negative duration, bad time zone...)."""

    code = "invalid_wait"


class InvalidCronError(InvalidWaitError):
    """A cron expression that does not parse."""

    code = "invalid_cron"


class SpawnOutsideToolError(InvalidInputError):
    """``subagents.spawn`` was called outside a running tool call."""

    code = "spawn_outside_tool"


# --- task and hook errors ---


class TaskError(FactorialError):
    """A task-level failure."""

    code = "task_error"


class UnknownAgentError(TaskError):
    """A task names an agent the app does not have."""

    code = "unknown_agent"


class MaxTurnsExceededError(TaskError):
    """A task reached its agent's ``max_turns`` hard stop."""

    code = "max_turns_exceeded"


class VerificationExhaustedError(TaskError):
    """The verifier rejected more distinct candidates than the budget allows."""

    code = "verification_exhausted"


class TaskNotFoundError(TaskError):
    """No such task (or not visible to this caller)."""

    code = "task_not_found"


class TaskFinishedError(TaskError):
    """The task is completed, failed or cancelled; it takes no more input."""

    code = "task_finished"


class IdempotencyConflictError(TaskError):
    """The idempotency key was used before with a different request."""

    code = "idempotency_conflict"


class HookError(FactorialError):
    """A hook-level failure."""

    code = "hook_error"


class HookNotFoundError(HookError):
    """No such hook (also the answer to a wrong token, so ids cannot be probed)."""

    code = "hook_not_found"


class HookTokenInvalidError(HookError):
    """The token does not match the hook."""

    code = "hook_token_invalid"


class HookExpiredError(HookError):
    """The hook expired before it was resolved."""

    code = "hook_expired"


class HookAlreadyResolvedError(HookError):
    """The hook was resolved before, with a different idempotency key."""

    code = "hook_already_resolved"


class HookCancelledError(HookError):
    """The hook was cancelled (its task was cancelled, or the tool call ended without it)."""

    code = "hook_cancelled"


class HookTypeUnknownError(HookError):
    """The hook's type (the code its id ends with) is not one this app has: a deployment
    removed or renamed it, so no payload can be validated for it."""

    code = "hook_type_unknown"


class HookRotationConflictError(HookError):
    """Another rotation of the same hook won the race; read the hook and rotate again."""

    code = "hook_rotation_conflict"


class PayloadTooLargeError(InvalidInputError):
    """A request body or hook payload over the configured size cap."""

    code = "payload_too_large"


class ContextTooLargeError(InvalidInputError):
    """The write would take a task's context over its cap (4 MiB encoded by default): input,
    steering and hook payloads are refused whole (nothing written); a turn whose new context
    would pass it fails the task with this code."""

    code = "context_too_large"


class HookPayloadInvalidError(HookError):
    """The payload does not match the hook's type."""

    code = "hook_payload_invalid"


# --- store errors ---


class StoreError(FactorialError):
    """The state store failed."""

    code = "store_error"


class StoreUnavailableError(StoreError):
    """The state store could not be reached (connection, timeout); retry later."""

    code = "store_unavailable"
    retryable = True


class StateCorruptedError(StoreError):
    """A stored record broke an invariant a transition relies on."""

    code = "state_corrupted"


# --- model errors ---


class ModelError(FactorialError):
    """The model provider failed in a way that will not go away by retrying."""

    code = "model_error"


class ModelRetryableError(ModelError):
    """The model provider failed in a way that may go away (rate limit, 5xx, timeout)."""

    code = "model_unavailable"
    retryable = True


class ModelResponseError(ModelError):
    """The model replied with something the framework cannot use."""

    code = "model_response_invalid"


# --- control flow ---


class VerificationRejected(FactorialError):
    """Raised by an agent's verifier to reject a candidate output; the model sees the reason."""

    code = "verification_rejected"


# --- webhook deliveries ---


class WebhookError(FactorialError):
    """A webhook delivery the framework refuses."""

    code = "webhook_error"


class InvalidSignatureError(WebhookError):
    """A webhook delivery whose signature is missing, wrong, stale or malformed (401)."""

    code = "invalid_signature"


class UnknownWebhookSourceError(WebhookError):
    """A delivery to a webhook source the app does not declare (404)."""

    code = "unknown_source"


class WebhookNotConfiguredError(WebhookError):
    """A declared webhook source with no signing secret configured (503: the sender retries,
    and succeeds once the secret is set)."""

    code = "webhook_not_configured"
