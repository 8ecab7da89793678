"""ScriptedModel: answers steps in order, records every request, raises scripted errors, and says
loudly when its script runs out."""

from __future__ import annotations

import asyncio

import pytest

from factorial_aws.core.records import Message, ToolCall, Usage
from factorial_aws.errors import ModelRetryableError
from factorial_aws.llm.base import ModelClient, ModelRequest, ModelResponse
from factorial_aws.testing import (
    ScriptedModel,
    ScriptExhausted,
    raw_call,
    text_reply,
    tool_calls_reply,
)


def _ask(model: ModelClient, text: str) -> ModelResponse:
    request = ModelRequest(model="m", messages=(Message.user(text),))
    return asyncio.run(model.complete(request))


def test_steps_are_answered_in_order_and_every_request_is_recorded() -> None:
    explicit = ToolCall(id="mine", name="lookup", arguments="{}")
    model = ScriptedModel(
        [ScriptedModel.call("add", a=1, b=2), ScriptedModel.raw_call("add", "{not json")],
        lambda request: f"you said {request.messages[-1].content}",
        Message(role="assistant", content="fixed"),
        [explicit],
        tool_calls_reply(raw_call("x", {"k": 1}), content="calling"),
        text_reply("counted", usage=Usage(input_tokens=3, output_tokens=1)),
    )
    answers = [_ask(model, f"q{i}") for i in range(6)]

    first = answers[0]
    assert first.finish_reason == "tool_calls"
    assert first.message.tool_calls == (
        ToolCall(id="call_1", name="add", arguments='{"a": 1, "b": 2}'),
        ToolCall(id="call_2", name="add", arguments="{not json"),
    )
    assert answers[1].message.content == "you said q1"
    assert answers[1].finish_reason == "stop"
    assert answers[2].message == Message(role="assistant", content="fixed")
    assert answers[3].message.tool_calls == (explicit,)
    assert answers[4].message.content == "calling"
    assert answers[4].message.tool_calls[0] == ToolCall(id="call_3", name="x", arguments='{"k": 1}')
    assert answers[5].usage == Usage(input_tokens=3, output_tokens=1)
    assert [r.messages[-1].content for r in model.requests] == [f"q{i}" for i in range(6)]
    assert model.remaining == 0


def test_a_scripted_exception_is_raised_and_the_request_still_recorded() -> None:
    model = ScriptedModel(ModelRetryableError("rate limited"), "recovered")
    with pytest.raises(ModelRetryableError, match="rate limited"):
        _ask(model, "first")
    assert _ask(model, "second").message.content == "recovered"
    assert len(model.requests) == 2


def test_exhaustion_raises_script_exhausted_naming_the_call() -> None:
    model = ScriptedModel("only")
    _ask(model, "one")
    with pytest.raises(ScriptExhausted, match=r"call #2 .*'two'"):
        _ask(model, "two")
    assert len(model.requests) == 2
    model.enqueue("more")
    assert _ask(model, "three").message.content == "more"


def test_non_assistant_messages_are_rejected() -> None:
    with pytest.raises(TypeError, match="assistant"):
        _ask(ScriptedModel(Message.user("not me")), "q")
