"""A stand-in model for the research fan-out. It plays both agents, telling them apart by the
tools the request offers: the lead splits the question into topics and calls ``research``; each
researcher calls ``search_notes`` and writes its notes; the lead then summarises the notes."""

from __future__ import annotations

import re
from typing import Any

from examples.conversation import latest, offered_tools, user_text
from factorial_aws.testing import StubReply, call, text_reply, tool_calls_reply

_LEAD_IN = re.compile(r"^\s*(?:please\s+)?(?:compare|research|look into)\s+", re.I)
_TAIL = re.compile(r"(?:\s+for\b.*|[.?!]+)\s*$", re.I | re.S)
_SPLIT = re.compile(r"\s*,\s*(?:and\s+)?|\s+and\s+", re.I)


def topics_of(question: str) -> list[str]:
    """``"Compare Valkey, SQS and EventBridge Scheduler for our design."`` -> three topics."""
    body = question.split(":", 1)[1] if ":" in question else _LEAD_IN.sub("", question)
    return [t.strip() for t in _SPLIT.split(_TAIL.sub("", body)) if t.strip()]


def _researcher(request: dict[str, Any]) -> StubReply:
    topic = user_text(request).removeprefix("Research:").strip()
    done = latest(request)
    if not done:
        return tool_calls_reply(call("search_notes", topic=topic))
    notes = done[-1].json() or []
    return text_reply(f"{topic}: " + "; ".join(str(n) for n in notes) + ".")


def _lead(request: dict[str, Any]) -> StubReply:
    done = latest(request)
    if not done:
        topics = topics_of(user_text(request))
        if not topics:
            return text_reply("Which topics should I research?")
        return tool_calls_reply(call("research", topics=topics))
    joined = done[-1].json() or {}
    children = joined.get("children") or []
    finished = [c for c in children if c.get("status") == "completed"]
    lines = [f"Summary of {len(finished)} of {len(children)} researchers:"]
    lines += [f"- {c.get('output')}" for c in finished]
    lines += [
        f"- (a researcher {c.get('status')}: {c.get('error')})"
        for c in children
        if c not in finished
    ]
    return text_reply("\n".join(lines))


def stub_reply(request: dict[str, Any]) -> StubReply:
    """Answer as the researcher or as the lead, whichever the request is for."""
    if "search_notes" in offered_tools(request):
        return _researcher(request)
    return _lead(request)
