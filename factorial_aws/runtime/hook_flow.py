"""Hook sessions in a turn: start one for a hook-gated tool call, request each stage, and run the
tool body (the final continuation) once the last stage is resolved.

The builder of a hook runs with the ids the store will keep (session id, hook id, submit URL,
token), so whatever it sends (an e-mail, a webhook registration) points at the real hook. Tokens
are derived from the deployment secret, so a builder replayed after a crash sends a link that
still works.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from factorial_aws.agents.hooks import (
    Hook,
    HookRequestContext,
    PendingHook,
    hook_type_code,
    validate_payload,
)
from factorial_aws.agents.results import ToolResult, error_result
from factorial_aws.core import ids, logctx
from factorial_aws.core.records import (
    HookMode,
    HookNodeState,
    HookRequest,
    HookSessionState,
    HookStatus,
    HookUpdate,
)
from factorial_aws.runtime.tool_exec import BodyResult, run_body, tool_context

if TYPE_CHECKING:
    from factorial_aws.agents.hook_plan import HookNode
    from factorial_aws.agents.tools import Tool
    from factorial_aws.runtime.env import TurnState


class HookSessionEnded(Exception):
    """The session ends without running the tool body; ``result`` is the tool message."""

    def __init__(self, result: ToolResult) -> None:
        super().__init__(result.content)
        self.result = result


def start_session(
    st: TurnState, tool: Tool, call_id: str, call_key: str, arguments: dict[str, Any]
) -> HookSessionState:
    """Register a new hook session for a tool call; :func:`request_stage` requests stage 0.

    Its ids come from ``call_key`` (replay-stable), never from the provider's ``call_id``."""
    session = HookSessionState(
        session_id=ids.hook_session_id(st.ctx.task_id, call_key, tool.name),
        tool_call_id=call_id,
        call_key=call_key,
        tool_name=tool.name,
        arguments=arguments,
    )
    st.ctx.sessions[call_id] = session
    return session


def apply_updates(st: TurnState, updates: tuple[HookUpdate, ...]) -> None:
    """Record hook updates on their sessions; unknown or already-final hooks are ignored."""
    by_hook = {node.hook_id: node for s in st.ctx.sessions.values() for node in s.nodes.values()}
    for update in updates:
        node = by_hook.get(update.hook_id)
        if node is None or node.status is not HookStatus.REQUESTED:
            continue
        node.status = update.status
        node.payload = update.payload  # (the store recorded the event when the hook settled)


def waiting_hook_ids(st: TurnState) -> list[str]:
    """Hook ids the task still waits on, over all its sessions."""
    return [
        node.hook_id
        for s in st.ctx.sessions.values()
        for node in s.nodes.values()
        if node.status is HookStatus.REQUESTED
    ]


def _payload_value(node: HookNode, state: HookNodeState) -> Hook | None:
    """The typed payload of a finished hook (None for an expired optional ``awaits`` hook)."""
    if state.status is HookStatus.RESOLVED:
        try:
            return validate_payload(node.hook_type, state.payload or {})
        except ValidationError as exc:
            raise HookSessionEnded(
                error_result(f"the payload of hook '{node.param}' does not validate: {exc}")
            ) from exc
    if node.mode is HookMode.AWAITS and node.optional:
        return None
    verb = "expired" if state.status is HookStatus.EXPIRED else "was cancelled"
    raise HookSessionEnded(
        ToolResult(
            status="fail",
            content=f"hook '{node.param}' {verb} before it was resolved; the tool did not run",
            value={"error": {"code": f"hook_{state.status.value}", "param": node.param}},
        )
    )


async def _call_builder(node: HookNode, kwargs: dict[str, Any]) -> Any:
    if node.builder_is_async:
        return await node.builder(**kwargs)
    result = await asyncio.to_thread(node.builder, **kwargs)
    # a sync callable may still hand back an awaitable (declared Awaitable[PendingHook[T]])
    return await result if inspect.isawaitable(result) else result


