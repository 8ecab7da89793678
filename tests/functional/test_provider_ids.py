"""The model provider's tool call ids stay in the transcript unchanged (DESIGN section 3): the stub
server issues 9-character ids and refuses a request carrying any id it did not issue, as some
OpenAI-compatible providers do. Every functional test runs against such a stub; these tests check
the ids themselves, through the real ``openai`` client, across a hook park and resume."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any

import pytest

from factorial_aws import App, ToolContext, hook, tool
from factorial_aws.agents.hooks import hook_type_code
from factorial_aws.core import ids
from factorial_aws.core.records import Message, ToolCall
from factorial_aws.errors import ModelError
from factorial_aws.llm.base import ModelRequest
from factorial_aws.llm.openai_client import OpenAIModel
from factorial_aws.testing import StubOpenAIServer, call, text_reply, tool_calls_reply
from tests.functional.apps import Approval, agent, ask_manager, last
from tests.functional.conftest import HarnessFactory

SEEN: dict[str, Any] = {}


@tool
def pay_once(
    amount: int, approval: Annotated[Approval, hook.requires(ask_manager)], ctx: ToolContext
) -> str:
    """Pay once a manager approves; remembers the keys it was given."""
    SEEN["pay_once"] = (ctx.tool_call_id, ctx.call_key, ctx.idempotency_key)
    return f"paid {amount}"


@tool
def note(text: str, ctx: ToolContext) -> str:
    """A plain tool next to the gated one."""
    SEEN["note"] = (ctx.tool_call_id, ctx.call_key, ctx.idempotency_key)
    return f"noted {text}"


def _rule(body: dict[str, Any]) -> Any:
    if last(body)["role"] == "tool":
        return text_reply("done")
    return tool_calls_reply(call("note", text="hi"), call("pay_once", amount=7))


def test_provider_ids_round_trip_unchanged_across_a_hook_park_and_resume(
    make_harness: HarnessFactory, stub: tuple[StubOpenAIServer, Any]
) -> None:
    server, _rules = stub
    SEEN.clear()
    h = make_harness(App([agent("payer", pay_once, note)]), _rule)
    task_id = h.create("payer", "pay 7")
    h.run_turns()
    (pending,) = h.task(task_id)["pending_hooks"]
    assert h.resolve(pending["hook_id"], {"approved": True, "reviewer": "ann"}).status == 200
    h.run_turns()
    assert h.task(task_id)["status"] == "completed", h.task(task_id)
    assert [r.status for r in server.log] == [200, 200]  # the follow-up was not refused

    issued = server.issued_call_ids
    assert len(issued) == 2 and all(re.fullmatch("[A-Za-z0-9]{9}", i) for i in issued)
    first, follow_up = server.requests
    (assistant,) = [m for m in follow_up["messages"] if m["role"] == "assistant"]
    sent_ids = [c["id"] for c in assistant["tool_calls"]]
    assert set(sent_ids) == issued  # the ids went back as the provider issued them
    answered = [m["tool_call_id"] for m in follow_up["messages"] if m["role"] == "tool"]
    assert sorted(answered) == sorted(sent_ids)
    assert "tool_calls" not in str(first["messages"])

    # the tools saw the provider's id, and a key derived from the call, not from that id
    note_id, pay_id = sent_ids
    args = {c["id"]: c["function"]["arguments"] for c in assistant["tool_calls"]}
    key_pay = ids.tool_call_key(1, 1, "pay_once", args[pay_id])
    assert SEEN["pay_once"] == (pay_id, key_pay, f"{task_id}:{key_pay}")
    key_note = ids.tool_call_key(1, 0, "note", args[note_id])
    assert SEEN["note"] == (note_id, key_note, f"{task_id}:{key_note}")
    # the hook's session id comes from the key: a replay with other provider ids finds it again
    session = ids.hook_session_id(task_id, key_pay, "pay_once")
    secret = h.secret
    assert pending["hook_id"] == ids.hook_id(session, "approval", secret, hook_type_code(Approval))
    events = h.http("GET", f"/tasks/{task_id}/events", query={"limit": "500"}).json()["events"]
    results = {
        e["data"]["tool"]: e["data"]["tool_call_id"] for e in events if e["kind"] == "tool_result"
    }
    assert results == {"note": note_id, "pay_once": pay_id}


def test_the_stub_refuses_ids_it_did_not_issue_through_the_real_client() -> None:
    """What the test above would see if the transcript rewrote the ids: a refused request."""

    async def go(server: StubOpenAIServer) -> None:
        model = OpenAIModel(api_key="sk-test", base_url=server.base_url)
        ask = ModelRequest(model="m", messages=(Message.user("add"),), tools=())
        reply = (await model.complete(ask)).message
        (issued,) = reply.tool_calls
        assert re.fullmatch("[A-Za-z0-9]{9}", issued.id)

        def follow_up(call_id: str) -> ModelRequest:
            asked = Message(
                role="assistant",
                tool_calls=(ToolCall(id=call_id, name="add", arguments=issued.arguments),),
            )
            return ModelRequest(
                model="m", messages=(*ask.messages, asked, Message.tool(call_id, "3")), tools=()
            )

        with pytest.raises(ModelError, match="not issued"):
            await model.complete(follow_up(ids.tool_call_key(1, 0, "add", issued.arguments)))
        done = await model.complete(follow_up(issued.id))
        assert done.message.content == "3"
        await model.aclose()

    replies = [tool_calls_reply(call("add", a=1, b=2)), text_reply("3")]
    with StubOpenAIServer(replies, provider_call_ids=True, reject_foreign_call_ids=True) as server:
        asyncio.run(go(server))
        assert [r.status for r in server.log] == [200, 400, 200]
