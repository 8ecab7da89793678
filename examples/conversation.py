"""Reading an OpenAI chat-completions request body, for the examples' stub models.

Each example's ``stub.py`` plays the model from the request alone (no state between calls), the way
a real model sees only the transcript: what the user asked, which tools it already called and what
they answered. These helpers pull those facts out of the request body.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ToolAnswer:
    """A tool call the model made earlier and the tool message that answered it."""

    name: str
    arguments: dict[str, Any]
    content: str

    def json(self) -> Any:
        """The tool message parsed as JSON (``None`` when it is plain text)."""
        try:
            return json.loads(self.content)
        except ValueError:
            return None


def messages(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's messages (system first)."""
    return list(request.get("messages") or [])


def offered_tools(request: dict[str, Any]) -> set[str]:
    """Names of the tools the request offers."""
    return {
        t["function"]["name"] for t in request.get("tools") or [] if t.get("type") == "function"
    }


def user_text(request: dict[str, Any]) -> str:
    """The first user message: the task's input."""
    for message in messages(request):
        if message.get("role") == "user":
            return str(message.get("content") or "")
    return ""


def answers(request: dict[str, Any]) -> list[ToolAnswer]:
    """Every answered tool call so far, oldest first."""
    calls: dict[str, tuple[str, dict[str, Any]]] = {}
    out: list[ToolAnswer] = []
    for message in messages(request):
        for call in message.get("tool_calls") or []:
            fn = call.get("function") or {}
            try:
                args = json.loads(fn.get("arguments") or "{}")
            except ValueError:
                args = {}
            calls[call["id"]] = (fn.get("name", ""), args if isinstance(args, dict) else {})
        if message.get("role") == "tool":
            name, args = calls.get(message.get("tool_call_id", ""), ("", {}))
            out.append(ToolAnswer(name, args, str(message.get("content") or "")))
    return out


def latest(request: dict[str, Any]) -> list[ToolAnswer]:
    """The tool answers that end the transcript (what the model must react to now)."""
    trailing = 0
    for message in reversed(messages(request)):
        if message.get("role") != "tool":
            break
        trailing += 1
    return answers(request)[-trailing:] if trailing else []
