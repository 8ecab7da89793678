"""Helpers for engine tests: an env with a fake clock, and a transcript validity check."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import pytest

from factorial_aws.agents.agent import Agent
from factorial_aws.core import ids
from factorial_aws.core.outcomes import TurnOutcome
from factorial_aws.core.records import Message, TaskContext, TurnInput
from factorial_aws.llm.base import ModelClient
from factorial_aws.runtime.env import TurnEnv
from factorial_aws.runtime.turn import run_turn
from factorial_aws.testing.clock import FakeClock

SECRET = b"test-secret"
BASE = "https://hooks.example"


def assert_valid_transcript(messages: Iterable[Message], *, allow_open_tail: bool = False) -> None:
    """Every assistant tool call gets exactly one tool message, before any non-tool message.

    ``allow_open_tail``: the last assistant message may still have unanswered calls (a parked task).
    """
    msgs = list(messages)
    open_calls: set[str] = set()
    answered: set[str] = set()
    for m in msgs:
        if m.role == "tool":
            assert m.tool_call_id in open_calls, f"tool message for unknown/answered call {m}"
            open_calls.discard(m.tool_call_id)
            answered.add(m.tool_call_id)
            continue
        assert not open_calls, f"{m.role} message while calls {open_calls} are unanswered"
        if m.role == "assistant":
            for c in m.tool_calls:
                assert c.id not in answered and c.id not in open_calls, f"duplicate call id {c.id}"
                open_calls.add(c.id)
    if not allow_open_tail:
        assert not open_calls, f"unanswered tool calls {open_calls}"


class Harness:
    """Runs turns of one agent against a model, threading the context through."""

    def __init__(self, agent: Agent, model: ModelClient, clock: FakeClock) -> None:
        self.agent = agent
        self.clock = clock
        self.env = TurnEnv(model=model, clock=clock, hook_secret=SECRET, public_base_url=BASE)
        self.ctx = TaskContext(
            task_id=ids.new_root_task_id(), agent=agent.name, messages=[Message.user("go")]
        )

    def turn(self, inp: TurnInput | None = None) -> TurnOutcome:
        outcome = asyncio.run(run_turn(self.agent, self.ctx, inp or TurnInput(), self.env))
        self.ctx = outcome.context
        parked = outcome.kind.startswith("park")
        assert_valid_transcript(self.ctx.messages, allow_open_tail=parked)
        return outcome


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
