"""OpenAIModel through the real ``openai`` client against the stub server: request and reply shapes,
error classification (retryable or not), key redaction, and reuse across ``asyncio.run`` calls."""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import time
from typing import Any

import pytest

from factorial_aws.core.records import Message, ModelSettings, ToolCall, ToolDefinition, Usage
from factorial_aws.errors import ModelError, ModelResponseError, ModelRetryableError
from factorial_aws.llm.base import ModelRequest, ModelResponse
from factorial_aws.llm.openai_client import OpenAIModel
from factorial_aws.testing import (
    StubOpenAIServer,
    call,
    error_reply,
    raw_call,
    text_reply,
    tool_calls_reply,
)

API_KEY = "sk-test-4f9c2b7e1d0a-secret"

ADD_TOOL = ToolDefinition(
    name="add",
    description="Add two integers.",
    parameters={
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
        "additionalProperties": False,
    },
    strict=True,
)
NOTE_TOOL = ToolDefinition(
    name="note", description="Write a note.", parameters={"type": "object", "properties": {}}
)


def _request(*messages: Message, **kwargs: Any) -> ModelRequest:
    return ModelRequest(model="gpt-test", messages=messages or (Message.user("hi"),), **kwargs)


def _complete(model: OpenAIModel, request: ModelRequest) -> ModelResponse:
    return asyncio.run(model.complete(request))


def _model(stub: StubOpenAIServer, **kwargs: Any) -> OpenAIModel:
    return OpenAIModel(api_key=API_KEY, base_url=stub.base_url, **kwargs)


def test_tool_call_round_trip_has_the_openai_shape_both_ways() -> None:
    replies = [
        tool_calls_reply(call("add", a=2, b=3), raw_call("note", '{"text": "x"', call_id="own-id")),
        tool_calls_reply(call("add", a=1, b=1)),
    ]
    with StubOpenAIServer(replies) as stub:
        model = _model(stub)
        first = _complete(model, _request(tools=(ADD_TOOL, NOTE_TOOL)))

        assert first.finish_reason == "tool_calls"
        assert first.message.role == "assistant"
        assert first.message.content is None
        assert first.message.tool_calls == (
            ToolCall(id="call_1", name="add", arguments='{"a": 2, "b": 3}'),
            ToolCall(id="own-id", name="note", arguments='{"text": "x"'),
        )

        transcript = (
            Message(role="system", content="be brief"),
            Message.user("add 2 and 3"),
            first.message,
            Message.tool("call_1", "5"),
            Message.tool("own-id", "noted"),
        )
        second = _complete(model, _request(*transcript, tools=(ADD_TOOL,)))
        # ids stay unique across the server's life
        assert [c.id for c in second.message.tool_calls] == ["call_2"]

        body = stub.requests[1]
    assert body["model"] == "gpt-test"
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "add",
                "description": "Add two integers.",
                "parameters": ADD_TOOL.parameters,
                "strict": True,
            },
        }
    ]
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "add 2 and 3"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'},
                },
                {
                    "id": "own-id",
                    "type": "function",
                    "function": {"name": "note", "arguments": '{"text": "x"'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "5"},
        {"role": "tool", "tool_call_id": "own-id", "content": "noted"},
    ]
    assert "parallel_tool_calls" not in body


def test_non_strict_tool_omits_strict_and_no_tools_omits_tools() -> None:
    with StubOpenAIServer([text_reply("a"), text_reply("b")]) as stub:
        model = _model(stub)
        _complete(model, _request(tools=(NOTE_TOOL,)))
        _complete(model, _request(settings=ModelSettings(parallel_tool_calls=False)))
        with_tool, without_tools = stub.requests
    assert with_tool["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "note",
                "description": "Write a note.",
                "parameters": {"type": "object", "properties": {}},
            },
        }
    ]
    assert "tools" not in without_tools
    assert "parallel_tool_calls" not in without_tools  # only sent along with tools


