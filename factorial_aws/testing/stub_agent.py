"""A stand-in model for running any app without an API key: it calls one tool, then finishes.

``stub_agent_reply`` answers an OpenAI chat-completions request body (use it as the
``default_reply`` of :class:`~factorial_aws.testing.StubOpenAIServer`, so the real ``openai``
client is exercised). Behaviour, in order:

1. the last message is a tool result: reply with text quoting it ("Done. <tool result>");
   with a ``final_output`` tool offered, call it with arguments built from its schema instead;
2. otherwise call one tool: the first tool whose name appears in the last user message, else
   the first tool offered; its arguments are taken from the first JSON object in the last user
   message (``Pay {"amount_cents": 1250, "iban": "DE89..."}``), for the parameters it names, and
   built from the tool's JSON schema for the others (the first enum value, ``"example"`` for
   strings, the minimum or 1 for numbers, ``true``, one-item arrays);
3. no tools: echo the user's message.

It is a demo device, not a model: with ``OPENAI_API_KEY`` set, the dev server uses OpenAI.
"""

from __future__ import annotations

import json
from typing import Any

from factorial_aws.testing.replies import StubReply, call, text_reply, tool_calls_reply

FINAL_OUTPUT = "final_output"
_MAX_DEPTH = 8


def example_value(schema: dict[str, Any], defs: dict[str, Any], depth: int = 0) -> Any:
    """A small value that validates against ``schema`` (the subset pydantic emits)."""
    if depth > _MAX_DEPTH:
        return None
    if "$ref" in schema:
        return example_value(defs.get(schema["$ref"].rsplit("/", 1)[-1], {}), defs, depth + 1)
    for key in ("const", "default"):
        if key in schema:
            return schema[key]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        options = [o for o in schema.get(key, []) if o.get("type") != "null"]
        if options:
            return example_value(options[0], defs, depth + 1)
    return _typed_value(schema, defs, depth)


def _typed_value(schema: dict[str, Any], defs: dict[str, Any], depth: int) -> Any:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        return {
            name: example_value(prop, defs, depth + 1)
            for name, prop in schema.get("properties", {}).items()
            if name in schema.get("required", []) or "default" not in prop
        }
    if kind == "array":
        return [example_value(schema.get("items", {}), defs, depth + 1)]
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)
        return int(low) if kind == "integer" else float(low)
    return {"boolean": True, "string": "example"}.get(str(kind))


def _arguments(tool: dict[str, Any], given: dict[str, Any] | None = None) -> dict[str, Any]:
    params = tool.get("function", {}).get("parameters") or {}
    value = example_value(params, params.get("$defs", {}))
    arguments = value if isinstance(value, dict) else {}
    named = params.get("properties") or {}
    return {**arguments, **{k: v for k, v in (given or {}).items() if k in named}}


def json_object_in(text: str) -> dict[str, Any]:
    """The first JSON object written in ``text`` (``{}`` when there is none)."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(text, start)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    return {}


def stub_agent_reply(request: dict[str, Any]) -> StubReply:
    """The stub's answer to one chat-completions request body."""
    messages = request.get("messages") or [{}]
    last = messages[-1]
    tools = [t for t in request.get("tools") or [] if t.get("type") == "function"]
    final = next((t for t in tools if t["function"]["name"] == FINAL_OUTPUT), None)
    if last.get("role") == "tool":
        if final is not None:
            return tool_calls_reply(call(FINAL_OUTPUT, **_arguments(final)))
        return text_reply(f"Done. {last.get('content') or ''}".strip())
    offered = [t for t in tools if t["function"]["name"] != FINAL_OUTPUT]
    if not offered:
        if final is not None:
            return tool_calls_reply(call(FINAL_OUTPUT, **_arguments(final)))
        return text_reply(f"You said: {last.get('content') or ''}")
    text = str(last.get("content") or "")
    chosen = next((t for t in offered if t["function"]["name"] in text), offered[0])
    arguments = _arguments(chosen, json_object_in(text))
    return tool_calls_reply(call(chosen["function"]["name"], **arguments))
