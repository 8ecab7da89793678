"""resolve_hook, expire_hook, rotate_hook_token and describe_hook on real Valkey.

The store's resolve takes a payload already validated by the hook's type (the control plane
does that: tests/functional/test_hook_validation.py); here each outcome is a typed result.

Every test runs on a standalone server and on a one-node cluster (``redis_client``). A parked task
is built with the real create_task / claim_turn / commit_turn (park_hooks) transitions.
"""

from __future__ import annotations

import enum
import json
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import pytest
from pydantic import Field

from factorial_aws import Hook
from factorial_aws.agents.hooks import hook_type_code
from factorial_aws.core import ids
from factorial_aws.core.outcomes import Complete, ParkHooks
from factorial_aws.core.records import HookMode, HookRequest
from factorial_aws.errors import HookNotFoundError, HookPayloadInvalidError, PayloadTooLargeError
from factorial_aws.store import keys
from factorial_aws.store.base import StoreContext, StoreSettings
from factorial_aws.store.expire_tree import expire_tree
from factorial_aws.store.hooks import (
    ResolveResult,
    describe_hook,
    expire_hook,
    payload_json,
    rotate_hook_token,
)
from factorial_aws.store.hooks import resolve_hook as store_resolve
from factorial_aws.store.tasks import Claimed, create_task
from factorial_aws.store.views import read_events
from factorial_aws.testing import FakeClock
from tests.store.helpers import Client, claim, commit, dump_all, tree_state

SECRET = b"test-secret"


class Approval(Hook):
    approved: bool
    comment: str = ""


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Line(Hook):
    sku: str = Field(min_length=2, max_length=5)
    qty: int = Field(ge=1, le=100)
    price: float = Field(gt=0)


class Reviewer(Hook):
    name: str
    level: Literal[1, 2, 3] = 1


class Order(Hook):
    approved: bool
    decision: Literal["yes", "no"]
    color: Color
    lines: list[Line] = Field(min_length=1, max_length=3)
    note: str | None = None
    reviewer: Reviewer | None = None
    tags: dict[str, int] = Field(default_factory=dict)
    pair: tuple[int, str] | None = None
    codes: set[int] = Field(default_factory=set)  # uniqueItems: ignored, pydantic drops duplicates


@dataclass
class Parked:
    task_id: str
    hooks: list[str]  # hook ids, in the order requested
    tokens: dict[str, str]  # hook id -> token (version 1)


def park(
    sc: StoreContext,
    clock: FakeClock,
    *models: type[Hook],
    mode: HookMode = HookMode.AWAITS,
    timeout: timedelta = timedelta(hours=1),
) -> Parked:
    """A task parked on one hook per model, all in one session (one stage of one tool call)."""
    task_id = create_task(sc, "agent", "hello").task_id
    claimed = claim(sc, task_id, 1)
    session = ids.hook_session_id(task_id, "call-1", "ship")
    requests, tokens = [], {}
    for i, model in enumerate(models):
        hook_id = ids.hook_id(session, f"p{i}", SECRET, hook_type_code(model))
        tokens[hook_id] = ids.hook_token(SECRET, hook_id, 1)
        requests.append(
            HookRequest(
                hook_id=hook_id,
                session_id=session,
                task_id=task_id,
                tool_call_id="call-1",
                tool_name="ship",
                param=f"p{i}",
                mode=mode,
                hook_type=model.__name__,
                schema=model.model_json_schema(),
                title=f"Please decide {i}",
                body="body",
                channel="email",
                metadata={"n": i},
                expires_at=clock.now() + timeout,
                token_hash=ids.token_hash(tokens[hook_id]),
            )
        )
    outcome = ParkHooks(
        context=claimed.context,
        requests=tuple(requests),
        waiting_on=tuple(r.hook_id for r in requests),
    )
    assert commit(sc, claimed, outcome).status == "waiting_hook"
    return Parked(task_id, [r.hook_id for r in requests], tokens)


def tree_state_of(dump: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in dump.items() if ":{ix:" not in k}


def task_field(client: Client, task_id: str, name: str) -> str | None:
    v = client.hget(keys.task(task_id), name)
    return None if v is None else v.decode()


def hook_field(client: Client, hook_id: str, name: str) -> str | None:
    v = client.hget(keys.hook(hook_id), name)
    return None if v is None else v.decode()


