"""The demo behind `make demo`: one hook's whole life, in process.

A payments agent asks for a wire transfer; the tool is gated by a typed `Approval` hook, so the task
parks; the hook is resolved with a JSON payload; the tool runs and the agent finishes. The model is
an OpenAI-compatible stub HTTP server on 127.0.0.1 driven through the real `openai` client.

This runs the pure one-turn engine only. Task state is held in this process between turns; the
Valkey store, the HTTP API and the local dev server (`factorial-aws dev`) take these same turns
over in later steps (see the README's status section).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from examples.payments.app import Approval, app
from factorial_aws.core import ids
from factorial_aws.core.clock import SystemClock
from factorial_aws.core.outcomes import Complete, ParkHooks, TurnOutcome
from factorial_aws.core.records import (
    HookStatus,
    HookUpdate,
    Message,
    TaskContext,
    TurnInput,
)
from factorial_aws.llm.openai_client import OpenAIModel
from factorial_aws.runtime.env import TurnEnv
from factorial_aws.runtime.turn import run_turn
from factorial_aws.testing import StubOpenAIServer, StubReply, call, text_reply
from factorial_aws.testing.replies import tool_calls_reply


def agent_like_stub(request: dict[str, Any]) -> StubReply:
    """A tiny stand-in for a model: ask for the wire, then report what the tool said."""
    last = request["messages"][-1]
    if last["role"] == "tool":
        return text_reply(f"Done. The payment system said: {last['content']}")
    return tool_calls_reply(call("send_wire", amount_cents=125_000, iban="DE89370400440532013000"))


def show(step: str, text: str) -> None:
    print(f"{step:>9} | {text}")


async def main() -> int:
    agent = app.agent("payments")
    with StubOpenAIServer(default_reply=agent_like_stub) as server:
        model = OpenAIModel(api_key="stub-key", base_url=server.base_url)
        env = TurnEnv(
            model=model,
            clock=SystemClock(),
            hook_secret=b"demo-secret-not-for-production",
            public_base_url="http://127.0.0.1:8000",
        )
        ctx = TaskContext(
            task_id=ids.new_root_task_id(),
            agent=agent.name,
            messages=[Message.user("Pay 1,250.00 USD to DE89370400440532013000.")],
        )
        show("task", f"{ctx.task_id} (agent {agent.name!r}, model stub at {server.base_url})")

        outcome: TurnOutcome = await run_turn(agent, ctx, TurnInput(), env)
        assert isinstance(outcome, ParkHooks), outcome
        (request,) = outcome.requests
        show("turn 1", "model asked for send_wire(amount_cents=125000, iban=DE89...)")
        show("parked", f"waiting_hook on {request.hook_id}")
        show("hook", f"{request.title!r}, expires {request.expires_at:%Y-%m-%d %H:%M} UTC")
        show("submit", f"POST {env.submit_url(request.hook_id)} (the token is stored hashed)")
        show("schema", json.dumps(request.schema_["properties"]))

        payload = {"approved": True, "reviewer": "ana", "comment": "ok for Q4"}
        Approval.model_validate(payload)  # what the resolve endpoint checks before storing
        show("resolve", json.dumps(payload))
        update = HookUpdate(hook_id=request.hook_id, status=HookStatus.RESOLVED, payload=payload)
        outcome = await run_turn(agent, outcome.context, TurnInput(hook_updates=(update,)), env)
        assert isinstance(outcome, Complete), outcome
        tool_msg = next(m for m in outcome.context.messages if m.role == "tool")
        show("turn 2", f"tool ran: {tool_msg.content}")
        show("done", f"status=completed output={outcome.output!r}")
        show("model", f"{len(server.requests)} chat.completions requests served by the stub")
        await model.aclose()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