def test_settings_are_sent_only_when_set_and_extra_is_merged_into_the_body() -> None:
    settings = ModelSettings(
        temperature=0.2,
        top_p=0.9,
        max_tokens=64,
        parallel_tool_calls=False,
        tool_choice="required",
        extra={"seed": 7, "reasoning_effort": "low"},
    )
    with StubOpenAIServer([text_reply("a"), text_reply("b")]) as stub:
        model = _model(stub)
        _complete(model, _request(tools=(ADD_TOOL,), settings=settings))
        _complete(model, _request())
        tuned, plain = stub.requests
    assert {k: tuned[k] for k in settings.model_dump(exclude={"extra"})} == {
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 64,
        "parallel_tool_calls": False,
        "tool_choice": "required",
    }
    assert tuned["seed"] == 7
    assert tuned["reasoning_effort"] == "low"
    assert set(plain) == {"model", "messages"}


def test_text_reply_and_usage() -> None:
    with StubOpenAIServer(
        [text_reply("the answer", usage=Usage(input_tokens=12, output_tokens=3))]
    ) as stub:
        response = _complete(_model(stub), _request())
        (entry,) = stub.log
    assert response == ModelResponse(
        message=Message(role="assistant", content="the answer"),
        usage=Usage(input_tokens=12, output_tokens=3),
        finish_reason="stop",
    )
    assert entry.authorized


def test_api_key_and_base_url_come_from_the_openai_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with StubOpenAIServer([text_reply("from env")]) as stub:
        monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url)
        response = _complete(OpenAIModel(), _request())
        assert stub.log[0].authorized
    assert response.message.content == "from env"


def test_a_missing_key_fails_at_the_first_call_not_at_construction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_ADMIN_KEY", raising=False)
    model = OpenAIModel(base_url="http://127.0.0.1:9/v1")  # cheap: no client, no key check yet
    with pytest.raises(ModelError) as info:
        _complete(model, _request())
    assert not isinstance(info.value, ModelRetryableError)


@pytest.mark.parametrize("status", [408, 409, 429, 500, 503])
def test_retryable_statuses_raise_model_retryable_error(status: int) -> None:
    with (
        StubOpenAIServer([error_reply(status, "try again later")]) as stub,
        pytest.raises(ModelRetryableError) as info,
    ):
        _complete(_model(stub), _request())
    assert info.value.retryable
    assert str(status) in info.value.message
    assert "try again later" in info.value.message


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_raise_model_error_that_is_not_retryable(status: int) -> None:
    with (
        StubOpenAIServer([error_reply(status, "you did it wrong")]) as stub,
        pytest.raises(ModelError) as info,
    ):
        _complete(_model(stub), _request())
    assert not isinstance(info.value, ModelRetryableError)
    assert not info.value.retryable
    assert str(status) in info.value.message
    assert "you did it wrong" in info.value.message


def test_the_api_key_never_appears_in_error_messages() -> None:
    echo = f"Incorrect API key provided: {API_KEY}. Find your key at https://example.invalid"
    with StubOpenAIServer([error_reply(401, echo), error_reply(500, echo * 20)]) as stub:
        model = _model(stub)
        errors = []
        for _ in range(2):
            with pytest.raises(ModelError) as info:
                _complete(model, _request())
            errors.append(info.value)
    for error in errors:
        assert API_KEY not in str(error)
        assert API_KEY[:12] not in error.message  # not even a truncated piece of it
        assert "Incorrect API key provided: ***" in error.message
    assert len(errors[1].message) < 400  # the provider message is shortened


def test_timeout_is_retryable() -> None:
    # stopping the stub cuts its delay short, so a long delay costs nothing at teardown
    with StubOpenAIServer([text_reply("too late", delay_s=1.0)]) as stub:
        started = time.monotonic()
        with pytest.raises(ModelRetryableError, match="timed out"):
            _complete(_model(stub, timeout_s=0.1), _request())
        assert time.monotonic() - started < 0.9  # the client gave up, it did not wait


