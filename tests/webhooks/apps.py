"""A deploy gate waiting for GitHub's check_run, and a stack to run it on, for webhook tests."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict

from factorial_aws import Agent, App, Hook, HookRequestContext, PendingHook, hook, tool
from factorial_aws.llm.base import ModelRequest
from factorial_aws.local.stack import LocalStack
from factorial_aws.store.base import StoreSettings
from factorial_aws.testing import FakeClock, ScriptedModel
from factorial_aws.webhooks import github, slack, standard, stripe
from factorial_aws.webhooks.schemes import github as github_scheme

SECRET = b"webhook-tests"
GITHUB_SECRET = "gh-secret-for-tests"
_SHA = re.compile(r"\b([0-9a-f]{40})\b")
_LENIENT = ConfigDict(extra="ignore")


class CheckRun(BaseModel):
    model_config = _LENIENT
    head_sha: str
    conclusion: str | None = None


class CheckRunCompleted(Hook):
    model_config = _LENIENT
    action: Literal["completed"]
    check_run: CheckRun


def wait_for_ci(ctx: HookRequestContext, sha: str) -> PendingHook[CheckRunCompleted]:
    return CheckRunCompleted.pending(
        ctx=ctx,
        title=f"CI on {sha[:7]}",
        timeout_s=600,
        source="github",
        match={"check_run.head_sha": sha},
    )


@tool
def deploy(sha: str, ci: Annotated[CheckRunCompleted, hook.requires(wait_for_ci)]) -> str:
    """Deploy once CI completes."""
    return f"deployed {sha[:7]}: {ci.check_run.conclusion}"


class Model:
    """Calls ``deploy`` with the sha of the request, then repeats the tool's answer."""

    async def complete(self, request: ModelRequest) -> Any:
        tools = [m for m in request.messages if m.role == "tool"]
        if tools:
            step: Any = str(tools[-1].content)
        else:
            sha = _SHA.search(str(request.messages[-1].content))
            step = [ScriptedModel.call("deploy", sha=sha.group(1) if sha else "0" * 40)]
        return await ScriptedModel(step).complete(request)


deployer = Agent(name="deployer", instructions="deploy", model="m", tools=[deploy])


def make_app() -> App:
    return App(
        agents=[deployer],
        webhooks=[github(), stripe(), slack(), standard("acme")],
    )


def make_stack(client: Any, clock: FakeClock | None = None) -> LocalStack:
    return LocalStack(
        make_app(),
        client,
        Model(),
        clock or FakeClock(),
        SECRET,
        "http://x",
        settings=StoreSettings(lease_ms=5000),
        fake_time=True,
    )


def sha(n: int) -> str:
    return f"{n:040x}"


def check_run(head_sha: str, action: str = "completed", **extra: Any) -> dict[str, Any]:
    return {
        "action": action,
        "check_run": {"head_sha": head_sha, "conclusion": "success", "name": "ci", **extra},
        "repository": {"full_name": "octo/app"},
    }


def github_headers(body: bytes, delivery: str | None = "d-1") -> dict[str, str]:
    headers = {
        "X-Hub-Signature-256": github_scheme.sign(GITHUB_SECRET, body),
        "X-GitHub-Event": "check_run",
        "Content-Type": "application/json",
    }
    if delivery is not None:
        headers["X-GitHub-Delivery"] = delivery
    return headers


def body_of(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


def stub_rule(request: dict[str, Any]) -> Any:
    """The same model as :class:`Model`, for the OpenAI-compatible stub server."""
    from examples.conversation import latest, user_text
    from factorial_aws.testing import call, text_reply, tool_calls_reply

    done = latest(request)
    if done:
        return text_reply(done[-1].content)
    found = _SHA.search(user_text(request))
    return tool_calls_reply(call("deploy", sha=found.group(1) if found else "0" * 40))


def run_webhook_life(client: Any) -> None:
    """A delivery before the hook (kept early, resolved at registration), then one routed to
    an open hook: every webhook transition once (needs FACTORIAL_WEBHOOK_SECRET_GITHUB)."""
    clock = FakeClock()
    stack = make_stack(client, clock)
    noise = body_of(check_run(sha(99)))  # nobody waits: kept, then the oldest over a small cap
    assert stack.control.deliver_webhook("github", noise, github_headers(noise, "n")).status == (
        "ignored"
    )
    clock.advance(1)
    body = body_of(check_run(sha(1)))
    early = stack.control.deliver_webhook("github", body, github_headers(body, "early"))
    assert early.status == "ignored"
    first = stack.control.create_task("deployer", f"deploy {sha(1)}").task_id
    second = stack.control.create_task("deployer", f"deploy {sha(2)}").task_id
    stack.run_due()
    stack.run_due()
    body = body_of(check_run(sha(2)))
    routed = stack.control.deliver_webhook("github", body, github_headers(body, "routed"))
    assert routed.status == "resolved", routed
    again = stack.control.deliver_webhook("github", body, github_headers(body, "routed"))
    assert again.status == "idempotent", again
    stack.run_due()
    for task_id in (first, second):
        assert stack.control.get_task(task_id).status == "completed"