async def _request_one(
    st: TurnState, tool: Tool, session: HookSessionState, param: str, args: dict[str, Any]
) -> HookRequest:
    node = tool.hook_plan.nodes[param]
    hid = ids.hook_id(session.session_id, param, st.env.hook_secret, hook_type_code(node.hook_type))
    token = ids.hook_token(st.env.hook_secret, hid, ids.FIRST_TOKEN_VERSION)
    hctx = HookRequestContext(
        task_id=st.ctx.task_id,
        agent=st.ctx.agent,
        tool_name=tool.name,
        tool_call_id=session.tool_call_id,
        session_id=session.session_id,
        hook_id=hid,
        param=param,
        submit_url=st.env.submit_url(hid),
        token=token,
        now=st.env.clock.now(),
        owner_id=st.ctx.owner_id,
    )
    kwargs: dict[str, Any] = {}
    for arg in node.builder_args:
        if arg.source == "ctx":
            kwargs[arg.name] = hctx
        elif arg.source == "tool_arg":
            kwargs[arg.name] = args[str(arg.ref)]
        else:
            dep = tool.hook_plan.nodes[str(arg.ref)]
            kwargs[arg.name] = _payload_value(dep, session.nodes[str(arg.ref)])
    try:
        with logctx.bind(tool_call_id=session.tool_call_id, tool=tool.name, hook_id=hid):
            pending = await _call_builder(node, kwargs)
    except Exception as exc:
        raise HookSessionEnded(error_result(exc)) from exc
    if not isinstance(pending, PendingHook) or pending.hook_id != hid:
        raise HookSessionEnded(
            error_result(
                f"hook builder for '{param}' must return {node.hook_type.__name__}"
                ".pending(ctx=ctx, ...)"
            )
        )
    known = st.env.webhook_sources
    if pending.source is not None and known is not None and pending.source not in known:
        declared = ", ".join(sorted(known)) or "none"
        raise HookSessionEnded(
            error_result(
                f"hook builder for '{param}' waits on webhook source {pending.source!r}, which "
                f"the App does not declare (App(webhooks=[...]) has: {declared})"
            )
        )
    session.nodes[param] = HookNodeState(param=param, hook_id=hid)
    st.event("hook_requested", hook_id=hid, param=param, title=pending.title)
    return HookRequest(
        hook_id=hid,
        session_id=session.session_id,
        task_id=st.ctx.task_id,
        tool_call_id=session.tool_call_id,
        tool_name=tool.name,
        param=param,
        mode=node.mode,
        hook_type=node.hook_type.__name__,
        schema=node.hook_type.model_json_schema(),
        title=pending.title,
        body=pending.body,
        channel=pending.channel,
        metadata=pending.metadata,
        expires_at=pending.expires_at,
        token_hash=ids.token_hash(token),
        token_version=ids.FIRST_TOKEN_VERSION,
        source=pending.source,
        match=pending.match,
    )


async def request_stage(st: TurnState, tool: Tool, session: HookSessionState) -> None:
    """Call the builders of the session's current stage and queue their hook requests.

    Raises:
        HookSessionEnded: a builder failed or a dependency expired; the tool call is over.
    """
    args = tool.parse_arguments(json.dumps(session.arguments))
    params = tool.hook_plan.stages[session.stage]
    reqs = await asyncio.gather(
        *(_request_one(st, tool, session, p, args) for p in params), return_exceptions=True
    )
    for r in reqs:
        if isinstance(r, BaseException):
            raise r
    st.requests.extend(r for r in reqs if isinstance(r, HookRequest))


def stage_done(tool: Tool, session: HookSessionState) -> bool:
    """Whether the session's current stage is decided.

    Either every hook of the stage left ``requested``, or one that the tool cannot run without
    expired or was cancelled (the call is over, whatever its siblings do).
    """
    params = tool.hook_plan.stages[session.stage]
    states = [session.nodes.get(p) for p in params]
    if all(s is not None and s.status is not HookStatus.REQUESTED for s in states):
        return True
    for p, s in zip(params, states, strict=True):
        node = tool.hook_plan.nodes[p]
        lenient = node.mode is HookMode.AWAITS and node.optional
        if s is not None and s.status in (HookStatus.EXPIRED, HookStatus.CANCELLED) and not lenient:
            return True
    return False


async def advance(st: TurnState, tool: Tool, session: HookSessionState) -> BodyResult | None:
    """Move a session whose current stage is done: request the next stage, or run the body.

    Returns:
        The body's result when the session is over (the caller writes the tool message), or
        None when the next stage was requested.
    """
    plan = tool.hook_plan
    try:
        for param in plan.stages[session.stage]:
            _payload_value(plan.nodes[param], session.nodes[param])  # raises on expiry
        if session.stage + 1 < len(plan.stages):
            session.stage += 1
            await request_stage(st, tool, session)
            return None
        hooks = {p: _payload_value(plan.nodes[p], session.nodes[p]) for p in plan.nodes}
    except HookSessionEnded as ended:
        return BodyResult(ended.result)
    args = tool.parse_arguments(json.dumps(session.arguments))
    tctx = tool_context(
        tool,
        st.ctx.task_id,
        st.ctx.agent,
        session.tool_call_id,
        st.ctx.turn,
        st.ctx.owner_id,
        session.call_key,
    )
    return await run_body(tool, {**args, **hooks}, tctx)