def test_connection_refused_is_retryable() -> None:
    with socket.socket() as sock:  # a port that was just free, now closed: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    model = OpenAIModel(api_key=API_KEY, base_url=f"http://127.0.0.1:{port}/v1", timeout_s=2)
    with pytest.raises(ModelRetryableError, match="connect") as info:
        _complete(model, _request())
    assert API_KEY not in str(info.value)


def test_an_exhausted_script_answers_500_and_is_recorded() -> None:
    with StubOpenAIServer() as stub:
        with pytest.raises(ModelRetryableError, match="stub script exhausted"):
            _complete(_model(stub), _request(Message.user("anyone?")))
        (entry,) = stub.log
        assert stub.requests == [
            {"model": "gpt-test", "messages": [{"role": "user", "content": "anyone?"}]}
        ]
    assert entry.status == 500


def test_a_reply_without_choices_is_a_response_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with StubOpenAIServer([text_reply("x")]) as stub:
        original = StubOpenAIServer._completion

        def no_choices(self: StubOpenAIServer, body: dict[str, Any], reply: Any) -> dict[str, Any]:
            return {**original(self, body, reply), "choices": []}

        monkeypatch.setattr(StubOpenAIServer, "_completion", no_choices)
        with pytest.raises(ModelResponseError, match="no choices"):
            _complete(_model(stub), _request())


def test_one_instance_serves_successive_asyncio_run_calls_and_closes_each_loops_connections() -> (
    None
):
    with StubOpenAIServer([text_reply("first"), text_reply("second"), text_reply("third")]) as stub:
        model = _model(stub)
        answers = []
        for _ in range(3):  # like warm Lambda invocations, each with its own event loop
            answers.append(_complete(model, _request()).message.content)
            # the keep-alive connection of the finished loop was closed, not leaked
            _wait_until(lambda: stub.open_connections == 0)
        gc.collect()  # a leaked transport would raise ResourceWarning (an error here)
    assert answers == ["first", "second", "third"]


def test_two_calls_on_one_loop_share_the_client_and_its_connection() -> None:
    async def twice(model: OpenAIModel) -> list[str | None]:
        first = await model.complete(_request())
        second = await model.complete(_request())
        opened = stub.open_connections
        await model.aclose()
        assert opened == 1
        return [first.message.content, second.message.content]

    with StubOpenAIServer([text_reply("a"), text_reply("b")]) as stub:
        assert asyncio.run(twice(_model(stub))) == ["a", "b"]
        _wait_until(lambda: stub.open_connections == 0)


def test_loops_taking_turns_each_keep_their_own_client() -> None:
    """The dev server's turn workers: one loop each, calls interleaved; no client is rebuilt."""
    replies = [text_reply(str(i)) for i in range(6)]
    with StubOpenAIServer(replies) as stub:
        model = _model(stub)
        loops = [asyncio.new_event_loop(), asyncio.new_event_loop()]
        try:
            answers = [
                loops[i % 2].run_until_complete(model.complete(_request())).message.content
                for i in range(6)
            ]
            # one kept-alive connection per loop: a rebuilt client would open another each time
            assert stub.open_connections == 2
        finally:
            for loop in loops:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()
        _wait_until(lambda: stub.open_connections == 0)
        gc.collect()
    assert answers == [str(i) for i in range(6)]


def test_default_reply_drives_the_stub_when_the_script_is_empty() -> None:
    def echo(body: dict[str, Any]) -> Any:
        return text_reply("echo: " + body["messages"][-1]["content"])

    with StubOpenAIServer([text_reply("scripted")], default_reply=echo) as stub:
        model = _model(stub)
        assert _complete(model, _request()).message.content == "scripted"
        assert _complete(model, _request(Message.user("ping"))).message.content == "echo: ping"
        assert json.dumps(stub.requests[1]).count("ping") == 1


def _wait_until(condition: Any, timeout_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)
