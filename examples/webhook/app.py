"""Deploy a commit once GitHub says its CI check passed: a hook resolved by an external webhook.

The hook's payload type is a GitHub ``check_run`` event, but it declares only the few fields the
tool needs; ``extra="ignore"`` (on the hook and on the nested models) lets GitHub send its whole
payload (hundreds of fields) and keeps only those. ``action`` and ``status`` are ``Literal``, so an
earlier ``check_run`` event for the same commit (``created``, ``in_progress``) is refused with 422
and leaves the hook open for the ``completed`` one.

Point a GitHub webhook (content type ``application/json``, event "Check runs") at the hook's
capability URL: ``pending.submit_url + "?token=" + pending.token`` (GitHub cannot send custom
headers, so the token travels in the query string).
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
)

_LENIENT = ConfigDict(extra="ignore")


class CheckRun(BaseModel):
    """The part of ``check_run`` the tool reads."""

    model_config = _LENIENT

    name: str
    head_sha: str
    status: Literal["completed"]
    conclusion: str | None = None
    html_url: str = ""


class Repository(BaseModel):
    """The part of ``repository`` the tool reads."""

    model_config = _LENIENT

    full_name: str


class CheckRunCompleted(Hook):
    """A GitHub ``check_run`` webhook with ``action: completed``; every other field is ignored."""

    model_config = _LENIENT

    action: Literal["completed"]
    check_run: CheckRun
    repository: Repository


def wait_for_ci(ctx: HookRequestContext, repo: str, sha: str) -> PendingHook[CheckRunCompleted]:
    """Wait for GitHub to report the check run of ``sha``.

    A real app registers the webhook here, with GitHub's REST API (``POST /repos/{repo}/hooks``,
    events ``["check_run"]``, ``content_type: json``) and ``config.url`` set to
    ``f"{ctx.submit_url}?token={ctx.token}"``. The token is a secret: keep it out of the title,
    body and metadata, which ``GET /hooks/{id}`` shows and the store keeps in clear.
    """
    return CheckRunCompleted.pending(
        ctx=ctx,
        title=f"CI result for {repo}@{sha[:7]}",
        body=f"Waiting for GitHub's check_run webhook: completed, on {sha}.",
        channel="webhook",
        timeout_s=2 * 3600,
        metadata={"repo": repo, "sha": sha},
    )


@tool
def deploy_when_green(
    repo: str,
    sha: str,
    ci: Annotated[CheckRunCompleted, hook.requires(wait_for_ci)],
) -> str | ToolResult:
    """Deploy ``sha`` of ``repo`` once its CI check run has completed successfully."""
    run = ci.check_run
    if ci.repository.full_name != repo or run.head_sha != sha:
        return tool.fail(
            f"the webhook was for {ci.repository.full_name}@{run.head_sha[:7]}, "
            f"not {repo}@{sha[:7]}"
        )
    if run.conclusion != "success":
        return tool.fail(
            f"check {run.name!r} concluded {run.conclusion}; not deploying ({run.html_url})"
        )
    return f"deployed {repo}@{sha[:7]} to production (check {run.name!r} passed)"


deployer = Agent(
    name="deployer",
    instructions="You deploy commits. Use deploy_when_green; it waits for CI.",
    model="gpt-4.1-mini",
    tools=[deploy_when_green],
)

app = App(agents=[deployer])
