"""A Slack "Approve" / "Deny" button resolves the hook: a Slack webhook source routes the click.

The builder posts a message with two buttons whose ``value`` is the hook id (in a real app:
``slack_sdk.WebClient.chat_postMessage(channel=..., blocks=approval_blocks(...))``). Slack sends
each click to the app's one Interactivity URL (``POST /webhooks/slack``), form-encoded with the
event JSON in the ``payload`` field and signed with ``X-Slack-Signature``; the hook waits for
``match={"actions.0.value": <hook id>}``, so a click on another message's button does not
resolve it. The hook type reads who clicked and which button.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict

from factorial_aws import Agent, App, Hook, HookRequestContext, PendingHook, hook, tool, webhooks

_LENIENT = ConfigDict(extra="ignore")


class SlackUser(BaseModel):
    model_config = _LENIENT

    id: str
    username: str


class SlackAction(BaseModel):
    model_config = _LENIENT

    action_id: Literal["approve", "deny"]
    value: str


class ButtonClicked(Hook):
    """Slack's ``block_actions`` interaction payload (a button click)."""

    model_config = _LENIENT

    type: Literal["block_actions"]
    user: SlackUser
    actions: list[SlackAction]


def approval_blocks(hook_id: str, text: str) -> list[dict[str, Any]]:
    """The Block Kit message with Approve and Deny buttons that carry the hook id."""
    button = {"type": "button", "value": hook_id}
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {
            "type": "actions",
            "elements": [
                {**button, "action_id": "approve", "style": "primary",
                 "text": {"type": "plain_text", "text": "Approve"}},
                {**button, "action_id": "deny", "style": "danger",
                 "text": {"type": "plain_text", "text": "Deny"}},
            ],
        },
    ]  # fmt: skip


def ask_in_slack(ctx: HookRequestContext, service: str) -> PendingHook[ButtonClicked]:
    """Ask the on-call channel to approve the restart of ``service``."""
    text = f"Restart *{service}* in production?"
    return ButtonClicked.pending(
        ctx=ctx,
        title=f"Restart {service}?",
        channel="slack",
        timeout_s=3600,
        # a real app posts them here: chat_postMessage(channel="#on-call", blocks=...)
        metadata={"blocks": approval_blocks(ctx.hook_id, text)},
        source="slack",
        match={"actions.0.value": ctx.hook_id},
    )


@tool
def restart_service(
    service: str, click: Annotated[ButtonClicked, hook.requires(ask_in_slack)]
) -> str:
    """Restart ``service`` once someone approves it in Slack."""
    action = click.actions[0].action_id
    if action != "approve":
        return f"not restarting {service}: denied by @{click.user.username}"
    return f"restarted {service} (approved by @{click.user.username})"


operator = Agent(
    name="operator",
    instructions="You restart services. Use restart_service; it asks on Slack first.",
    model="gpt-4.1-mini",
    tools=[restart_service],
)

app = App(agents=[operator], webhooks=[webhooks.slack()])
