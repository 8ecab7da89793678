"""The engine's parked paths: hook sessions over stages, expiry, waits, children, steering."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated

from factorial_aws import (
    Agent,
    Hook,
    HookRequestContext,
    PendingHook,
    hook,
    subagents,
    tool,
    wait,
)
from factorial_aws.agents.hooks import hook_type_code
from factorial_aws.core import ids
from factorial_aws.core.outcomes import Complete, Continue, ParkChildren, ParkHooks, ParkTime
from factorial_aws.core.records import (
    ChildOutcome,
    HookMode,
    HookSessionState,
    HookStatus,
    HookUpdate,
    Message,
    PendingWait,
    TurnInput,
    Wake,
)
from factorial_aws.testing import ScriptedModel
from factorial_aws.testing.clock import FakeClock
from tests.runtime.conftest import SECRET, Harness

call = ScriptedModel.call


class Approval(Hook):
    approved: bool
    reviewer: str


class Budget(Hook):
    limit_cents: int


class Receipt(Hook):
    reference: str


SEEN: dict[str, object] = {}


def ask_manager(ctx: HookRequestContext, amount_cents: int) -> PendingHook[Approval]:
    SEEN["approval_ctx"] = ctx
    return Approval.pending(ctx=ctx, title=f"approve {amount_cents}", timeout_s=3600)


def ask_budget(ctx: HookRequestContext, approval: Approval) -> PendingHook[Budget]:
    SEEN["budget_saw"] = approval
    return Budget.pending(ctx=ctx, title=f"budget after {approval.reviewer}")


async def ask_receipt(ctx: HookRequestContext, budget: Budget) -> PendingHook[Receipt]:
    return Receipt.pending(ctx=ctx, title=f"receipt within {budget.limit_cents}", channel="webhook")


@tool
def wire(
    amount_cents: int,
    approval: Annotated[Approval, hook.requires(ask_manager)],
    budget: Annotated[Budget, hook.requires(ask_budget)],
    receipt: Annotated[Receipt, hook.awaits(ask_receipt)],
) -> str:
    """Three-stage wire."""
    return (
        f"{amount_cents} by {approval.reviewer} within {budget.limit_cents} ref {receipt.reference}"
    )


def _agent(*tools_: object) -> Agent:
    return Agent(name="pay", instructions="i", model="m", tools=list(tools_))  # type: ignore[arg-type]


def _resolve(hook_id: str, **payload: object) -> TurnInput:
    return TurnInput(
        hook_updates=(HookUpdate(hook_id=hook_id, status=HookStatus.RESOLVED, payload=payload),)
    )


def test_hook_session_over_three_stages_then_the_final_continuation(clock: FakeClock) -> None:
    model = ScriptedModel([call("wire", amount_cents=500)], "wired")
    h = Harness(_agent(wire), model, clock)

    first = h.turn()
    assert isinstance(first, ParkHooks)
    (req,) = first.requests
    asked = h.ctx.messages[-1].tool_calls[0]
    call_id = asked.id
    key = ids.tool_call_key(1, 0, "wire", asked.arguments)
    session = ids.hook_session_id(h.ctx.task_id, key, "wire")
    assert (
        req.hook_id == ids.hook_id(session, "approval", SECRET, hook_type_code(Approval))
        and req.param == "approval"
    )
    # the builder ran with the ids and token the store will keep
    bctx = SEEN["approval_ctx"]
    assert isinstance(bctx, HookRequestContext) and bctx.hook_id == req.hook_id
    assert bctx.submit_url == f"https://hooks.example/hooks/{req.hook_id}/resolve"
    assert req.token_hash == ids.token_hash(ids.hook_token(SECRET, req.hook_id, 1))
    assert bctx.token not in json.dumps(first.model_dump(mode="json"))  # no token anywhere
    assert req.title == "approve 500" and req.mode is HookMode.REQUIRES
    assert req.expires_at == clock.now() + timedelta(seconds=3600)
    assert req.schema_["properties"].keys() == {"approved", "reviewer"}
    assert first.waiting_on == (req.hook_id,)
    assert len(model.requests) == 1

    second = h.turn(_resolve(req.hook_id, approved=True, reviewer="ann"))
    assert isinstance(second, ParkHooks) and [r.param for r in second.requests] == ["budget"]
    assert SEEN["budget_saw"] == Approval(approved=True, reviewer="ann")
    assert second.requests[0].title == "budget after ann"
    assert len(model.requests) == 1  # no model call while a tool call is pending

    third = h.turn(_resolve(second.requests[0].hook_id, limit_cents=900))
    assert isinstance(third, ParkHooks) and third.requests[0].param == "receipt"
    assert third.requests[0].channel == "webhook" and third.requests[0].mode is HookMode.AWAITS

    done = h.turn(_resolve(third.requests[0].hook_id, reference="R-1"))
    assert isinstance(done, Complete) and done.output == "wired"
    assert Message.tool(call_id, "500 by ann within 900 ref R-1") in h.ctx.messages
    assert not h.ctx.sessions


def test_duplicate_and_unknown_hook_updates_change_nothing(clock: FakeClock) -> None:
    h = Harness(_agent(wire), ScriptedModel([call("wire", amount_cents=1)]), clock)
    first = h.turn()
    assert isinstance(first, ParkHooks)
    hid = first.requests[0].hook_id
    stale = h.turn(_resolve(hid.replace(".h", ".h0")[:-1], approved=True, reviewer="x"))
    assert isinstance(stale, ParkHooks) and stale.requests == () and stale.waiting_on == (hid,)
    second = h.turn(_resolve(hid, approved=True, reviewer="a"))
    assert isinstance(second, ParkHooks)
    again = h.turn(_resolve(hid, approved=False, reviewer="b"))  # already resolved: ignored
    assert isinstance(again, ParkHooks) and again.requests == ()
    assert h.ctx.sessions[next(iter(h.ctx.sessions))].nodes["approval"].payload == {
        "approved": True,
        "reviewer": "a",
    }


def test_expired_gate_ends_the_call_with_a_tool_error_and_the_body_never_runs(
    clock: FakeClock,
) -> None:
    h = Harness(_agent(wire), ScriptedModel([call("wire", amount_cents=1)], "timed out"), clock)
    first = h.turn()
    assert isinstance(first, ParkHooks)
    expired = TurnInput(
        hook_updates=(HookUpdate(hook_id=first.requests[0].hook_id, status=HookStatus.EXPIRED),)
    )
    done = h.turn(expired)
    assert isinstance(done, Complete)
    tool_msg = next(m for m in h.ctx.messages if m.role == "tool")
    assert "approval' expired" in (tool_msg.content or "") and "did not run" in (
        tool_msg.content or ""
    )


class Note(Hook):
    text: str


def ask_note(ctx: HookRequestContext) -> PendingHook[Note]:
    return Note.pending(ctx=ctx, title="any note?")


@tool
def maybe_note(note: Annotated[Note | None, hook.awaits(ask_note)]) -> str:
    """Runs with or without a note."""
    return "no note" if note is None else note.text


def test_expired_optional_await_runs_the_body_with_none(clock: FakeClock) -> None:
    h = Harness(_agent(maybe_note), ScriptedModel([call("maybe_note")], "ok"), clock)
    first = h.turn()
    assert isinstance(first, ParkHooks)
    h.turn(
        TurnInput(
            hook_updates=(HookUpdate(hook_id=first.requests[0].hook_id, status=HookStatus.EXPIRED),)
        )
    )
    assert any(m.role == "tool" and m.content == "no note" for m in h.ctx.messages)


@tool
def gated_boom(approval: Annotated[Approval, hook.requires(ask_manager)], amount_cents: int) -> str:
    """Raises after approval."""
    raise RuntimeError("bank offline")


def test_a_failure_inside_a_hook_gated_body_is_a_tool_error_the_model_sees(
    clock: FakeClock,
) -> None:
    model = ScriptedModel([call("gated_boom", amount_cents=3)], "retry later")
    h = Harness(_agent(gated_boom), model, clock)
    first = h.turn()
    assert isinstance(first, ParkHooks)
    done = h.turn(_resolve(first.requests[0].hook_id, approved=True, reviewer="z"))
    assert isinstance(done, Complete)
    assert model.requests[1].messages[-1].content == "error: RuntimeError: bank offline"


@tool
def approve_then_wait(
    approval: Annotated[Approval, hook.requires(ask_manager)], amount_cents: int
) -> object:
    """Waits an hour after approval."""
    return wait.sleep(hours=1, data={"approved_by": approval.reviewer})


def test_a_wait_returned_by_a_hook_continuation_is_honoured(clock: FakeClock) -> None:
    model = ScriptedModel([call("approve_then_wait", amount_cents=3)], "after the wait")
    h = Harness(_agent(approve_then_wait), model, clock)
    first = h.turn()
    assert isinstance(first, ParkHooks)
    parked = h.turn(_resolve(first.requests[0].hook_id, approved=True, reviewer="q"))
    assert isinstance(parked, ParkTime)
    assert parked.wake_at == clock.now() + timedelta(hours=1)
    assert len(model.requests) == 1
    clock.advance(hours=1)
    done = h.turn(TurnInput(wakes=(Wake(wait_id=parked.wait_id, fired_at=clock.now()),)))
    assert isinstance(done, Complete)
    body = json.loads(model.requests[1].messages[-1].content or "")
    assert body == {"data": {"approved_by": "q"}, "status": "slept", "slept_s": 3600.0}


@tool
def nap(seconds: int) -> object:
    """Sleep."""
    return wait.sleep(seconds=seconds, data="rested")


def test_stale_wake_is_ignored_and_steering_waits_for_the_tool_message(clock: FakeClock) -> None:
    model = ScriptedModel([call("nap", seconds=30)], "awake")
    h = Harness(_agent(nap), model, clock)
    parked = h.turn()
    assert isinstance(parked, ParkTime)
    wrong = ids.wait_id(h.ctx.task_id, "other-call")
    still = h.turn(
        TurnInput(wakes=(Wake(wait_id=wrong, fired_at=clock.now()),), steering=("hurry up",))
    )
    assert isinstance(still, ParkTime) and still.wait_id == parked.wait_id
    assert h.ctx.messages[-1].role == "assistant"  # nothing inserted while the call is open
    clock.advance(30)
    done = h.turn(TurnInput(wakes=(Wake(wait_id=parked.wait_id, fired_at=clock.now()),)))
    assert isinstance(done, Complete)
    tail = model.requests[1].messages[-2:]
    assert tail[0].role == "tool" and json.loads(tail[0].content or "")["slept_s"] == 30.0
    assert tail[1] == Message.user("hurry up")


@tool
def nightly() -> object:
    """Wait for 02:30 in Paris."""
    return wait.cron("30 2 * * *", tz="Europe/Paris")


def test_cron_wait_parks_until_the_next_tick_in_its_time_zone() -> None:
    clock = FakeClock(datetime(2026, 7, 1, 12, 0, tzinfo=UTC))
    h = Harness(_agent(nightly), ScriptedModel([call("nightly")]), clock)
    parked = h.turn()
    assert isinstance(parked, ParkTime)
    assert parked.wake_at == datetime(2026, 7, 2, 0, 30, tzinfo=UTC)  # 02:30 CEST


@tool
def invalid_cron() -> object:
    """Bad cron."""
    return wait.cron("61 * * * *")


def test_invalid_cron_is_a_tool_error_with_a_stable_code(clock: FakeClock) -> None:
    h = Harness(_agent(invalid_cron), ScriptedModel([call("invalid_cron")], "ok"), clock)
    assert isinstance(h.turn(), Continue)
    assert (h.ctx.messages[-1].content or "").startswith("error: invalid_cron")


child_agent = Agent(name="child", instructions="c", model="m")


@tool
def fan_out(topics: list[str]) -> object:
    """Spawn one child per topic and wait for all."""
    refs = [subagents.spawn(child_agent, f"research {t}", key=t) for t in topics]
    return wait.children(refs, join="all", data={"topics": topics})


def test_children_are_spawned_deterministically_and_their_outcomes_reach_the_model(
    clock: FakeClock,
) -> None:
    model = ScriptedModel([call("fan_out", topics=["a", "b"])], "summary")
    h = Harness(_agent(fan_out), model, clock)
    parked = h.turn()
    assert isinstance(parked, ParkChildren)
    expected = (ids.child_task_id(h.ctx.task_id, "a"), ids.child_task_id(h.ctx.task_id, "b"))
    assert parked.child_ids == expected and parked.join == "all"
    assert [(c.task_id, c.agent, c.input) for c in parked.spawned] == [
        (expected[0], "child", "research a"),
        (expected[1], "child", "research b"),
    ]
    outcomes = tuple(
        ChildOutcome(task_id=c, status="completed", output=f"out {c[-3:]}") for c in expected
    )
    done = h.turn(
        TurnInput(wakes=(Wake(wait_id=parked.wait_id, fired_at=clock.now(), children=outcomes),))
    )
    assert isinstance(done, Complete)
    body = json.loads(model.requests[1].messages[-1].content or "")
    assert body["status"] == "children_finished" and body["data"] == {"topics": ["a", "b"]}
    assert [c["output"] for c in body["children"]] == [f"out {c[-3:]}" for c in expected]


def test_child_outputs_over_the_context_cap_reach_the_model_cut_with_a_note(
    clock: FakeClock,
) -> None:
    from dataclasses import replace

    from factorial_aws.core.codec import encode

    model = ScriptedModel([call("fan_out", topics=["a", "b"])], "summary")
    h = Harness(_agent(fan_out), model, clock)
    h.env = replace(h.env, max_context_bytes=30_000)
    parked = h.turn()
    assert isinstance(parked, ParkChildren)
    outcomes = tuple(
        ChildOutcome(task_id=c, status="completed", output="o" * 20_000) for c in parked.child_ids
    )
    done = h.turn(
        TurnInput(wakes=(Wake(wait_id=parked.wait_id, fired_at=clock.now(), children=outcomes),))
    )
    assert isinstance(done, Complete)
    seen = model.requests[1].messages[-1].content or ""
    assert seen.startswith('{"data": {"topics": ["a", "b"]}, "status": "children_finished"')
    assert "[cut by factorial_aws: this tool result was" in seen and len(seen) < 30_000
    assert len(encode(h.ctx)) <= 30_000
    assert [e.kind for e in done.events].count("tool_result_cut") == 1


def test_two_sessions_in_one_message_park_together_and_resume_one_by_one(
    clock: FakeClock,
) -> None:
    model = ScriptedModel([call("maybe_note"), call("gated_boom", amount_cents=1)], "both done")
    h = Harness(_agent(maybe_note, gated_boom), model, clock)
    first = h.turn()
    assert isinstance(first, ParkHooks) and len(first.requests) == 2
    note_id, approval_id = (r.hook_id for r in first.requests)
    half = h.turn(_resolve(note_id, text="hello"))
    assert isinstance(half, ParkHooks) and half.waiting_on == (approval_id,)
    assert h.ctx.messages[-1].content == "hello"
    done = h.turn(_resolve(approval_id, approved=True, reviewer="r"))
    assert isinstance(done, Complete) and len(model.requests) == 2


@tool
def two_gates(
    approval: Annotated[Approval, hook.requires(ask_manager)],
    note: Annotated[Note, hook.requires(ask_note)],
    amount_cents: int,
) -> str:
    """Two gates in one stage."""
    return "ran"


def test_a_failed_gate_ends_the_call_without_waiting_for_its_siblings(clock: FakeClock) -> None:
    model = ScriptedModel([call("two_gates", amount_cents=5)], "gave up")
    h = Harness(_agent(two_gates), model, clock)
    first = h.turn()
    assert isinstance(first, ParkHooks) and len(first.requests) == 2
    approval_id = first.requests[0].hook_id
    done = h.turn(
        TurnInput(hook_updates=(HookUpdate(hook_id=approval_id, status=HookStatus.EXPIRED),))
    )
    assert isinstance(done, Complete)  # the sibling 'note' is still requested: not waited for
    assert "approval' expired" in (model.requests[1].messages[-1].content or "")


@tool
def bad_spawn(kind: str) -> object:
    """Spawns a child with a bad input, or too deep."""
    if kind == "empty":
        return subagents.spawn(child_agent, "", key="k")
    return subagents.spawn(child_agent, "go", key="k")


def test_a_bad_spawn_is_a_tool_error_and_never_reaches_the_commit(clock: FakeClock) -> None:
    model = ScriptedModel([call("bad_spawn", kind="empty")], [call("bad_spawn", kind="ok")], "ok")
    h = Harness(_agent(bad_spawn), model, clock)
    first = h.turn()
    assert isinstance(first, Continue) and first.spawned == ()
    assert "invalid_input" in (h.ctx.messages[-1].content or "")
    deep = h.ctx.task_id
    for key in range(ids.MAX_TREE_DEPTH):
        deep = ids.child_task_id(deep, str(key))
    h.ctx = h.ctx.model_copy(update={"task_id": deep})
    second = h.turn()
    assert isinstance(second, Continue) and second.spawned == ()
    assert "nest at most" in (h.ctx.messages[-1].content or "")


def test_a_replayed_turn_keeps_its_tool_call_ids_hook_ids_and_tokens(clock: FakeClock) -> None:
    """The commit of turn 1 was lost; the model, called again, gives other call ids."""
    first_model = ScriptedModel(
        [ScriptedModel.raw_call("wire", '{"amount_cents": 5}', call_id="x1")]
    )
    replay_model = ScriptedModel(
        [ScriptedModel.raw_call("wire", '{"amount_cents": 5}', call_id="y9")]
    )
    h1 = Harness(_agent(wire), first_model, clock)
    h2 = Harness(_agent(wire), replay_model, clock)
    h2.ctx = h1.ctx.model_copy()
    a, b = h1.turn(), h2.turn()
    assert isinstance(a, ParkHooks) and isinstance(b, ParkHooks)
    assert a.requests[0].hook_id == b.requests[0].hook_id
    assert a.requests[0].token_hash == b.requests[0].token_hash
    assert a.requests[0].session_id == b.requests[0].session_id
    # the transcript keeps each provider's own id; the hook records name the call by it too
    assert h1.ctx.messages[-1].tool_calls[0].id == "x1"
    assert h2.ctx.messages[-1].tool_calls[0].id == "y9"
    assert (a.requests[0].tool_call_id, b.requests[0].tool_call_id) == ("x1", "y9")
    (s1,), (s2,) = h1.ctx.sessions.values(), h2.ctx.sessions.values()
    assert s1.call_key == s2.call_key == ids.tool_call_key(1, 0, "wire", '{"amount_cents": 5}')
    # a different call at the same position of a replayed turn gets another id (and key)
    other = ScriptedModel([ScriptedModel.raw_call("wire", '{"amount_cents": 6}', call_id="x1")])
    h3 = Harness(_agent(wire), other, clock)
    h3.ctx = h1.ctx.model_copy(update={"messages": h1.ctx.messages[:1], "sessions": {}})
    c = h3.turn()
    assert isinstance(c, ParkHooks) and c.requests[0].hook_id != a.requests[0].hook_id


def test_a_replayed_sleep_keeps_its_wait_id_under_other_provider_ids(clock: FakeClock) -> None:
    lost = Harness(
        _agent(nap),
        ScriptedModel([ScriptedModel.raw_call("nap", '{"seconds": 5}', call_id="aaa111bbb")]),
        clock,
    )
    replay = Harness(
        _agent(nap),
        ScriptedModel(
            [ScriptedModel.raw_call("nap", '{"seconds":5}', call_id="zzz999yyy")], "awake"
        ),
        clock,
    )
    replay.ctx = lost.ctx.model_copy()
    a, b = lost.turn(), replay.turn()
    assert isinstance(a, ParkTime) and isinstance(b, ParkTime) and a.wait_id == b.wait_id
    assert [w.tool_call_id for w in replay.ctx.waits.values()] == ["zzz999yyy"]
    clock.advance(5)
    done = replay.turn(TurnInput(wakes=(Wake(wait_id=b.wait_id, fired_at=clock.now()),)))
    assert isinstance(done, Complete) and done.output == "awake"
    assert (
        replay.ctx.messages[2].role == "tool" and replay.ctx.messages[2].tool_call_id == "zzz999yyy"
    )


def test_empty_or_repeated_provider_ids_are_replaced_by_the_call_key(clock: FakeClock) -> None:
    model = ScriptedModel(
        [
            ScriptedModel.raw_call("nap", '{"seconds": 1}', call_id=""),
            ScriptedModel.raw_call("nap", '{"seconds": 2}', call_id="dup"),
            ScriptedModel.raw_call("nap", '{"seconds": 3}', call_id="dup"),
        ]
    )
    h = Harness(_agent(nap), model, clock)
    assert isinstance(h.turn(), ParkTime)
    got = [c.id for c in h.ctx.messages[-1].tool_calls]
    assert got == [
        ids.tool_call_key(1, 0, "nap", '{"seconds": 1}'),
        "dup",
        ids.tool_call_key(1, 2, "nap", '{"seconds": 3}'),
    ]
    assert sorted(w.tool_call_id for w in h.ctx.waits.values()) == sorted(got)


def test_a_context_written_before_call_keys_reads_its_call_id_as_the_key() -> None:
    session = HookSessionState.model_validate(
        {"session_id": "s", "tool_call_id": "call_1_0_abcd1234", "tool_name": "t", "arguments": {}}
    )
    assert session.call_key == "call_1_0_abcd1234"
    pending = PendingWait.model_validate(
        {
            "wait_id": "w",
            "tool_call_id": "call_2_1_00ff00ff",
            "tool_name": "nap",
            "kind": "sleep",
            "created_at": "2026-01-01T00:00:00Z",
        }
    )
    assert pending.call_key == "call_2_1_00ff00ff"
    fresh = HookSessionState(
        session_id="s",
        tool_call_id="aB3dE5gH7",
        call_key="call_1_0_12345678",
        tool_name="t",
        arguments={},
    )
    assert HookSessionState.model_validate_json(fresh.model_dump_json()) == fresh
