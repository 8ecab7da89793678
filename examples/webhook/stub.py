"""A stand-in model for the webhook example: it finds ``owner/repo`` and a commit sha in the
request, calls ``deploy_when_green`` (which parks until GitHub's webhook arrives), and reports."""

from __future__ import annotations

import re
from typing import Any

from examples.conversation import latest, user_text
from factorial_aws.testing import StubReply, call, text_reply, tool_calls_reply

_REPO = re.compile(r"\b([\w.-]+/[\w.-]+)\b")
_SHA = re.compile(r"\b([0-9a-f]{40})\b")


def stub_reply(request: dict[str, Any]) -> StubReply:
    """``"Deploy Codertocat/Hello-World at ec26c3e... once CI is green."`` -> the tool call."""
    done = latest(request)
    if done:
        result = done[-1].content
        if result.startswith("deployed "):
            return text_reply(f"Done: {result}.")
        return text_reply(f"I did not deploy: {result}")
    text = user_text(request)
    repo, sha = _REPO.search(text), _SHA.search(text)
    if repo is None or sha is None:
        return text_reply("Which repository (owner/name) and which full commit sha?")
    return tool_calls_reply(call("deploy_when_green", repo=repo.group(1), sha=sha.group(1)))