def inbox(client: Client, task_id: str) -> list[dict[str, Any]]:
    return [json.loads(i) for i in client.lrange(keys.inbox(task_id), 0, -1)]


def resolve_hook(
    sc: StoreContext,
    hook_id: str,
    payload: dict[str, Any] | bytes | str,
    token: str,
    idempotency_key: str | None = None,
    *,
    early: bool = False,
) -> ResolveResult:
    """The store's resolve with the payload encoded as the control plane encodes it."""
    text, _ = payload_json(sc, payload)
    return store_resolve(sc, hook_id, text, token, idempotency_key, early_token=early)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sc(redis_client: Client, clock: FakeClock) -> StoreContext:
    return StoreContext(redis_client, clock=clock)


def run_threads(n: int, target: Any) -> None:
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def body(i: int) -> None:
        barrier.wait()
        try:
            target(i)
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_resolving_every_hook_of_the_stage_wakes_the_task(
    redis_client: Client, sc: StoreContext, clock: FakeClock
) -> None:
    p = park(sc, clock, Approval, Approval)
    first = resolve_hook(sc, p.hooks[0], {"approved": True}, p.tokens[p.hooks[0]])
    assert (first.outcome, first.task_resumed, first.seq) == ("resolved", False, 0)
    assert task_field(redis_client, p.task_id, "status") == "waiting_hook"
    second = resolve_hook(sc, p.hooks[1], b'{"approved": false}', p.tokens[p.hooks[1]])
    assert (second.task_resumed, second.seq, second.payload) == (True, 2, {"approved": False})
    assert task_field(redis_client, p.task_id, "status") == "queued"
    assert [i["payload"] for i in inbox(redis_client, p.task_id)] == [
        {"approved": True},
        {"approved": False},
    ]
    view = describe_hook(sc, p.hooks[1])
    assert view is not None
    assert (view.status, view.payload, view.task_id) == ("resolved", {"approved": False}, p.task_id)


def test_concurrent_resolves_of_one_stage_wake_once(
    redis_client: Client, sc: StoreContext, clock: FakeClock
) -> None:
    p = park(sc, clock, Approval, Approval)
    seq_before = int(task_field(redis_client, p.task_id, "seq") or 0)
    results: list[Any] = []
    lock = threading.Lock()

    def racer(i: int) -> None:
        for hook_id in p.hooks if i % 2 else reversed(p.hooks):
            r = resolve_hook(sc, hook_id, {"approved": i % 3 == 0}, p.tokens[hook_id], f"key-{i}")
            with lock:
                results.append(r)

    run_threads(16, racer)
    wins = [r for r in results if r.outcome != "already_resolved"]
    assert sorted(r.hook_id for r in wins) == sorted(p.hooks)
    assert all(r.outcome == "resolved" for r in wins)
    assert sum(r.task_resumed for r in wins) == 1
    assert task_field(redis_client, p.task_id, "seq") == str(seq_before + 1)
    assert task_field(redis_client, p.task_id, "status") == "queued"
    items = inbox(redis_client, p.task_id)
    assert sorted(i["hook_id"] for i in items) == sorted(p.hooks)
    assert all(i["k"] == "hook" and i["status"] == "resolved" for i in items)
    session = hook_field(redis_client, p.hooks[0], "session")
    assert task_field(redis_client, p.task_id, f"p:{session}") is None  # the counter is gone


def test_expired_hook_found_by_resolve_wakes_the_task(
    redis_client: Client, sc: StoreContext, clock: FakeClock
) -> None:
    p = park(sc, clock, Approval, timeout=timedelta(minutes=5))
    hook_id, token = p.hooks[0], p.tokens[p.hooks[0]]
    clock.advance(minutes=5)  # now == exp: expired
    found = resolve_hook(sc, hook_id, {"approved": True}, token)
    # the caller dispatches the wake this resolve caused
    assert (found.outcome, found.task_id, found.task_resumed, found.seq) == (
        "expired",
        p.task_id,
        True,
        2,
    )
    assert hook_field(redis_client, hook_id, "status") == "expired"
    assert hook_field(redis_client, hook_id, "payload") is None
    assert task_field(redis_client, p.task_id, "status") == "queued"
    assert task_field(redis_client, p.task_id, "seq") == "2"
    assert inbox(redis_client, p.task_id) == [
        {"k": "hook", "hook_id": hook_id, "status": "expired", "payload": None}
    ]
    before = tree_state(redis_client)
    again = resolve_hook(sc, hook_id, {"approved": True}, token)
    assert (again.outcome, again.task_resumed, again.seq) == ("expired", False, 0)
    assert expire_hook(sc, hook_id).outcome == "not_requested"
    assert tree_state(redis_client) == before


