"""A :class:`~factorial_aws.llm.base.ModelClient` that answers from a script, in process, for tests.

Imports only the standard library, :mod:`factorial_aws.core`, :mod:`factorial_aws.llm.base` and
:mod:`factorial_aws.testing.replies`; never ``openai``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import TypeAlias

from factorial_aws.core.records import Message, ToolCall, Usage
from factorial_aws.llm.base import ModelRequest, ModelResponse
from factorial_aws.testing.replies import (
    CallIdSequence,
    TextReply,
    ToolCallSpec,
    ToolCallsReply,
    call,
    raw_call,
)

#: A step that needs no request to be produced.
StaticStep: TypeAlias = (
    str
    | Message
    | ModelResponse
    | TextReply
    | ToolCallsReply
    | ToolCall
    | ToolCallSpec
    | Sequence[ToolCall | ToolCallSpec]
    | BaseException
)
#: One entry of a :class:`ScriptedModel` script.
Step: TypeAlias = StaticStep | Callable[[ModelRequest], StaticStep]


class ScriptExhausted(AssertionError):
    """The scripted model was called once more than its script has steps."""


class ScriptedModel:
    """Answers each :meth:`complete` call with the next step of its script.

    A step is one of:

    - ``str``: a final text answer;
    - a :class:`~factorial_aws.core.records.Message` (role ``assistant``) or a full
      :class:`~factorial_aws.llm.base.ModelResponse`, returned as-is;
    - a :class:`~factorial_aws.testing.replies.TextReply` or
      :class:`~factorial_aws.testing.replies.ToolCallsReply` (the replies the HTTP stub serves);
    - a list or tuple of tool calls (:class:`~factorial_aws.core.records.ToolCall` records, or
      :class:`~factorial_aws.testing.replies.ToolCallSpec` from :meth:`call`/:meth:`raw_call`,
      whose missing ids become ``call_1``, ``call_2``..., unique over this model's life), or one
      such call alone;
    - an exception instance, raised (e.g. ``ModelRetryableError("429")``);
    - a callable ``(ModelRequest) -> step`` (any step above but another callable), for replies
      that depend on the request.

    Every request is recorded in :attr:`requests`, including the one that finds the script
    exhausted, which raises :class:`ScriptExhausted`.

    Example::

        model = ScriptedModel(
            [ScriptedModel.call("search", query="x")],
            "done",
        )
    """

    call = staticmethod(call)
    raw_call = staticmethod(raw_call)

    def __init__(self, *steps: Step) -> None:
        """Create the model.

        Args:
            *steps: The script, answered in order.
        """
        self._steps: deque[Step] = deque(steps)
        self._ids = CallIdSequence()
        self.requests: list[ModelRequest] = []

    def enqueue(self, *steps: Step) -> None:
        """Append ``steps`` to the script."""
        self._steps.extend(steps)

    @property
    def remaining(self) -> int:
        """How many steps are left."""
        return len(self._steps)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Record ``request`` and answer with the next step.

        Raises:
            ScriptExhausted: The script has no step left.
            BaseException: Whatever exception the step is.
        """
        self.requests.append(request)
        if not self._steps:
            raise ScriptExhausted(
                f"scripted model exhausted: call #{len(self.requests)} has no scripted step "
                f"(last message: {_describe(request)})"
            )
        step = self._steps.popleft()
        if callable(step) and not isinstance(step, BaseException):
            step = step(request)
        return self._respond(step)

    def _respond(self, step: StaticStep) -> ModelResponse:
        if isinstance(step, BaseException):
            raise step
        if isinstance(step, ModelResponse):
            return step
        if isinstance(step, str):
            return _response(Message(role="assistant", content=step), None)
        if isinstance(step, Message):
            if step.role != "assistant":
                raise TypeError(f"a scripted message must be an assistant message, not {step.role}")
            return _response(step, None)
        if isinstance(step, TextReply):
            return _response(Message(role="assistant", content=step.content), step.usage)
        if isinstance(step, ToolCallsReply):
            message = self._calls_message(step.calls, step.content)
            return _response(message, step.usage)
        if isinstance(step, ToolCall | ToolCallSpec):
            return _response(self._calls_message((step,), None), None)
        if not isinstance(step, list | tuple):
            raise TypeError(f"unsupported scripted step: {step!r}")
        return _response(self._calls_message(step, None), None)

    def _calls_message(
        self, calls: Sequence[ToolCall | ToolCallSpec], content: str | None
    ) -> Message:
        if not calls:
            raise TypeError("a tool-calls step needs at least one call")
        records = tuple(self._ids.resolve(spec) for spec in calls)
        return Message(role="assistant", content=content, tool_calls=records)


def _response(message: Message, usage: Usage | None) -> ModelResponse:
    return ModelResponse(
        message=message,
        usage=usage or Usage(),
        finish_reason="tool_calls" if message.tool_calls else "stop",
    )


def _describe(request: ModelRequest) -> str:
    if not request.messages:
        return "none"
    last = request.messages[-1]
    text = (last.content or "")[:80]
    return f"{last.role}: {text!r}"
