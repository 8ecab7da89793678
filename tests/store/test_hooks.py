"""resolve_hook, expire_hook, rotate_hook_token and describe_hook on real Valkey.

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
from pydantic import Field, ValidationError

from factorial_aws import Hook
from factorial_aws.core import ids
from factorial_aws.core.outcomes import ParkHooks
from factorial_aws.core.records import HookMode, HookRequest
from factorial_aws.errors import (
    HookAlreadyResolvedError,
    HookCancelledError,
    HookExpiredError,
    HookNotFoundError,
    HookPayloadInvalidError,
    PayloadTooLargeError,
)
from factorial_aws.store import keys
from factorial_aws.store.base import StoreContext, StoreSettings
from factorial_aws.store.hooks import (
    describe_hook,
    expire_hook,
    resolve_hook,
    rotate_hook_token,
)
from factorial_aws.store.tasks import create_task
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
        hook_id = ids.hook_id(session, f"p{i}", SECRET)
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


def task_field(client: Client, task_id: str, name: str) -> str | None:
    v = client.hget(keys.task(task_id), name)
    return None if v is None else v.decode()


def hook_field(client: Client, hook_id: str, name: str) -> str | None:
    v = client.hget(keys.hook(hook_id), name)
    return None if v is None else v.decode()


def inbox(client: Client, task_id: str) -> list[dict[str, Any]]:
    return [json.loads(i) for i in client.lrange(keys.inbox(task_id), 0, -1)]


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
    assert (first.status, first.task_resumed, first.seq) == ("resolved", False, 0)
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
            try:
                r: Any = resolve_hook(
                    sc, hook_id, {"approved": i % 3 == 0}, p.tokens[hook_id], f"key-{i}"
                )
            except HookAlreadyResolvedError as exc:
                r = exc
            with lock:
                results.append(r)

    run_threads(16, racer)
    wins = [r for r in results if not isinstance(r, HookAlreadyResolvedError)]
    assert sorted(r.hook_id for r in wins) == sorted(p.hooks)
    assert all(r.status == "resolved" for r in wins)
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
    with pytest.raises(HookExpiredError) as info:
        resolve_hook(sc, hook_id, {"approved": True}, token)
    exc = info.value  # its attributes let the caller dispatch the wake this resolve caused
    wake = [getattr(exc, name, None) for name in ("task_id", "task_resumed", "seq")]
    assert (wake, exc.code, type(exc)) == ([p.task_id, True, 2], "hook_expired", HookExpiredError)
    assert hook_field(redis_client, hook_id, "status") == "expired"
    assert hook_field(redis_client, hook_id, "payload") is None
    assert task_field(redis_client, p.task_id, "status") == "queued"
    assert task_field(redis_client, p.task_id, "seq") == "2"
    assert inbox(redis_client, p.task_id) == [
        {"k": "hook", "hook_id": hook_id, "status": "expired", "payload": None}
    ]
    before = tree_state(redis_client)
    with pytest.raises(HookExpiredError) as again:
        resolve_hook(sc, hook_id, {"approved": True}, token)
    assert [getattr(again.value, name, None) for name in ("task_resumed", "seq")] == [False, 0]
    assert expire_hook(sc, hook_id).outcome == "not_requested"
    assert tree_state(redis_client) == before


def test_expire_hook_outcomes_and_requires_gate(
    redis_client: Client, sc: StoreContext, clock: FakeClock
) -> None:
    p = park(sc, clock, Approval, Approval, mode=HookMode.REQUIRES, timeout=timedelta(minutes=1))
    assert expire_hook(sc, p.hooks[0]).outcome == "not_due"
    assert expire_hook(sc, p.task_id + ".h" + "0" * 16).outcome == "not_found"
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
                try:
                    r = resolve_hook(sc, hook_id, {"approved": True}, token, f"r{i}")
                except HookNotFoundError:
                    continue
                except HookAlreadyResolvedError:
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
    assert len(wins) == 1 and wins[0].status == "resolved"
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
        with pytest.raises(HookNotFoundError):
            resolve_hook(sc, hook_id, {"approved": True}, stale_token)
    assert resolve_hook(sc, hook_id, {"approved": True}, t3).status == "resolved"
    kinds = [e.kind for e in read_events(sc, p.task_id)]
    assert kinds.count("hook_token_rotated") == 2
    with pytest.raises(HookNotFoundError):
        rotate_hook_token(sc, hook_id.replace(hook_id[-16:], "0" * 16), ids.token_hash("x"), 9)


def test_previous_token_stays_valid_after_a_non_revoking_rotation(
    sc: StoreContext, clock: FakeClock
) -> None:
    p = park(sc, clock, Approval)
    hook_id = p.hooks[0]
    new = ids.hook_token(SECRET, hook_id, 2)
    rotate_hook_token(sc, hook_id, ids.token_hash(new), 2, revoke_previous=False)
    assert resolve_hook(sc, hook_id, {"approved": True}, p.tokens[hook_id]).status == "resolved"


def test_idempotent_resolve_replay_and_conflict(
    redis_client: Client, sc: StoreContext, clock: FakeClock
) -> None:
    p = park(sc, clock, Approval)
    hook_id, token = p.hooks[0], p.tokens[p.hooks[0]]
    first = resolve_hook(sc, hook_id, {"approved": True, "comment": "ok"}, token, "k1")
    assert (first.status, first.task_resumed, first.seq) == ("resolved", True, 2)
    before = tree_state(redis_client)
    replay = resolve_hook(sc, hook_id, '{"approved": false}', token, "k1")
    assert (replay.status, replay.task_resumed, replay.seq) == ("idempotent", False, 0)
    assert replay.payload == {"approved": True, "comment": "ok"}  # the stored one
    assert (replay.task_id, replay.hook_id) == (p.task_id, hook_id)
    for other_key in ("k2", None, ""):
        with pytest.raises(HookAlreadyResolvedError):
            resolve_hook(sc, hook_id, {"approved": True, "comment": "ok"}, token, other_key)
    with pytest.raises(HookNotFoundError):  # the token is checked before the idempotency key
        resolve_hook(sc, hook_id, {"approved": True}, "wrong", "k1")
    assert tree_state(redis_client) == before
    assert len(inbox(redis_client, p.task_id)) == 1


def test_wrong_token_and_unknown_hook_answer_the_same(
    redis_client: Client, sc: StoreContext, clock: FakeClock
) -> None:
    p = park(sc, clock, Approval)
    hook_id = p.hooks[0]
    unknown = hook_id[:-16] + "f" * 16
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
        with pytest.raises(HookNotFoundError) as info:
            resolve_hook(sc, hid, {"approved": True}, token)
        answers.append((type(info.value), info.value.code, info.value.message.replace(hid, "ID")))
    assert len(set(answers)) == 1
    assert tree_state(redis_client) == before
    assert describe_hook(sc, unknown) is None and describe_hook(sc, "nope") is None


_BASE: dict[str, Any] = {
    "approved": True,
    "decision": "yes",
    "color": "red",
    "lines": [{"sku": "ab", "qty": 1, "price": 1}],
}


def _order(**changes: Any) -> dict[str, Any]:
    return {**_BASE, **changes}


def _line(**changes: Any) -> dict[str, Any]:
    return _order(lines=[{"sku": "ab", "qty": 1, "price": 1, **changes}])


VALID_ORDERS: list[dict[str, Any]] = [
    _line(price=0.5),
    _order(
        decision="no",
        color="blue",
        lines=[{"sku": "ééééé", "qty": 100, "price": 3}, {"sku": "xyz", "qty": 2.0, "price": 1e9}],
        note=None,
        reviewer={"name": "ann", "level": 3},
        tags={"a": 1, "b": -2},
        pair=[1, "x"],
        codes=[1, 1, 2],
    ),
    _order(note="n", reviewer=None, tags={}, pair=None),
]


INVALID_ORDERS: list[tuple[Any, str]] = [
    ({}, "$.approved: field required"),
    ({k: v for k, v in _BASE.items() if k != "lines"}, "$.lines: field required"),
    (_order(extra=1), "$.extra: extra field not permitted"),
    (_order(decision="maybe"), '$.decision: must be one of ["yes","no"]'),
    (_order(color="green"), "$.color: must be one of"),
    (_order(approved=None), "$.approved: expected boolean, got null"),
    (_order(note=5), "$.note: matches none of the allowed schemas"),
    (_order(reviewer={"name": 3}), "$.reviewer.name: expected string, got integer"),
    (_order(reviewer={"name": "a", "level": 4}), "$.reviewer.level: must be one of [1,2,3]"),
    (_order(reviewer={"name": "a", "x": 1}), "$.reviewer.x: extra field not permitted"),
    (_order(lines=[]), "$.lines: must have at least 1 items"),
    (_order(lines=[_BASE["lines"][0]] * 4), "$.lines: must have at most 3 items"),
    (_order(lines={}), "$.lines: must have at least 1 items"),  # cjson: {} is also an empty array
    (_order(lines="ab"), "$.lines: expected array, got string"),
    (_line(qty=1.5), "$.lines[0].qty: expected integer, got number"),
    (_line(qty=0), "$.lines[0].qty: must be >= 1"),
    (_line(qty=101), "$.lines[0].qty: must be <= 100"),
    (_line(price=0), "$.lines[0].price: must be > 0"),
    (_line(price=[1]), "$.lines[0].price: expected number, got array"),
    (_line(sku="é"), "$.lines[0].sku: must have at least 2 characters"),  # 2 bytes, 1 character
    (_line(sku="abcdef"), "$.lines[0].sku: must have at most 5 characters"),
    (_line(bogus=True), "$.lines[0].bogus: extra field not permitted"),
    (_order(tags={"a": "x"}), "$.tags.a: expected integer, got string"),
    (_order(pair=[1, 2]), "$.pair[1]: expected string, got integer"),
    (_order(pair=[1]), "$.pair: must have at least 2 items"),
    (_order(codes=[1, "a"]), "$.codes[1]: expected integer, got string"),
    ([_BASE], "$: expected object, got array"),
    ("not json", "payload is not valid JSON"),
    ('{"approved": NaN}', "payload is not valid JSON"),
    ('"text"', "$: expected object, got string"),
]


def test_invalid_payload_writes_nothing(
    redis_client: Client, sc: StoreContext, clock: FakeClock
) -> None:
    p = park(sc, clock, Order, Order, Order)
    hook_id, token = p.hooks[0], p.tokens[p.hooks[0]]
    tree_before = tree_state(redis_client)
    with pytest.raises(HookPayloadInvalidError):  # writes the dispatch intent ahead, once
        resolve_hook(sc, hook_id, {}, token)
    assert tree_state(redis_client) == tree_before
    before = dump_all(redis_client)
    for payload, expected in INVALID_ORDERS:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        with pytest.raises(ValidationError):  # the Lua validator agrees with pydantic
            Order.model_validate_json(text)
        with pytest.raises(HookPayloadInvalidError) as info:
            resolve_hook(sc, hook_id, payload if isinstance(payload, str) else text, token)
        assert expected in info.value.message, (payload, info.value.message)
    many = _order(
        approved=1, decision=2, color=3, note=4, tags=5, pair=6, x=7, y=8, z=9, w=10, v=11
    )
    with pytest.raises(HookPayloadInvalidError, match=r"; \.\.\. \(1 more\)$"):
        resolve_hook(sc, hook_id, many, token)
    assert dump_all(redis_client) == before
    assert hook_field(redis_client, hook_id, "status") == "requested"
    for hid, payload in zip(p.hooks, VALID_ORDERS, strict=True):
        Order.model_validate(payload)
        assert resolve_hook(sc, hid, payload, p.tokens[hid]).payload == payload
    assert task_field(redis_client, p.task_id, "status") == "queued"


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
    assert resolve_hook(sc, hook_id, exact, token).status == "resolved"  # exactly at the cap
    assert calls == ["resolve_hook"]


def test_resolving_a_cancelled_tasks_hook(
    redis_client: Client, sc: StoreContext, clock: FakeClock
) -> None:
    p = park(sc, clock, Approval, Approval, timeout=timedelta(minutes=1))
    redis_client.hset(keys.task(p.task_id), "status", "cancelled")
    clock.advance(minutes=2)  # past expiry too: a finished task's hook is not expired either
    tree_before = tree_state(redis_client)
    with pytest.raises(HookCancelledError):  # writes the dispatch intent ahead, once
        resolve_hook(sc, p.hooks[0], {"approved": True}, p.tokens[p.hooks[0]])
    assert tree_state(redis_client) == tree_before
    before = dump_all(redis_client)
    with pytest.raises(HookCancelledError):
        resolve_hook(sc, p.hooks[0], {"approved": True}, p.tokens[p.hooks[0]])
    assert expire_hook(sc, p.hooks[0]).outcome == "cancelled"
    redis_client.delete(keys.task(p.task_id))  # a missing task answers the same
    before.pop(keys.task(p.task_id))
    with pytest.raises(HookCancelledError):
        resolve_hook(sc, p.hooks[0], {"approved": True}, p.tokens[p.hooks[0]])
    assert dump_all(redis_client) == before
    redis_client.hset(keys.hook(p.hooks[1]), "status", "cancelled")
    with pytest.raises(HookCancelledError):
        resolve_hook(sc, p.hooks[1], {"approved": True}, p.tokens[p.hooks[1]])


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
    assert view.schema == Order.model_json_schema()
    assert view.expires_at == clock.now() + timedelta(hours=1)
    assert (view.payload, view.resolved_at, view.metadata, view.hook_type) == (
        None,
        None,
        {"n": 0},
        "Order",
    )
