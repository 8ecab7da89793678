"""A retry's backoff is bypassed by the maintenance sweep.

docs/concepts.md (one turn, step 4): a retryable model error "ends the turn as a retry after
2 s x 2^(attempt-1)". commit_turn records that with queued_at = now + delay and a dispatch intent
due at now + delay + grace, and the runner's stale-message re-dispatch honours queued_at. But a
"<task> *" intent written earlier by another transition (a hook resolve or expiry, a child's end)
that comes due inside the backoff window makes the sweep send the turn at once: the model is
called again before the backoff is over (and that early call counts as one of the
max_model_retries attempts).
"""

from __future__ import annotations

from typing import Annotated, Any

from factorial_aws import Agent, App, Hook, HookRequestContext, PendingHook, hook, tool
from factorial_aws.errors import ModelRetryableError
from factorial_aws.llm.base import ModelRequest
from factorial_aws.testing import ScriptedModel
from tests.integration.conftest import StackFactory, token_for

call = ScriptedModel.call


class Ok(Hook):
    ok: bool


def ask_fast(ctx: HookRequestContext) -> PendingHook[Ok]:
    return Ok.pending(ctx=ctx, title="fast", timeout_s=60)


def ask_slow(ctx: HookRequestContext) -> PendingHook[Ok]:
    return Ok.pending(ctx=ctx, title="slow", timeout_s=3600)


@tool
def gated(
    fast: Annotated[Ok, hook.requires(ask_fast)], slow: Annotated[Ok, hook.requires(ask_slow)]
) -> str:
    """Needs two approvals."""
    return "ran"


def test_sweep_does_not_send_a_retry_turn_before_its_backoff(make_stack: StackFactory) -> None:
    calls_at: list[float] = []
    box: dict[str, Any] = {}

    def rule(req: ModelRequest) -> Any:
        calls_at.append(box["stack"].clock.now().timestamp())
        if req.messages[-1].role != "tool":
            return [call("gated")]
        if len(calls_at) == 2:
            return ModelRetryableError("429 rate limited")
        return "gave up"

    app = App([Agent(name="g", instructions="i", model="m", tools=[gated])])
    stack = make_stack(app, rule, dispatch_grace_ms=1000)
    box["stack"] = stack
    task = stack.control.create_task("g", "go")
    stack.run_due()
    view = stack.control.get_task(task.task_id)
    assert view.status == "waiting_hook"
    slow = next(h for h in view.pending_hooks if h.title == "slow")

    stack.clock.advance(60)  # the fast gate expires: the call is over, the model is called
    stack.run_due()
    assert len(calls_at) == 2  # ... and answers 429: retry in 2 s
    assert stack.control.get_task(task.task_id).status == "queued"

    stack.sweep()  # the minute sweep passes (it clears the fast hook's expiry entry)
    # the slow sibling (no longer affecting the task) is resolved during the backoff
    stack.control.resolve_hook(slow.hook_id, {"ok": True}, token_for(slow.hook_id))
    stack.clock.advance(1.2)
    stack.sweep()  # a "<task> *" intent is due: the sweep sends the turn now
    stack.run_due()
    stack.clock.advance(1)
    stack.run_due()
    assert stack.control.get_task(task.task_id).status == "completed"
    assert calls_at[2] - calls_at[1] >= 2.0, "the retry ran before its backoff was over"
