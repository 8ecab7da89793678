"""The model port: one method, ``complete``, that takes a transcript and tools and returns one
assistant message. Adapters raise :class:`~factorial_aws.errors.ModelRetryableError` for failures
that may go away (rate limits, 5xx, timeouts, connection errors) and
:class:`~factorial_aws.errors.ModelError` for the rest."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict

from factorial_aws.core.records import Message, ModelSettings, ToolDefinition, Usage


class ModelRequest(BaseModel):
    """One model call."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    model: str
    messages: tuple[Message, ...]
    tools: tuple[ToolDefinition, ...] = ()
    settings: ModelSettings = ModelSettings()


class ModelResponse(BaseModel):
    """The assistant message a model call produced."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    message: Message
    usage: Usage = Usage()
    finish_reason: str | None = None


class ModelClient(Protocol):
    """Anything that can answer a :class:`ModelRequest`."""

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Call the model once."""
        ...
