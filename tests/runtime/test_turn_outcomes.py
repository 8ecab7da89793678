"""The one-turn engine: each outcome, tool execution, the verifier and max_turns."""

from __future__ import annotations

import asyncio
import json
import threading

from pydantic import BaseModel

from factorial_aws import Agent, VerificationRejected, tool
from factorial_aws.core.outcomes import Complete, Continue, Fail, Retry
from factorial_aws.core.records import Message, TurnInput
from factorial_aws.errors import ModelError, ModelRetryableError
from factorial_aws.testing import ScriptedModel
from factorial_aws.testing.clock import FakeClock
from tests.runtime.conftest import Harness

call = ScriptedModel.call


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def _agent(*tools_: object, **kw: object) -> Agent:
    return Agent(name="t", instructions="be brief", model="m", tools=list(tools_), **kw)  # type: ignore[arg-type]


def test_tool_call_continues_and_text_completes(clock: FakeClock) -> None:
    model = ScriptedModel([call("add", a=2, b=3)], "five")
    h = Harness(_agent(add), model, clock)
    first = h.turn()
    assert isinstance(first, Continue)
    assert h.ctx.messages[-1] == Message.tool(h.ctx.messages[-2].tool_calls[0].id, "5")
    done = h.turn()
    assert isinstance(done, Complete) and done.output == "five"
    assert h.ctx.turn == 2
    # the system prompt goes first, the tool definition is offered
    req = model.requests[0]
    assert req.messages[0].role == "system" and req.messages[0].content == "be brief"
    assert [t.name for t in req.tools] == ["add"]


def test_unknown_tool_and_malformed_arguments_are_tool_errors_the_model_sees(
    clock: FakeClock,
) -> None:
    model = ScriptedModel(
        [
            call("nope", x=1),
            ScriptedModel.raw_call("add", '{"a": 1, "b": '),
            call("add", a="x", b=1),
        ],
        "ok",
    )
    h = Harness(_agent(add), model, clock)
    assert isinstance(h.turn(), Continue)
    tool_msgs = [m.content or "" for m in h.ctx.messages if m.role == "tool"]
    assert len(tool_msgs) == 3
    assert "unknown tool 'nope'" in tool_msgs[0] and "add" in tool_msgs[0]
    assert tool_msgs[1].startswith("error:") and "json" in tool_msgs[1].lower()
    assert tool_msgs[2].startswith("error:") and "a" in tool_msgs[2]
    assert isinstance(h.turn(), Complete)


def test_tool_calls_of_one_message_run_concurrently_sync_ones_off_the_loop(
    clock: FakeClock,
) -> None:
    barrier = threading.Barrier(2, timeout=5)

    @tool
    def left() -> str:
        """Wait for right."""
        barrier.wait()  # deadlocks (BrokenBarrierError after 5 s) unless both run at once
        return "L"

    @tool
    def right() -> str:
        """Wait for left."""
        barrier.wait()
        return "R"

    seen = asyncio.Event()

    @tool
    async def ping() -> str:
        """Set an event."""
        seen.set()
        return "pong"

    @tool
    async def pong() -> str:
        """Wait for ping on the loop."""
        await asyncio.wait_for(seen.wait(), 5)
        return "done"

    model = ScriptedModel([call("left"), call("right"), call("pong"), call("ping")], "fin")
    h = Harness(_agent(left, right, ping, pong), model, clock)
    assert isinstance(h.turn(), Continue)
    assert [m.content for m in h.ctx.messages if m.role == "tool"] == ["L", "R", "done", "pong"]


def test_tool_timeout_is_a_tool_error_and_the_task_goes_on(clock: FakeClock) -> None:
    @tool(timeout_s=0.05)
    async def slow() -> str:
        """Too slow."""
        await asyncio.sleep(5)
        return "never"

    model = ScriptedModel([call("slow")], "gave up")
    h = Harness(_agent(slow), model, clock)
    assert isinstance(h.turn(), Continue)
    assert "timed out" in (h.ctx.messages[-1].content or "")
    assert isinstance(h.turn(), Complete)