def test_expire_hook_outcomes_and_requires_gate(
    redis_client: Client, sc: StoreContext, clock: FakeClock
) -> None:
    p = park(sc, clock, Approval, Approval, mode=HookMode.REQUIRES, timeout=timedelta(minutes=1))
    assert expire_hook(sc, p.hooks[0]).outcome == "not_due"
    assert expire_hook(sc, p.task_id + ".h" + "0" * 24).outcome == "not_found"
    assert expire_hook(sc, "garbage").outcome == "not_found"
    clock.advance(minutes=1)
    first = expire_hook(sc, p.hooks[0])
    # a `requires` gate that expired ends the tool call: the task wakes with the other one pending
    assert (first.expired, first.task_id, first.seq) == (True, p.task_id, 2)
    second = expire_hook(sc, p.hooks[1])
    assert (second.expired, second.seq) == (True, 0)  # already queued: no second wake
    assert task_field(redis_client, p.task_id, "seq") == "2"
    assert [i["status"] for i in inbox(redis_client, p.task_id)] == ["expired", "expired"]
    assert expire_hook(sc, p.hooks[0]).outcome == "not_requested"


def test_rotate_racing_resolve_never_goes_back_to_requested(
    redis_client: Client, sc: StoreContext, clock: FakeClock
) -> None:
    p = park(sc, clock, Approval)
    hook_id = p.hooks[0]
    versions = 40
    tokens = [ids.hook_token(SECRET, hook_id, v) for v in range(1, versions + 1)]
    seen: list[str] = []
    wins: list[Any] = []
    done = threading.Event()
    lock = threading.Lock()

    def watch() -> None:  # the status history must never leave `resolved` once there
        while not done.is_set():
            seen.append(hook_field(redis_client, hook_id, "status") or "")

    def worker(i: int) -> None:
        if i < 4:  # rotators: versions i+2, i+6, ... (revoking every other time)
            for v in range(i + 2, versions + 1, 4):
                rotate_hook_token(sc, hook_id, ids.token_hash(tokens[v - 1]), v, v % 2 == 0)
            return
        for _ in range(50):  # resolvers: newest tokens first, until one wins or someone did
            for token in reversed(tokens):
                r = resolve_hook(sc, hook_id, {"approved": True}, token, f"r{i}")
                if r.outcome == "not_found":
                    continue
                if r.outcome == "already_resolved":
                    return
                with lock:
                    wins.append(r)
                return

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        run_threads(8, worker)
    finally:
        done.set()
        watcher.join()
    seen.append(hook_field(redis_client, hook_id, "status") or "")
    assert len(wins) == 1 and wins[0].outcome == "resolved"
    assert seen[-1] == "resolved"
    assert set(seen[seen.index("resolved") :]) == {"resolved"}
    before = tree_state(redis_client)
    late = rotate_hook_token(sc, hook_id, ids.token_hash("late"), versions + 1)
    assert (late.outcome, late.rotated, late.status) == ("not_requested", False, "resolved")
    assert tree_state(redis_client) == before


def test_rotation_keeps_or_revokes_the_previous_token(
    redis_client: Client, sc: StoreContext, clock: FakeClock
) -> None:
    p = park(sc, clock, Approval)
    hook_id = p.hooks[0]
    t1, t2, t3 = (ids.hook_token(SECRET, hook_id, v) for v in (1, 2, 3))
    kept = rotate_hook_token(sc, hook_id, ids.token_hash(t2), 2, revoke_previous=False)
    assert (kept.outcome, kept.version) == ("rotated", 2)
    view = describe_hook(sc, hook_id)
    assert view is not None and view.token_version == 2
    before = tree_state(redis_client)
    assert rotate_hook_token(sc, hook_id, ids.token_hash(t3), 2).outcome == "stale_version"
    assert tree_state(redis_client) == before
    assert rotate_hook_token(sc, hook_id, ids.token_hash(t3), 3).rotated  # revokes t2 (and t1)
    for stale_token in (t1, t2):
        assert resolve_hook(sc, hook_id, {"approved": True}, stale_token).outcome == "not_found"
    assert resolve_hook(sc, hook_id, {"approved": True}, t3).outcome == "resolved"
    kinds = [e.kind for e in read_events(sc, p.task_id)]
    assert kinds.count("hook_token_rotated") == 2
    with pytest.raises(HookNotFoundError):
        rotate_hook_token(sc, hook_id.replace(hook_id[-24:], "0" * 24), ids.token_hash("x"), 9)


