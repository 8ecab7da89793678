"""The OpenAI chat-completions adapter of the model port: :class:`OpenAIModel`.

This is the only module of the package that imports ``openai``; nothing imports it when the package
is imported. It may import ``openai``, ``pydantic``, :mod:`factorial_aws.core.records`,
:mod:`factorial_aws.llm.base` and :mod:`factorial_aws.errors`.

It converts :class:`~factorial_aws.llm.base.ModelRequest` into one ``chat.completions.create``
call, converts the first choice back into an assistant
:class:`~factorial_aws.core.records.Message`, and classifies failures: rate limits, 408, 409, 5xx,
timeouts and connection errors raise :class:`~factorial_aws.errors.ModelRetryableError`; other
provider errors raise :class:`~factorial_aws.errors.ModelError`; an unusable reply raises
:class:`~factorial_aws.errors.ModelResponseError`. Error messages never contain the API key.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any, TypeVar

import openai
import pydantic

from factorial_aws.core.records import Message, ToolCall, ToolDefinition, Usage
from factorial_aws.errors import ModelError, ModelResponseError, ModelRetryableError
from factorial_aws.llm.base import ModelRequest, ModelResponse

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from openai.types.chat import (
        ChatCompletion,
        ChatCompletionFunctionToolParam,
        ChatCompletionMessageParam,
    )
    from openai.types.shared_params.function_definition import FunctionDefinition

_T = TypeVar("_T")

#: Client-side HTTP statuses that may go away by retrying (besides every 5xx).
RETRYABLE_STATUSES = frozenset({408, 409, 429})

_MAX_DETAIL_CHARS = 300
_REDACTED = "***"


class OpenAIModel:
    """A :class:`~factorial_aws.llm.base.ModelClient` backed by the OpenAI chat-completions API
    (or any OpenAI-compatible ``base_url``).

    The ``openai.AsyncOpenAI`` client is built lazily, on the first :meth:`complete`, so
    constructing an ``OpenAIModel`` is cheap and needs no key yet.

    Event loops: an ``AsyncOpenAI`` client pools connections bound to the event loop it first
    ran on, and breaks once that loop is closed. A warm Lambda container calls ``asyncio.run``
    once per invocation, each time with a new loop, and the dev server runs turns on several
    threads, each with its own loop, so the model keeps one client per loop: each client is
    remembered (weakly) with the loop it was created on, built on the first :meth:`complete` on
    that loop and reused by every later one. Its connections are closed cleanly when its loop
    shuts down through
    ``asyncio.run`` / ``asyncio.Runner`` (they close open async generators, one of which owns
    the client), or by :meth:`aclose`. A ``client`` passed in is used as given, on every loop,
    and never closed by the model: its owner manages its loop.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout_s: float = 60.0,
        max_retries: int = 0,
        client: openai.AsyncOpenAI | None = None,
    ) -> None:
        """Configure the model; nothing is connected yet.

        Args:
            api_key: The API key; ``None`` reads ``OPENAI_API_KEY`` (when the client is built).
            base_url: The API base URL; ``None`` reads ``OPENAI_BASE_URL``, else OpenAI's.
            timeout_s: Timeout of one HTTP request, in seconds.
            max_retries: Retries done by the ``openai`` client itself. ``0`` by default: the
                framework retries at the turn level.
            client: A ready client to use instead of building one (then ``api_key``,
                ``base_url``, ``timeout_s`` and ``max_retries`` are not used).
        """
        self._api_key = api_key
        self._base_url = base_url
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._given_client = client
        # per loop: its client, and the async generator that closes it at the loop's shutdown
        self._clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[openai.AsyncOpenAI, AsyncGenerator[None, None]]
        ] = weakref.WeakKeyDictionary()

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Call ``chat.completions.create`` once and return the first choice.

        Args:
            request: The transcript, tools and settings.

        Returns:
            The assistant message, token usage and finish reason.

        Raises:
            ModelRetryableError: Rate limit, 408, 409, 5xx, timeout or connection failure.
            ModelResponseError: The reply has no choice or cannot be converted.
            ModelError: Any other failure (bad request, authentication, missing key...).
        """
        client = await self._get_client()
        try:
            completion = await _create(client, request)
        except openai.OpenAIError as exc:
            raise _classify(exc, self._timeout_s, _secrets(client, self._api_key)) from exc
        return _to_response(completion)

    async def aclose(self) -> None:
        """Close the client this model built on the running loop, if any.

        Clients built on other loops are left alone: their connections belong to those loops.
        """
        built = self._clients.pop(asyncio.get_running_loop(), None)
        if built is not None:
            await built[1].aclose()

    async def _get_client(self) -> openai.AsyncOpenAI:
        if self._given_client is not None:
            return self._given_client
        loop = asyncio.get_running_loop()
        built = self._clients.get(loop)
        if built is not None and not built[0].is_closed():
            return built[0]
        try:
            client = openai.AsyncOpenAI(
                api_key=self._api_key,
                base_url=self._base_url,
                timeout=self._timeout_s,
                max_retries=self._max_retries,
            )
        except openai.OpenAIError as exc:
            message = _shorten(str(exc), _secrets(None, self._api_key))
            raise ModelError(f"cannot create the OpenAI client: {message}") from exc
        # Forget the clients of closed loops (asyncio.run's loop shutdown already closed them), so
        # a warm Lambda container with a new loop per invocation keeps one.
        for old in [old for old in self._clients if old.is_closed()]:
            del self._clients[old]
        closer = _close_on_loop_shutdown(client)
        self._clients[loop] = (client, closer)
        await anext(closer)  # now tracked by the loop, which aclose()s it at shutdown_asyncgens()
        return client


async def _close_on_loop_shutdown(client: openai.AsyncOpenAI) -> AsyncGenerator[None, None]:
    """Suspends until its loop shuts down (or it is closed), then closes ``client``."""
    try:
        yield
    finally:
        await client.close()


async def _create(client: openai.AsyncOpenAI, request: ModelRequest) -> ChatCompletion:
    settings = request.settings
    tools = [_tool_param(tool) for tool in request.tools]
    return await client.chat.completions.create(
        model=request.model,
        messages=[_message_param(message) for message in request.messages],
        tools=tools or openai.omit,
        temperature=_given(settings.temperature),
        top_p=_given(settings.top_p),
        max_tokens=_given(settings.max_tokens),
        parallel_tool_calls=(
            settings.parallel_tool_calls
            if tools and settings.parallel_tool_calls is not None
            else openai.omit
        ),
        tool_choice=_given(settings.tool_choice),
        extra_body=dict(settings.extra) or None,
    )


def _given(value: _T | None) -> _T | openai.Omit:
    return openai.omit if value is None else value


def _message_param(message: Message) -> ChatCompletionMessageParam:
    content = message.content or ""
    if message.role == "system":
        return {"role": "system", "content": content}
    if message.role == "user":
        return {"role": "user", "content": content}
    if message.role == "tool":
        if message.tool_call_id is None:
            raise ModelError("a tool message has no tool_call_id")
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": content}
    if not message.tool_calls:
        return {"role": "assistant", "content": message.content}
    return {
        "role": "assistant",
        "content": message.content,
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in message.tool_calls
        ],
    }


def _tool_param(tool: ToolDefinition) -> ChatCompletionFunctionToolParam:
    function: FunctionDefinition = {
        "name": tool.name,
        "description": tool.description,
        "parameters": tool.parameters,
    }
    if tool.strict:
        function["strict"] = True
    return {"type": "function", "function": function}


def _to_response(completion: ChatCompletion) -> ModelResponse:
    choices = getattr(completion, "choices", None)
    if not choices:
        raise ModelResponseError("the model reply has no choices")
    choice = choices[0]
    try:
        reply = choice.message
        calls: list[ToolCall] = []
        for tool_call in reply.tool_calls or ():
            if tool_call.type != "function":
                raise ModelResponseError(f"unsupported tool call type {tool_call.type!r}")
            function = tool_call.function
            calls.append(
                ToolCall(id=tool_call.id, name=function.name, arguments=function.arguments)
            )
        # A refusal comes with no content: surface it as the answer's text.
        content = reply.content if reply.content is not None else reply.refusal
        message = Message(role="assistant", content=content, tool_calls=tuple(calls))
        usage = completion.usage
        return ModelResponse(
            message=message,
            usage=Usage(
                input_tokens=usage.prompt_tokens if usage else 0,
                output_tokens=usage.completion_tokens if usage else 0,
            ),
            finish_reason=choice.finish_reason,
        )
    except (AttributeError, TypeError, pydantic.ValidationError) as exc:
        raise ModelResponseError(f"cannot convert the model reply: {type(exc).__name__}") from exc


def _classify(exc: openai.OpenAIError, timeout_s: float, secrets: tuple[str, ...]) -> ModelError:
    if isinstance(exc, openai.APITimeoutError):
        return ModelRetryableError(f"model request timed out after {timeout_s:g} s")
    if isinstance(exc, openai.APIConnectionError):
        cause = type(exc.__cause__).__name__ if exc.__cause__ is not None else "unknown cause"
        return ModelRetryableError(f"cannot connect to the model provider ({cause})")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        detail = _provider_message(exc, secrets)
        message = f"model provider returned HTTP {status}: {detail}"
        if status in RETRYABLE_STATUSES or status >= 500:
            return ModelRetryableError(message)
        return ModelError(message)
    if isinstance(exc, openai.APIResponseValidationError):
        return ModelResponseError(f"invalid model reply: {_shorten(exc.message, secrets)}")
    return ModelError(f"model call failed: {type(exc).__name__}: {_shorten(str(exc), secrets)}")


def _provider_message(exc: openai.APIStatusError, secrets: tuple[str, ...]) -> str:
    body: Any = exc.body
    if isinstance(body, dict):
        message = body.get("message")
        if isinstance(message, str) and message:
            return _shorten(message, secrets)
    return _shorten(exc.message, secrets)


def _shorten(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` without any secret, on one line, at most ``_MAX_DETAIL_CHARS`` long."""
    text = " ".join(_redact(text, secrets).split())
    if len(text) > _MAX_DETAIL_CHARS:
        return text[: _MAX_DETAIL_CHARS - 3] + "..."
    return text


def _secrets(client: openai.AsyncOpenAI | None, api_key: str | None) -> tuple[str, ...]:
    keys = {api_key, client.api_key if client is not None else None}
    return tuple(key for key in keys if key)


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, _REDACTED)
    return text
