"""A stand-in model: finds ``owner/repo`` and a commit sha, calls ``deploy_when_green``, reports."""

from __future__ import annotations

import re
from typing import Any

from examples.conversation import latest, user_text
from factorial_aws.testing import StubReply, call, text_reply, tool_calls_reply

_REPO = re.compile(r"\b([\w.-]+/[\w.-]+)\b")
_SHA = re.compile(r"\b([0-9a-f]{40})\b")


def stub_reply(request: dict[str, Any]) -> StubReply:
    """``"Deploy octo/app at <sha> once CI is green."`` -> the tool call; then its result."""
    done = latest(request)
    if done:
        return text_reply(f"Result: {done[-1].content}")
    text = user_text(request)
    repo, sha = _REPO.search(text), _SHA.search(text)
    if repo is None or sha is None:
        return text_reply("Which repository (owner/name) and which full commit sha?")
    return tool_calls_reply(call("deploy_when_green", repo=repo.group(1), sha=sha.group(1)))
