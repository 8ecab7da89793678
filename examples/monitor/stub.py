"""A stand-in model for the monitor: check, pause a few seconds, check, wait for the next cron tick,
check, then report every probe and both waits."""

from __future__ import annotations

import re
from typing import Any

from examples.conversation import ToolAnswer, answers, user_text
from examples.monitor.app import EVERY_MINUTE
from factorial_aws.testing import StubReply, call, text_reply, tool_calls_reply

_URL = re.compile(r"https?://\S+[^\s.,;)]")
_GRACE = re.compile(r"(\d+)\s*(?:s|sec|secs|seconds?)\b", re.I)
DEFAULT_GRACE_S = 2


def _report(url: str, done: list[ToolAnswer]) -> str:
    probes = [a.json() or {} for a in done if a.name == "check_service"]
    waits = [a.json() or {} for a in done if a.name in ("pause", "wait_for_next_check")]
    lines = [f"{url}: {len(probes)} checks, all returned HTTP 200."]
    lines += [
        f"- check {i}: {p.get('status')} in {p.get('latency_ms')} ms"
        for i, p in enumerate(probes, 1)
    ]
    for w in waits:
        if w.get("status") == "slept":
            lines.append(f"- paused {w.get('slept_s')} s between checks 1 and 2")
        elif w.get("status") == "cron_tick":
            lines.append(f"- check 3 ran on the cron tick of {w.get('tick')} ({w.get('cron')})")
    return "\n".join(lines)


def stub_reply(request: dict[str, Any]) -> StubReply:
    """One step of the check / pause / check / cron / check plan, then the report."""
    text = user_text(request)
    match = _URL.search(text)
    if match is None:
        return text_reply("Which URL should I watch?")
    url = match.group(0)
    done = answers(request)
    checks = sum(a.name == "check_service" for a in done)
    last = done[-1].name if done else None
    if last is None or last in ("pause", "wait_for_next_check"):
        return tool_calls_reply(call("check_service", url=url))
    if checks == 1:
        grace = _GRACE.search(text)
        return tool_calls_reply(
            call("pause", seconds=int(grace.group(1)) if grace else DEFAULT_GRACE_S)
        )
    if checks == 2:
        return tool_calls_reply(call("wait_for_next_check", cron=EVERY_MINUTE, tz="UTC"))
    return text_reply(_report(url, done))
