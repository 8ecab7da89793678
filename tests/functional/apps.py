"""Agents, tools and stub-model rules of the handler tests.

Rules read the OpenAI chat-completions request body the real ``openai`` client sent to the stub
server, and answer with a stub reply. ``app`` is what ``FACTORIAL_APP=tests.functional.apps:app``
loads in the test that goes through ``Settings.from_env``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from factorial_aws import (
    Agent,
    App,
    Hook,
    HookRequestContext,
    PendingHook,
    hook,
    subagents,
    tool,
    webhooks,
)
from factorial_aws import wait as waits
from factorial_aws.testing import StubReply, call, text_reply, tool_calls_reply


class Approval(Hook):
    approved: bool
    reviewer: str
    comment: str = ""


class Budget(Hook):
    cost_center: str
    limit_cents: int


def ask_manager(ctx: HookRequestContext, amount: int) -> PendingHook[Approval]:
    return Approval.pending(
        ctx=ctx, title=f"Approve a payment of {amount}", body="<b>urgent</b>", timeout_s=600
    )


def ask_budget(ctx: HookRequestContext, approval: Approval) -> PendingHook[Budget]:
    return Budget.pending(
        ctx=ctx, title=f"Budget for {approval.reviewer}'s approval", timeout_s=600
    )


@tool
def pay(amount: int, approval: Annotated[Approval, hook.requires(ask_manager)]) -> str:
    """Pay once a manager approves."""
    return f"paid {amount}" if approval.approved else f"refused by {approval.reviewer}"


@tool
def wire(
    amount: int,
    approval: Annotated[Approval, hook.requires(ask_manager)],
    budget: Annotated[Budget, hook.requires(ask_budget)],
) -> str:
    """Wire money: approval first, then a budget line that depends on it."""
    return f"wired {amount} from {budget.cost_center} approved by {approval.reviewer}"


@tool
def nap(seconds: int) -> object:
    """Sleep."""
    return waits.sleep(seconds=seconds, data={"slept_for": seconds})


@tool
def tick(expr: str, tz: str) -> object:
    """Wait for the next cron tick."""
    return waits.cron(expr, tz=tz)


researcher = Agent(name="researcher", instructions="research", model="stub-model")


def fan_out_tool(join: Literal["all", "any"] | int) -> Any:
    @tool
    def fan_out(topics: list[str]) -> object:
        """Spawn one researcher per topic and wait for them."""
        refs = [subagents.spawn(researcher, f"topic {t}", key=t) for t in topics]
        return waits.children(refs, join=join)

    return fan_out


def agent(name: str, *tools: Any) -> Agent:
    return Agent(name=name, instructions=f"you are {name}", model="stub-model", tools=list(tools))


# --- rules over the request body -------------------------------------------------------------


def last(body: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = body["messages"][-1]
    return message


def user_texts(body: dict[str, Any]) -> list[str]:
    return [str(m.get("content")) for m in body["messages"] if m["role"] == "user"]


def after_tool(first: StubReply) -> Any:
    """Call a tool first; once its result is in, finish with ``done: <result>``."""

    def rule(body: dict[str, Any]) -> StubReply:
        if last(body)["role"] == "tool":
            return text_reply(f"done: {last(body)['content']}")
        return first

    return rule


pay_rule = after_tool(tool_calls_reply(call("pay", amount=42)))


def fan_rule(body: dict[str, Any]) -> StubReply:
    if body["messages"][0]["content"] == "research":
        return text_reply(f"notes on {body['messages'][1]['content']}")
    if last(body)["role"] == "tool":
        return text_reply(f"summary: {last(body)['content']}")
    return tool_calls_reply(call("fan_out", topics=["a", "b", "c"]))


app = App([agent("payments", pay), agent("napper", nap)], webhooks=[webhooks.github()])


_long_nap_rule = after_tool(tool_calls_reply(call("nap", seconds=7200)))


def pay_or_nap_rule(body: dict[str, Any]) -> StubReply:
    """For ``app``: the napper sleeps 2 h (a schedule), the payments agent pays 42 (a hook)."""
    napper = body["messages"][0]["content"] == "you are napper"
    reply: StubReply = (_long_nap_rule if napper else pay_rule)(body)
    return reply
