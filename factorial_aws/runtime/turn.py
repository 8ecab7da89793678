"""The one-turn engine, pure: a task context and what arrived for it in, one outcome out.

A turn: record hook updates and wakes; advance hook sessions (request the next stage, or run the
tool body); if any tool call of the last assistant message is still pending, park without calling
the model. Otherwise deliver steering, enforce ``max_turns``, call the model once, run the tool
calls it asked for concurrently, and decide: continue, complete, park, fail or retry.

Invariant kept on every path: every assistant tool call gets exactly one tool message, and no
user message is inserted between an assistant message and its tool messages (steering that arrives
while calls are pending is deferred), so the transcript is always valid for OpenAI-compatible APIs.

The transcript keeps the provider's tool call ids (some providers refuse ids they did not issue);
everything a replay must find again (idempotency key, hook session and hook ids, tokens, wait ids)
is derived from the call's key, ``ids.tool_call_key`` (turn, position, tool and arguments).
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from factorial_aws.agents.agent import FINAL_OUTPUT_TOOL, Agent
from factorial_aws.agents.results import ToolResult, error_result
from factorial_aws.agents.schema import InvalidToolArgumentsError
from factorial_aws.core import ids
from factorial_aws.core.outcomes import Complete, Continue, Fail, Retry, TurnOutcome
from factorial_aws.core.records import Message, TaskContext, ToolCall, TurnInput
from factorial_aws.errors import (
    MaxTurnsExceededError,
    ModelError,
    ModelRetryableError,
    VerificationExhaustedError,
)
from factorial_aws.llm.base import ModelRequest
from factorial_aws.runtime import finish, hook_flow, wait_flow
from factorial_aws.runtime.env import TurnEnv, TurnState
from factorial_aws.runtime.tool_exec import BodyResult, run_body, tool_context

if TYPE_CHECKING:
    from factorial_aws.agents.context import ToolContext
    from factorial_aws.agents.tools import Tool


async def run_turn(agent: Agent, ctx: TaskContext, inp: TurnInput, env: TurnEnv) -> TurnOutcome:
    """Run exactly one turn of ``agent`` on a copy of ``ctx`` and return what to commit."""
    st = TurnState(agent=agent, ctx=_working_copy(ctx), env=env)
    st.ctx.deferred_user_messages.extend(inp.steering)
    hook_flow.apply_updates(st, inp.hook_updates)
    wait_flow.apply_wakes(st, inp.wakes)
    await _advance_sessions(st)
    if st.ctx.has_pending_calls:
        return wait_flow.park(st)
    for text in st.ctx.deferred_user_messages:
        st.ctx.messages.append(Message.user(text))
    st.ctx.deferred_user_messages.clear()
    if st.ctx.turn >= agent.max_turns:
        err = MaxTurnsExceededError(f"agent {agent.name!r} reached max_turns={agent.max_turns}")
        return _fail(st, err.code, err.message)
    reply = await _call_model(st)
    if not isinstance(reply, Message):
        return reply
    return await _handle_reply(st, reply)


def _working_copy(ctx: TaskContext) -> TaskContext:
    """A copy the turn may change without touching ``ctx``. Messages and waits are frozen
    records, so their containers are copied, not the records (a deep copy of the transcript was
    most of the engine's time per turn)."""
    return ctx.model_copy(
        update={
            "messages": list(ctx.messages),
            "sessions": {k: v.model_copy(deep=True) for k, v in ctx.sessions.items()},
            "waits": dict(ctx.waits),
            "deferred_user_messages": list(ctx.deferred_user_messages),
            "rejected_candidates": list(ctx.rejected_candidates),
        }
    )


def _common(st: TurnState) -> dict[str, Any]:
    return {"context": st.ctx, "spawned": tuple(st.spawned), "events": tuple(st.events)}


def _fail(st: TurnState, code: str, message: str) -> Fail:
    st.event("failed", code=code, message=message)
    return Fail(code=code, message=message, **_common(st))


async def _advance_sessions(st: TurnState) -> None:
    """Advance every session whose current stage is done; finished sessions write their result."""
    for call_id, session in list(st.ctx.sessions.items()):
        tool = st.agent.tool(session.tool_name)
        if tool is None:  # the app changed under a parked task
            del st.ctx.sessions[call_id]
            st.tool_message(call_id, error_result(f"unknown tool {session.tool_name!r}").content)
            continue
        if not hook_flow.stage_done(tool, session):
            continue
        result = await hook_flow.advance(st, tool, session)
        if result is not None:
            del st.ctx.sessions[call_id]
            _settle(st, call_id, session.call_key, tool.name, result)


def _settle(st: TurnState, call_id: str, call_key: str, tool_name: str, result: BodyResult) -> None:
    """Write a finished call's tool message, or register the wait it returned."""
    st.spawn(result.spawned)
    if isinstance(result.value, ToolResult):
        st.tool_message(call_id, result.value.content)
        st.event(
            "tool_result",
            tool_call_id=call_id,
            tool=tool_name,
            status=result.value.status,
            value=result.value.value,
        )
    else:
        wait_flow.register(st, call_id, call_key, tool_name, result.value)


async def _call_model(st: TurnState) -> Message | TurnOutcome:
    agent = st.agent
    tools = [t.definition() for t in agent.tools if _offered(st, t.name, "") is not None]
    final = finish.final_output_tool(agent)
    if final is not None:
        tools.append(final)
    request = ModelRequest(
        model=agent.model,
        messages=(Message(role="system", content=agent.instructions), *st.ctx.messages),
        tools=tuple(tools),
        settings=agent.model_settings,
    )
    try:
        response = await st.env.model.complete(request)
    except ModelRetryableError as exc:
        if st.ctx.retry_attempt >= agent.max_model_retries:
            return _fail(st, exc.code, f"gave up after {st.ctx.retry_attempt} retries: {exc}")
        st.ctx.retry_attempt += 1
        delay = min(st.env.retry_cap_s, st.env.retry_base_s * 2 ** (st.ctx.retry_attempt - 1))
        st.event("retry", code=exc.code, attempt=st.ctx.retry_attempt, delay_s=delay)
        return Retry(code=exc.code, message=exc.message, delay_s=delay, **_common(st))
    except ModelError as exc:
        return _fail(st, exc.code, exc.message)
    st.ctx.retry_attempt = 0
    st.ctx.turn += 1
    reply = _provider_ids(response.message, st.ctx.turn)
    st.ctx.messages.append(reply)
    st.event("model_replied", turn=st.ctx.turn, tool_calls=len(reply.tool_calls))
    return reply


def _provider_ids(message: Message, turn: int) -> Message:
    """The assistant message with the provider's tool call ids kept as they are.

    Only an id the provider left empty, or one it repeated within the message (which no tool
    message could answer unambiguously), is replaced, by the call's key.
    """
    seen: set[str] = set()
    calls = []
    for i, call in enumerate(message.tool_calls):
        if not call.id or call.id in seen:
            call = call.model_copy(update={"id": _key(turn, i, call)})
        seen.add(call.id)
        calls.append(call)
    return message.model_copy(update={"role": "assistant", "tool_calls": tuple(calls)})


def _key(turn: int, position: int, call: ToolCall) -> str:
    return ids.tool_call_key(turn, position, call.name, call.arguments)


async def _handle_reply(st: TurnState, reply: Message) -> TurnOutcome:
    if not reply.tool_calls:
        return await _handle_text(st, reply.content or "")
    keys = [_key(st.ctx.turn, i, c) for i, c in enumerate(reply.tool_calls)]
    finals = [c for c in reply.tool_calls if c.name == FINAL_OUTPUT_TOOL and st.agent.output_type]
    others = [(c, k) for c, k in zip(reply.tool_calls, keys, strict=True) if c not in finals]
    results = await asyncio.gather(*(_start_call(st, c, k) for c, k in others))
    for (call, key), result in zip(others, results, strict=True):
        if result is not None:
            _settle(st, call.id, key, call.name, result)
    outcome: TurnOutcome | None = None
    for call in finals:
        if outcome is not None or st.ctx.has_pending_calls:
            st.tool_message(
                call.id,
                "error: final_output must be called once, alone, after "
                "the other tool calls have finished",
            )
            continue
        outcome = await _handle_final(st, call)
    if outcome is not None and not isinstance(outcome, Continue):
        return outcome
    if st.ctx.has_pending_calls:
        return wait_flow.park(st)
    return Continue(**_common(st))


def _offered(
    st: TurnState, name: str, call_id: str, call_key: str = ""
) -> tuple[Tool, ToolContext] | None:
    """The tool called ``name`` and its context, when this agent has it and it is enabled."""
    tool = st.agent.tool(name)
    if tool is None:
        return None
    tctx = tool_context(
        tool, st.ctx.task_id, st.agent.name, call_id, st.ctx.turn, st.ctx.owner_id, call_key
    )
    if tool.enabled is not None and not tool.enabled(tctx):
        return None
    return tool, tctx


async def _start_call(st: TurnState, call: ToolCall, key: str) -> BodyResult | None:
    """Start one tool call: a body result, or None when it opened a hook session."""
    offered = _offered(st, call.name, call.id, key)
    if offered is None:
        names = ", ".join(t.name for t in st.agent.tools) or "none"
        return BodyResult(error_result(f"unknown tool {call.name!r}; available tools: {names}"))
    tool, tctx = offered
    try:
        args = tool.parse_arguments(call.arguments)
    except InvalidToolArgumentsError as exc:
        return BodyResult(error_result(exc))
    if not tool.hook_plan:
        return await run_body(tool, args, tctx)
    session = hook_flow.start_session(st, tool, call.id, key, json.loads(call.arguments or "{}"))
    try:
        await hook_flow.request_stage(st, tool, session)
    except hook_flow.HookSessionEnded as ended:
        del st.ctx.sessions[call.id]
        return BodyResult(ended.result)
    return None


async def _handle_final(st: TurnState, call: ToolCall) -> TurnOutcome | None:
    try:
        candidate = finish.parse_final(st.agent, call.arguments)
    except ValueError as exc:
        st.tool_message(call.id, f"error: {exc}")
        return None
    return await _judge(st, candidate, call.id)


async def _handle_text(st: TurnState, text: str) -> TurnOutcome:
    if st.agent.output_type is not None:
        st.ctx.messages.append(
            Message.user(f"Finish by calling the {FINAL_OUTPUT_TOOL} tool with the final answer.")
        )
        return Continue(**_common(st))
    outcome = await _judge(st, text, None)
    return outcome if outcome is not None else Continue(**_common(st))


async def _judge(st: TurnState, candidate: Any, call_id: str | None) -> TurnOutcome | None:
    """Verify a candidate; answer the final_output call (if any) either way."""
    try:
        verdict = await finish.verify(st.agent, candidate, st.ctx.rejected_candidates)
    except Exception as exc:  # noqa: BLE001 - a crashing verifier fails the task, loudly
        if call_id is not None:
            st.tool_message(call_id, "error: the verifier failed")
        return _fail(st, "verifier_error", f"verifier raised {type(exc).__name__}: {exc}")
    if verdict.accepted:
        if call_id is not None:
            st.tool_message(call_id, "accepted")
        st.event("completed")
        return Complete(output=verdict.output, **_common(st))
    feedback = f"rejected by the verifier: {verdict.reason}"
    if call_id is not None:
        st.tool_message(call_id, feedback)
    else:
        st.ctx.messages.append(Message.user(f"Your answer was {feedback}. Try again."))
    st.event("verifier_rejected", reason=verdict.reason)
    if verdict.exhausted:
        err = VerificationExhaustedError(
            f"the verifier rejected {len(st.ctx.rejected_candidates)} distinct candidates "
            f"(budget {st.agent.verifier_budget})"
        )
        return _fail(st, err.code, err.message)
    return None