def test_previous_token_stays_valid_after_a_non_revoking_rotation(
    sc: StoreContext, clock: FakeClock
) -> None:
    p = park(sc, clock, Approval)
    hook_id = p.hooks[0]
    new = ids.hook_token(SECRET, hook_id, 2)
    rotate_hook_token(sc, hook_id, ids.token_hash(new), 2, revoke_previous=False)
    assert resolve_hook(sc, hook_id, {"approved": True}, p.tokens[hook_id]).outcome == "resolved"


def test_idempotent_resolve_replay_and_conflict(
    redis_client: Client, sc: StoreContext, clock: FakeClock
) -> None:
    p = park(sc, clock, Approval)
    hook_id, token = p.hooks[0], p.tokens[p.hooks[0]]
    first = resolve_hook(sc, hook_id, {"approved": True, "comment": "ok"}, token, "k1")
    assert (first.outcome, first.task_resumed, first.seq) == ("resolved", True, 2)
    before = tree_state(redis_client)
    replay = resolve_hook(sc, hook_id, '{"approved": false}', token, "k1")
    assert (replay.outcome, replay.task_resumed, replay.seq) == ("idempotent", False, 0)
    assert replay.payload == {"approved": True, "comment": "ok"}  # the stored one
    assert (replay.task_id, replay.hook_id) == (p.task_id, hook_id)
    for other_key in ("k2", None, ""):
        again = resolve_hook(sc, hook_id, {"approved": True, "comment": "ok"}, token, other_key)
        assert again.outcome == "already_resolved"
    # the token is checked before the idempotency key
    assert resolve_hook(sc, hook_id, {"approved": True}, "wrong", "k1").outcome == "not_found"
    assert tree_state(redis_client) == before
    assert len(inbox(redis_client, p.task_id)) == 1


def test_wrong_token_and_unknown_hook_answer_the_same(
    redis_client: Client, sc: StoreContext, clock: FakeClock
) -> None:
    p = park(sc, clock, Approval)
    hook_id = p.hooks[0]
    unknown = hook_id[:-24] + "f" * 16 + hook_id[-8:]
    before = tree_state(redis_client)
    answers = []
    for hid, token in [
        (hook_id, "wrong-token"),
        (hook_id, ""),
        (hook_id, ids.hook_token(SECRET, hook_id, 2)),  # a future version, not issued yet
        (unknown, p.tokens[hook_id]),
        (p.task_id, p.tokens[hook_id]),  # a task id is not a hook id
        ("not-an-id", p.tokens[hook_id]),
    ]:
        for early in (False, True):  # without a record, only the id's v1 token gets further
            r = resolve_hook(sc, hid, {"approved": True}, token, early=early and hid != unknown)
            answers.append((r.outcome, r.task_id, r.seq, r.payload))
    assert set(answers) == {("not_found", "", 0, None)}
    assert tree_state(redis_client) == before
    assert describe_hook(sc, unknown) is None and describe_hook(sc, "nope") is None


@pytest.mark.parametrize("text", ["not json", '{"approved": NaN}', '{"a": 1', ""])
def test_a_payload_that_is_not_json_is_refused_before_the_store(
    sc: StoreContext, text: str
) -> None:
    with pytest.raises(HookPayloadInvalidError, match="not valid JSON"):
        payload_json(sc, text)
    with pytest.raises(HookPayloadInvalidError, match="not JSON-serializable"):
        payload_json(sc, {"when": object()})
    assert payload_json(sc, b'{"b": [1, "\xc3\xa9"]}') == ('{"b":[1,"\xe9"]}', {"b": [1, "\xe9"]})


