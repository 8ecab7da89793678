"""Deploy a commit once GitHub reports its check run completed: a webhook source routes the event.

GitHub is configured once, with one URL for the whole repository (``POST /webhooks/github``) and a
secret; every hook that waits for CI says which commit it waits for
(``match={"check_run.head_sha": sha, "repository.full_name": repo}``). The framework verifies
``X-Hub-Signature-256``, finds the hooks waiting for that commit, validates the event by the
hook's type (``action: Literal["completed"]``: the ``created`` and ``in_progress`` events of the
same check run are ignored and the hook stays open) and resolves them. Events for other commits,
or nobody, are answered ``200 ignored`` so GitHub does not retry them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict

from factorial_aws import (
    Agent,
    App,
    Hook,
    HookRequestContext,
    PendingHook,
    ToolResult,
    hook,
    tool,
    webhooks,
)

_LENIENT = ConfigDict(extra="ignore")  # GitHub sends hundreds of fields; keep the few we read


class CheckRun(BaseModel):
    model_config = _LENIENT

    name: str
    head_sha: str
    conclusion: str | None = None
    html_url: str = ""


class CheckRunCompleted(Hook):
    """A GitHub ``check_run`` event with ``action: completed``."""

    model_config = _LENIENT

    action: Literal["completed"]
    check_run: CheckRun


def wait_for_ci(ctx: HookRequestContext, repo: str, sha: str) -> PendingHook[CheckRunCompleted]:
    """Wait for the ``completed`` check run of ``sha`` in ``repo`` (delivered to
    ``/webhooks/github``)."""
    return CheckRunCompleted.pending(
        ctx=ctx,
        title=f"CI for {repo}@{sha[:7]}",
        body="Waiting for GitHub's check_run webhook (completed).",
        timeout_s=2 * 3600,
        source="github",
        match={"check_run.head_sha": sha, "repository.full_name": repo},
    )


@tool
def deploy_when_green(
    repo: str, sha: str, ci: Annotated[CheckRunCompleted, hook.requires(wait_for_ci)]
) -> str | ToolResult:
    """Deploy ``sha`` of ``repo`` once its CI check run has completed successfully."""
    if ci.check_run.conclusion != "success":
        return tool.fail(f"check {ci.check_run.name!r} concluded {ci.check_run.conclusion}")
    return f"deployed {repo}@{sha[:7]} (check {ci.check_run.name!r} passed)"


deployer = Agent(
    name="deployer",
    instructions="You deploy commits. Use deploy_when_green; it waits for CI.",
    model="gpt-4.1-mini",
    tools=[deploy_when_green],
)

app = App(agents=[deployer], webhooks=[webhooks.github()])
