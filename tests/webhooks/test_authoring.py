"""Declaring webhook sources and hooks that wait on them: what is refused, and where."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import pytest

from factorial_aws import Agent, App, Hook, HookRequestContext, PendingHook, hook, tool, webhooks
from factorial_aws.errors import AgentDefinitionError, InvalidInputError, UnknownWebhookSourceError
from factorial_aws.local.stack import LocalStack
from factorial_aws.testing import FakeClock
from tests.webhooks.apps import SECRET, Model, deployer


class Paid(Hook):
    id: str


def ctx() -> HookRequestContext:
    return HookRequestContext(
        task_id="t-x", agent="a", tool_name="t", tool_call_id="c", session_id="s",
        hook_id="t-x.h1", param="p", submit_url="http://x", token="tok",
        now=datetime(2026, 1, 1, tzinfo=UTC),
    )  # fmt: skip


def test_app_refuses_two_sources_with_one_name_and_names_unknown_ones() -> None:
    with pytest.raises(AgentDefinitionError, match="two webhook sources are named 'github'"):
        App(agents=[deployer], webhooks=[webhooks.github(), webhooks.github()])
    with pytest.raises(AgentDefinitionError, match="webhook sources"):
        App(agents=[deployer], webhooks=["github"])  # type: ignore[list-item]
    app = App(agents=[deployer], webhooks=[webhooks.github(), webhooks.standard("acme")])
    assert sorted(app.webhooks) == ["acme", "github"]
    with pytest.raises(UnknownWebhookSourceError):
        app.webhook("stripe")


def test_pending_checks_source_and_match_together() -> None:
    pending = Paid.pending(ctx=ctx(), title="t", source="stripe", match={"data.object.id": "pi"})
    assert (pending.source, pending.match) == ("stripe", {"data.object.id": "pi"})
    with pytest.raises(ValueError, match="go together"):
        Paid.pending(ctx=ctx(), title="t", source="stripe")
    with pytest.raises(ValueError, match="go together"):
        Paid.pending(ctx=ctx(), title="t", match={"a": 1})
    with pytest.raises(InvalidInputError, match="empty part"):
        Paid.pending(ctx=ctx(), title="t", source="stripe", match={"a..b": 1})
    with pytest.raises(InvalidInputError, match="string, number, boolean or null"):
        Paid.pending(ctx=ctx(), title="t", source="stripe", match={"a": [1]})
    with pytest.raises(InvalidInputError, match="1 to 8"):
        Paid.pending(ctx=ctx(), title="t", source="stripe", match={})


def wait_for_gitlab(ctx: HookRequestContext) -> PendingHook[Paid]:
    return Paid.pending(ctx=ctx, title="t", source="gitlab", match={"id": "1"})


@tool
def gated(paid: Annotated[Paid, hook.requires(wait_for_gitlab)]) -> str:
    """Gated."""
    return paid.id


def test_a_builder_naming_an_undeclared_source_fails_its_tool_call(redis_client: Any) -> None:
    agent = Agent(name="deployer", instructions="x", model="m", tools=[gated])

    class CallGated(Model):
        async def complete(self, request: Any) -> Any:
            from factorial_aws.testing import ScriptedModel

            tools = [m for m in request.messages if m.role == "tool"]
            step: Any = str(tools[-1].content) if tools else [ScriptedModel.call("gated")]
            return await ScriptedModel(step).complete(request)

    app = App(agents=[agent], webhooks=[webhooks.github()])
    stack = LocalStack(app, redis_client, CallGated(), FakeClock(), SECRET, "http://x",
                       fake_time=True)  # fmt: skip
    task_id = stack.control.create_task("deployer", "go").task_id
    stack.run_due()
    view = stack.control.get_task(task_id)
    assert view.status == "completed"
    assert "webhook source 'gitlab'" in str(view.output)
    assert "has: github" in str(view.output)