def test_oversized_payload_rejected_before_lua(
    redis_client: Client, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    sc = StoreContext(redis_client, clock=clock, settings=StoreSettings(max_payload_bytes=100))
    p = park(sc, clock, Approval)
    hook_id, token = p.hooks[0], p.tokens[p.hooks[0]]
    exact = {"approved": True, "comment": "x" * (100 - len('{"approved":true,"comment":""}'))}
    big = {"approved": True, "comment": "x" * 100}
    before = dump_all(redis_client)
    calls: list[str] = []
    real_call_indexed = sc.scripts.call_indexed

    def spy(name: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(name)
        return real_call_indexed(name, *args, **kwargs)

    monkeypatch.setattr(sc.scripts, "call_indexed", spy)
    monkeypatch.setattr(sc.scripts, "call", spy)
    for payload in (big, json.dumps(big), json.dumps(big).encode(), " " * 101 + "{}"):
        with pytest.raises(PayloadTooLargeError):
            resolve_hook(sc, hook_id, payload, token)
    with pytest.raises(PayloadTooLargeError):
        resolve_hook(sc, "unknown", big, "wrong")  # the cap comes before any lookup
    assert calls == []
    assert dump_all(redis_client) == before
    assert resolve_hook(sc, hook_id, exact, token).outcome == "resolved"  # exactly at the cap
    assert calls == ["resolve_hook"]


def test_resolving_a_cancelled_tasks_hook(
    redis_client: Client, sc: StoreContext, clock: FakeClock
) -> None:
    p = park(sc, clock, Approval, Approval, timeout=timedelta(minutes=1))
    redis_client.hset(keys.task(p.task_id), "status", "cancelled")
    clock.advance(minutes=2)  # past expiry too: a finished task's hook is not expired either
    tree_before = tree_state(redis_client)
    first = resolve_hook(sc, p.hooks[0], {"approved": True}, p.tokens[p.hooks[0]])
    assert (first.outcome, first.task_id, first.seq) == ("cancelled", p.task_id, 0)
    assert tree_state(redis_client) == tree_before  # (the dispatch intent is written ahead)
    before = dump_all(redis_client)
    again = resolve_hook(sc, p.hooks[0], {"approved": True}, p.tokens[p.hooks[0]])
    assert again.outcome == "cancelled"
    assert expire_hook(sc, p.hooks[0]).outcome == "cancelled"
    redis_client.delete(keys.task(p.task_id))  # a missing task answers the same
    before.pop(keys.task(p.task_id))
    gone = resolve_hook(sc, p.hooks[0], {"approved": True}, p.tokens[p.hooks[0]])
    assert gone.outcome == "cancelled"
    assert dump_all(redis_client) == before
    redis_client.hset(keys.hook(p.hooks[1]), "status", "cancelled")
    hook_cancelled = resolve_hook(sc, p.hooks[1], {"approved": True}, p.tokens[p.hooks[1]])
    assert hook_cancelled.outcome == "cancelled"


def test_no_plaintext_token_in_any_key(
    redis_client: Client, sc: StoreContext, clock: FakeClock
) -> None:
    p = park(sc, clock, Approval, Approval, Approval, timeout=timedelta(minutes=10))
    h0, h1, h2 = p.hooks
    v2 = ids.hook_token(SECRET, h1, 2)
    rotate_hook_token(sc, h1, ids.token_hash(v2), 2, revoke_previous=False)
    resolve_hook(sc, h0, {"approved": True, "comment": "fine"}, p.tokens[h0], "idem")
    resolve_hook(sc, h1, {"approved": False}, v2)
    clock.advance(minutes=10)
    assert expire_hook(sc, h2).expired
    tokens = [*p.tokens.values(), v2]
    hashes = [ids.token_hash(t) for t in tokens]
    everything = repr(dump_all(redis_client))
    assert p.task_id in everything and h2 in everything  # the dump does see the data
    for token in tokens:
        assert token not in everything
    events = repr(redis_client.lrange(keys.events(p.task_id), 0, -1))
    inbox_text = repr(redis_client.lrange(keys.inbox(p.task_id), 0, -1))
    for h in hashes:  # hashes live in the hook hash only, never in events or the inbox
        assert h not in events and h not in inbox_text
    view = describe_hook(sc, h1)
    assert view is not None and not any(h in repr(view) for h in hashes)


def test_describe_hook_shows_the_request(sc: StoreContext, clock: FakeClock) -> None:
    p = park(sc, clock, Order)
    view = describe_hook(sc, p.hooks[0])
    assert view is not None
    assert (view.status, view.title, view.channel, view.mode, view.tool) == (
        "requested",
        "Please decide 0",
        "email",
        "awaits",
        "ship",
    )
    assert view.schema == {}  # not stored: the control plane takes it from the App's type
    assert view.expires_at == clock.now() + timedelta(hours=1)
    assert (view.payload, view.resolved_at, view.metadata, view.hook_type) == (
        None,
        None,
        {"n": 0},
        "Order",
    )


# --- early resolves: the builder ran, the commit that registers the hook has not landed yet ---


def _requested(
    sc: StoreContext, clock: FakeClock, session_key: str = "call-1"
) -> tuple[Claimed, HookRequest, str]:
    """A claimed (running) task whose turn's builder has produced one Approval hook request."""
    task_id = create_task(sc, "agent", "hello").task_id
    claimed = claim(sc, task_id, 1)
    session = ids.hook_session_id(task_id, session_key, "ship")
    hook_id = ids.hook_id(session, "approval", SECRET, hook_type_code(Approval))
    token = ids.hook_token(SECRET, hook_id, ids.FIRST_TOKEN_VERSION)
    request = HookRequest(
        hook_id=hook_id,
        session_id=session,
        task_id=task_id,
        tool_call_id=session_key,
        tool_name="ship",
        param="approval",
        mode=HookMode.REQUIRES,
        hook_type="Approval",
        schema=Approval.model_json_schema(),
        title="Please decide",
        expires_at=clock.now() + timedelta(hours=1),
        token_hash=ids.token_hash(token),
    )
    return claimed, request, token


def test_an_early_resolve_is_kept_then_applied_when_its_hook_registers(
    redis_client: Client, sc: StoreContext, clock: FakeClock
) -> None:
    claimed, req, token = _requested(sc, clock)
    hook_id, task_id = req.hook_id, req.task_id
    early = resolve_hook(
        sc, hook_id, {"approved": True, "comment": "fast"}, token, "k1", early=True
    )
    assert (early.outcome, early.task_id, early.replay, early.seq) == (
        "accepted",
        task_id,
        False,
        0,
    )
    assert hook_field(redis_client, hook_id, "status") == "accepted"
    life = redis_client.pttl(keys.hook(hook_id))
    assert 0 < life <= max(sc.settings.early_resolve_ttl_s * 1000, 2 * sc.settings.lease_ms)
    assert f"h:{hook_id}".encode() in redis_client.smembers(keys.registry(task_id))
    assert describe_hook(sc, hook_id) is None  # nothing to describe until it registers
    before = tree_state(redis_client)
    replay = resolve_hook(sc, hook_id, {"approved": False}, token, "k1", early=True)
    assert (replay.outcome, replay.replay) == ("accepted", True)
    for key in ("k2", None):  # first one wins
        assert resolve_hook(sc, hook_id, {"approved": False}, token, key, early=True).outcome == (
            "already_resolved"
        )
    assert resolve_hook(sc, hook_id, {"approved": False}, "wrong", "k1").outcome == "not_found"
    assert tree_state(redis_client) == before

    outcome = ParkHooks(context=claimed.context, requests=(req,), waiting_on=(hook_id,))
    committed = commit(sc, claimed, outcome)
    # the stage is complete at once: the task continues instead of parking
    assert (committed.status, committed.seq) == ("queued", 2)
    assert redis_client.pttl(keys.hook(hook_id)) == -1  # a registered hook lives with its tree
    view = describe_hook(sc, hook_id)
    assert view is not None
    assert (view.status, view.payload, view.title) == (
        "resolved",
        {"approved": True, "comment": "fast"},
        "Please decide",
    )
    assert inbox(redis_client, task_id) == [
        {
            "k": "hook",
            "hook_id": hook_id,
            "status": "resolved",
            "payload": {"approved": True, "comment": "fast"},
        }
    ]
    assert task_field(redis_client, task_id, f"p:{req.session_id}") is None
    kinds = [e.kind for e in read_events(sc, task_id)]
    assert kinds.index("hook_accepted") < kinds.index("hook_resolved")
    # late duplicates answer as for any resolved hook
    late = resolve_hook(sc, hook_id, {"approved": True, "comment": "fast"}, token, "k1")
    assert (late.outcome, late.payload) == ("idempotent", {"approved": True, "comment": "fast"})
    assert resolve_hook(sc, hook_id, {"approved": True}, token).outcome == "already_resolved"


def test_an_early_resolve_needs_a_live_task_and_a_first_version_token(
    redis_client: Client, sc: StoreContext, clock: FakeClock
) -> None:
    _claimed, req, token = _requested(sc, clock)
    before = dump_all(redis_client)
    # without the id's v1 token (the caller checks it) nothing is kept: an unknown hook
    assert resolve_hook(sc, req.hook_id, {"approved": True}, token).outcome == "not_found"
    checked = store_resolve(sc, req.hook_id, None, token, early_token=True)  # check only
    assert (checked.outcome, checked.task_id) == ("checked", req.task_id)
    assert tree_state(redis_client) == tree_state_of(before)
    redis_client.hset(keys.task(req.task_id), "status", "cancelled")
    over = resolve_hook(sc, req.hook_id, {"approved": True}, token, early=True)
    assert (over.outcome, over.task_id) == ("cancelled", req.task_id)
    other = ids.new_root_task_id()  # a hook id naming a task that does not exist
    ghost = ids.hook_id(ids.hook_session_id(other, "c", "ship"), "p", SECRET, "0123abcd")
    ghost_token = ids.hook_token(SECRET, ghost, 1)
    assert resolve_hook(sc, ghost, {"a": 1}, ghost_token, early=True).outcome == "not_found"
    assert hook_field(redis_client, req.hook_id, "status") is None
    assert redis_client.exists(keys.hook(ghost)) == 0


def test_an_early_resolve_whose_call_is_never_committed_goes_with_the_tree(
    redis_client: Client, sc: StoreContext, clock: FakeClock
) -> None:
    claimed, req, token = _requested(sc, clock)
    assert resolve_hook(sc, req.hook_id, {"approved": True}, token, early=True).outcome == (
        "accepted"
    )
    # the replayed turn asked for something else and finished: the hook never registers
    commit(sc, claimed, Complete(context=claimed.context, output="done"))
    assert hook_field(redis_client, req.hook_id, "status") == "accepted"
    assert resolve_hook(sc, req.hook_id, {"approved": True}, token, early=True).outcome == (
        "cancelled"
    )
    assert expire_tree(sc, req.task_id)
    registry = keys.registry(req.task_id)
    members = {m.decode() for m in redis_client.smembers(registry)}
    assert f"h:{req.hook_id}" in members
    ttls = {m: redis_client.ttl(keys.from_registry_member(req.task_id, m)) for m in members}
    assert 0 < ttls[f"h:{req.hook_id}"] <= sc.settings.tree_ttl_s
    # every key of the tree that exists, the early record too, now expires (-2: never written)
    assert all(t == -2 or 0 < t <= sc.settings.tree_ttl_s for t in ttls.values()), ttls


def _race_early_resolves_with_the_commit(sc: StoreContext, clock: FakeClock, key: str) -> Any:
    claimed, req, token = _requested(sc, clock, session_key=key)
    outcome = ParkHooks(context=claimed.context, requests=(req,), waiting_on=(req.hook_id,))
    results: list[ResolveResult] = []
    lock = threading.Lock()

    def racer(i: int) -> None:
        if i == 0:
            commit(sc, claimed, outcome)
            return
        payload = {"approved": True, "comment": f"r{i}"}
        r = resolve_hook(sc, req.hook_id, payload, token, f"k{i}", early=True)
        with lock:
            results.append(r)

    run_threads(8, racer)
    return req, results


def test_early_resolves_racing_the_registering_commit_apply_exactly_one(
    redis_client: Client, sc: StoreContext, clock: FakeClock
) -> None:
    for round_ in range(5):
        req, results = _race_early_resolves_with_the_commit(sc, clock, f"call-{round_}")
        winners = [r for r in results if r.outcome in ("accepted", "resolved")]
        assert len(winners) == 1, results
        assert {r.outcome for r in results} - {"accepted", "resolved"} == {"already_resolved"}
        view = describe_hook(sc, req.hook_id)
        assert view is not None and view.status == "resolved"
        assert view.payload == winners[0].payload
        assert [i["hook_id"] for i in inbox(redis_client, req.task_id)] == [req.hook_id]
        assert task_field(redis_client, req.task_id, "status") == "queued"