def test_a_raising_tool_is_a_tool_error_not_a_task_failure(clock: FakeClock) -> None:
    @tool
    def boom(x: int) -> str:
        """Fails."""
        raise ValueError(f"bad {x}")

    h = Harness(_agent(boom), ScriptedModel([call("boom", x=7)], "sorry"), clock)
    assert isinstance(h.turn(), Continue)
    assert h.ctx.messages[-1].content == "error: ValueError: bad 7"


class Answer(BaseModel):
    value: int


def test_final_output_with_verifier_accept_reject_and_budget_counted_per_candidate(
    clock: FakeClock,
) -> None:
    def verifier(ans: Answer) -> Answer:
        if ans.value != 42:
            raise VerificationRejected(f"{ans.value} is wrong")
        return Answer(value=ans.value * 10)

    model = ScriptedModel(
        [call("final_output", value=1)],
        [call("final_output", value=1)],  # the same candidate again: not counted twice
        [call("final_output", value=42)],
    )
    h = Harness(_agent(add, output_type=Answer, verifier=verifier, verifier_budget=1), model, clock)
    assert isinstance(h.turn(), Continue)
    assert "1 is wrong" in (h.ctx.messages[-1].content or "")
    assert isinstance(h.turn(), Continue)
    assert h.ctx.rejected_candidates and len(h.ctx.rejected_candidates) == 1
    done = h.turn()
    assert isinstance(done, Complete) and done.output == {"value": 420}
    assert h.ctx.messages[-1].content == "accepted"
    assert "final_output" in [t.name for t in model.requests[0].tools]


def test_verifier_exhaustion_fails_with_a_valid_transcript(clock: FakeClock) -> None:
    def verifier(text: str) -> None:
        raise VerificationRejected("no")

    model = ScriptedModel("a", "b", "c")
    h = Harness(_agent(verifier=verifier, verifier_budget=1), model, clock)
    assert isinstance(h.turn(), Continue)
    assert h.ctx.messages[-1].role == "user" and "rejected" in (h.ctx.messages[-1].content or "")
    failed = h.turn()
    assert isinstance(failed, Fail) and failed.code == "verification_exhausted"
    assert len(model.requests) == 2


def test_invalid_final_output_is_a_tool_error_and_text_is_nudged(clock: FakeClock) -> None:
    model = ScriptedModel(
        "plain text", [call("final_output", value="x")], [call("final_output", value=3)]
    )
    h = Harness(_agent(output_type=Answer), model, clock)
    assert isinstance(h.turn(), Continue)
    assert "final_output" in (h.ctx.messages[-1].content or "")
    assert isinstance(h.turn(), Continue)
    assert "do not validate" in (h.ctx.messages[-1].content or "")
    done = h.turn()
    assert isinstance(done, Complete) and done.output == {"value": 3}


def test_max_turns_is_a_hard_stop_before_the_model_is_called(clock: FakeClock) -> None:
    model = ScriptedModel([call("add", a=1, b=1)], [call("add", a=1, b=1)], "never")
    h = Harness(_agent(add, max_turns=2), model, clock)
    assert isinstance(h.turn(), Continue)
    assert isinstance(h.turn(), Continue)
    failed = h.turn()
    assert isinstance(failed, Fail) and failed.code == "max_turns_exceeded"
    assert len(model.requests) == 2


def test_retryable_model_errors_back_off_then_fail_and_fatal_ones_fail(clock: FakeClock) -> None:
    model = ScriptedModel(
        ModelRetryableError("429"), ModelRetryableError("503"), ModelRetryableError("503")
    )
    h = Harness(_agent(max_model_retries=2), model, clock)
    r1, r2 = h.turn(), h.turn()
    assert isinstance(r1, Retry) and isinstance(r2, Retry)
    assert r2.delay_s == 2 * r1.delay_s
    assert h.ctx.turn == 0  # a failed model call is not a turn
    failed = h.turn()
    assert isinstance(failed, Fail) and failed.code == "model_unavailable"

    fatal = Harness(_agent(), ScriptedModel(ModelError("401 bad key")), clock).turn()
    assert isinstance(fatal, Fail) and fatal.code == "model_error"


