"""Test doubles for the model port: :class:`ScriptedModel` (in process) and
:class:`StubOpenAIServer` (an OpenAI-compatible HTTP server), scripted with the reply helpers of
:mod:`.replies`.

Imports only the standard library and the package's core and model port; never ``openai``,
``redis`` or ``boto3``.
"""

from factorial_aws.testing.clock import FakeClock
from factorial_aws.testing.replies import (
    MAX_DELAY_S,
    CallIdSequence,
    ErrorReply,
    StubReply,
    TextReply,
    ToolCallSpec,
    ToolCallsReply,
    call,
    error_reply,
    raw_call,
    text_reply,
    tool_calls_reply,
)
from factorial_aws.testing.scripted_model import ScriptedModel, ScriptExhausted, Step
from factorial_aws.testing.stub_openai import DefaultReply, RecordedRequest, StubOpenAIServer

__all__ = [
    "MAX_DELAY_S",
    "CallIdSequence",
    "DefaultReply",
    "ErrorReply",
    "FakeClock",
    "RecordedRequest",
    "ScriptExhausted",
    "ScriptedModel",
    "Step",
    "StubOpenAIServer",
    "StubReply",
    "TextReply",
    "ToolCallSpec",
    "ToolCallsReply",
    "call",
    "error_reply",
    "raw_call",
    "text_reply",
    "tool_calls_reply",
]