def test_retry_keeps_tool_results_so_a_tool_never_runs_twice(clock: FakeClock) -> None:
    runs: list[int] = []

    @tool
    def once() -> str:
        """Count runs."""
        runs.append(1)
        return "ran"

    model = ScriptedModel([call("once")], ModelRetryableError("500"), "done")
    h = Harness(_agent(once), model, clock)
    assert isinstance(h.turn(), Continue)
    assert isinstance(h.turn(), Retry)
    assert isinstance(h.turn(), Complete)
    assert runs == [1]


def test_steering_becomes_a_user_message_before_the_model_call(clock: FakeClock) -> None:
    model = ScriptedModel("ok")
    h = Harness(_agent(), model, clock)
    h.turn(TurnInput(steering=("use euros",)))
    assert model.requests[0].messages[-1] == Message.user("use euros")


def test_disabled_tool_is_not_offered_and_cannot_be_called(clock: FakeClock) -> None:
    @tool(enabled=lambda ctx: ctx.owner_id == "admin")
    def secret() -> str:
        """Admins only."""
        return "s"

    model = ScriptedModel([call("secret")], "ok")
    h = Harness(_agent(secret, add), model, clock)
    h.turn()
    assert [t.name for t in model.requests[0].tools] == ["add"]
    assert "unknown tool 'secret'" in (h.ctx.messages[-1].content or "")
    assert json.loads(json.dumps(h.ctx.model_dump(mode="json")))  # context stays JSON-clean


def test_a_turn_never_changes_the_context_it_was_given(clock: FakeClock) -> None:
    model = ScriptedModel([call("add", a=1, b=2)])
    h = Harness(_agent(add), model, clock)
    before = h.ctx.model_dump()
    original = h.ctx
    h.turn(TurnInput(steering=("hi",)))
    assert original.model_dump() == before and h.ctx is not original


@tool
def dump(kind: str) -> str:
    """Return a big result."""
    return {"ascii": "x" * 30_000, "escaped": '"\n' * 15_000, "wide": "\u6f22" * 12_000}[kind]


def test_tool_results_over_the_context_cap_are_cut_with_a_note(clock: FakeClock) -> None:
    from dataclasses import replace

    from factorial_aws.core.codec import encode

    cap = 20_000
    model = ScriptedModel(
        [call("dump", kind="ascii"), call("dump", kind="escaped"), call("dump", kind="wide")],
        [call("add", a=1, b=2)],
        "done",
    )
    h = Harness(_agent(dump, add), model, clock)
    h.env = replace(h.env, max_context_bytes=cap)
    outcome = h.turn()
    assert isinstance(outcome, Continue)
    results = [m.content or "" for m in h.ctx.messages if m.role == "tool"]
    assert len(results) == 3
    assert len(encode(h.ctx)) <= cap  # the cut kept the whole context under the cap
    first, second, third = results
    assert first.startswith("x" * 1000) and first.endswith(
        f"[cut by factorial_aws: this tool result was 30000 bytes and the task's context is "
        f"capped at {cap} bytes]"
    )
    # what was left after the first fills the second and third only partly or as the note alone
    for text, whole in ((second, 30_000), (third, 36_000)):
        assert text.endswith(
            f"this tool result was {whole} bytes and the task's context is capped at {cap} bytes]"
        )
    cuts = [e for e in outcome.events if e.kind == "tool_result_cut"]
    assert len(cuts) == 3
    # once the context is full even a small result is only the note: the model reads why
    assert isinstance(h.turn(), Continue)
    assert (h.ctx.messages[-1].content or "").startswith(
        "[cut by factorial_aws: this tool result was 1 bytes"
    )


def test_a_tool_result_under_the_cap_is_untouched(clock: FakeClock) -> None:
    from dataclasses import replace

    model = ScriptedModel([call("dump", kind="wide")], "done")
    h = Harness(_agent(dump), model, clock)
    h.env = replace(h.env, max_context_bytes=60_000)
    assert isinstance(h.turn(), Continue)
    assert h.ctx.messages[-1].content == "\u6f22" * 12_000
