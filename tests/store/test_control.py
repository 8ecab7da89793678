"""Control transitions (wake, steer, cancel, reclaim, expire_tree) on real Valkey.

Every test runs on a standalone server and on a one-node cluster (``redis_client``). Trees are
built with the create_task / claim_turn / commit_turn scripts directly (``_Tree`` below follows
their KEYS/ARGV headers), so these tests depend only on the scripts' contracts.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster

from factorial_aws.core import ids
from factorial_aws.core.records import ChildOutcome
from factorial_aws.errors import TaskFinishedError, TaskNotFoundError
from factorial_aws.store import cancel_task as cancel_task_module
from factorial_aws.store import keys
from factorial_aws.store.base import StoreContext, StoreSettings, to_ms
from factorial_aws.store.cancel_task import CancelResult, _subtree, cancel_task
from factorial_aws.store.expire_tree import expire_tree
from factorial_aws.store.reclaim_lapsed_lease import reclaim_lapsed_lease
from factorial_aws.store.steer_task import steer_task
from factorial_aws.store.views import read_events
from factorial_aws.store.wake_task import WakeResult, wake_task
from factorial_aws.testing import FakeClock

Client = redis.Redis | RedisCluster
TOKEN_HASH = ids.token_hash("token")


class _Tree:
    """Drive tasks through the turn scripts, as a worker would (no model, no runtime)."""

    def __init__(self, sc: StoreContext) -> None:
        self.sc = sc

    def field(self, task_id: str, name: str) -> str | None:
        v = self.sc.client.hget(keys.task(task_id), name)
        return None if v is None else v.decode()

    def status(self, task_id: str) -> str | None:
        return self.field(task_id, "status")

    def seq(self, task_id: str) -> int:
        return int(self.field(task_id, "seq") or 0)

    def inbox(self, task_id: str) -> list[dict[str, Any]]:
        return [json.loads(i) for i in self.sc.client.lrange(keys.inbox(task_id), 0, -1)]

    def event_kinds(self, task_id: str) -> list[str]:
        return [e.kind for e in read_events(self.sc, task_id)]

    def root(self) -> str:
        tid = ids.new_root_task_id()
        ks = [*keys.task_keys(tid), keys.task_hooks(tid), keys.kids(tid), keys.join(tid)]
        ks += [keys.registry(tid), keys.kids(tid)]
        args = [self.sc.now_arg(), tid, "agent", "", "", tid, "{}", "req", ""]
        assert self.sc.scripts.call("create_task", ks, args) == ["created", 1]
        return tid

    def claim(self, task_id: str, lease_ms: int = 60_000) -> tuple[int, int]:
        """Claim with the current seq: (fence, inbox length)."""
        args = [self.sc.now_arg(), self.seq(task_id), lease_ms]
        res = self.sc.scripts.call("claim_turn", keys.task_keys(task_id), args)
        assert res[0] == "claimed", res
        return int(res[1]), int(res[3])

    def commit(
        self,
        task_id: str,
        fence: int,
        kind: str,
        detail: Any = None,
        *,
        consumed: int = 0,
        children: tuple[str, ...] = (),
        requests: tuple[dict[str, str], ...] = (),
    ) -> list[Any]:
        parent = self.field(task_id, "parent") or task_id
        ks = [*keys.task_keys(task_id), keys.task_hooks(task_id), keys.kids(task_id)]
        ks += [keys.join(task_id), keys.registry(task_id), keys.task(parent), keys.join(parent)]
        ks += [keys.inbox(parent), keys.events(parent)]
        ks += [keys.hook(r["hook_id"]) for r in requests]
        for c in children:
            ks += [*keys.task_keys(c), keys.task_hooks(c), keys.kids(c), keys.join(c)]
        waited = [r["hook_id"] for r in requests]
        ks += [keys.hook(h) for h in waited]
        specs = [
            {"task_id": c, "agent": "sub", "owner": "", "root": ids.root_of(c), "ctx": "{}"}
            for c in children
        ]
        text = detail if isinstance(detail, str) else json.dumps(detail or {})
        args: list[Any] = [self.sc.now_arg(), fence, kind, "{}", "[]", consumed, 1]
        args += [len(requests), len(children), len(waited), text]
        args += [json.dumps(r) for r in requests] + [json.dumps(s) for s in specs]
        return self.sc.scripts.call("commit_turn", ks, args)

    def turn(self, task_id: str, kind: str, detail: Any = None, **kw: Any) -> list[Any]:
        """One whole turn: claim, then commit consuming the inbox."""
        fence, consumed = self.claim(task_id)
        res = self.commit(task_id, fence, kind, detail, consumed=consumed, **kw)
        assert res[0] == "ok", res
        return res

    def spawn(self, parent: str, n: int, kind: str = "continue", detail: Any = None) -> list[str]:
        kids = [ids.child_task_id(parent, f"k{i}") for i in range(n)]
        self.turn(parent, kind, detail, children=tuple(kids))
        return kids

    def park_children(self, parent: str, kids: list[str], join: str | int = "all") -> str:
        wait = ids.wait_id(parent, f"call-{self.seq(parent)}")
        self.turn(parent, "park_children", {"wait_id": wait, "join": join, "kids": kids})
        return wait

    def complete(self, task_id: str, output: Any) -> list[Any]:
        return self.turn(task_id, "complete", json.dumps(output))

    def hook_requests(self, task_id: str, n: int) -> tuple[dict[str, str], ...]:
        session = ids.hook_session_id(task_id, "call-h", "approve")
        exp = to_ms(self.sc.clock.now()) + 3_600_000 if self.sc.clock else 2**42
        return tuple(
            {
                "hook_id": ids.hook_id(session, f"p{i}", b"test", "0000000a"),
                "task": task_id,
                "session": session,
                "tool_call": "call-h",
                "tool": "approve",
                "param": f"p{i}",
                "mode": "awaits",
                "type": "Approval",
                "title": "approve?",
                "exp": str(exp),
                "th": TOKEN_HASH,
                "tv": "1",
            }
            for i in range(n)
        )

    def park_hooks(self, task_id: str, n: int) -> list[str]:
        requests = self.hook_requests(task_id, n)
        self.turn(task_id, "park_hooks", {}, requests=requests)
        return [r["hook_id"] for r in requests]

    def hook_status(self, hook_id: str) -> str:
        return bytes(self.sc.client.hget(keys.hook(hook_id), "status")).decode()

    def dump(self, root: str) -> dict[str, Any]:
        """Every key of the tree with its value, to compare before/after a refused transition."""
        c, out = self.sc.client, {}
        for key in c.scan_iter(match=f"*{keys.tag(root)}*"):
            kind = c.type(key).decode()
            reads = {
                "hash": c.hgetall,
                "list": lambda k: c.lrange(k, 0, -1),
                "set": c.smembers,
                "string": c.get,
                "stream": c.xrange,
            }
            out[key.decode()] = (kind, reads[kind](key))
        return out


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sc(redis_client: Client, clock: FakeClock) -> StoreContext:
    return StoreContext(redis_client, clock=clock)


@pytest.fixture
def tree(sc: StoreContext) -> _Tree:
    return _Tree(sc)


def _wake_outcomes(item: dict[str, Any]) -> list[ChildOutcome]:
    assert item["k"] == "wake"
    return [ChildOutcome.model_validate(c) for c in item["children"]]


# --- children and joins ---


def test_child_finishing_before_parent_parks_is_counted(tree: _Tree) -> None:
    root = tree.root()
    (child,) = tree.spawn(root, 1)
    fence, consumed = tree.claim(root)  # the parent's next turn is running...
    tree.complete(child, {"answer": 42})  # ...when the child completes
    assert tree.status(root) == "running"
    assert tree.inbox(root) == []

    wait = ids.wait_id(root, "call-join")
    detail = {"wait_id": wait, "join": "all", "kids": [child]}
    res = tree.commit(root, fence, "park_children", detail, consumed=consumed)

    assert res[:3] == ["ok", "queued", 3]
    (item,) = tree.inbox(root)
    assert item["wait_id"] == wait
    assert _wake_outcomes(item) == [
        ChildOutcome(task_id=child, status="completed", output={"answer": 42})
    ]
    assert tree.field(root, "join") is None
    assert tree.field(root, "jkids") is None


@pytest.mark.parametrize(("join", "needed"), [("any", 1), ("all", 3), (2, 2)])
def test_child_joined_on_a_later_turn_keeps_its_result(
    tree: _Tree, join: str | int, needed: int
) -> None:
    root = tree.root()
    kids = tree.spawn(root, 3)
    tree.park_children(root, kids, join)
    for i, kid in enumerate(kids[:needed]):
        assert tree.status(root) == "waiting_children"
        res = tree.complete(kid, {"n": i})
        assert res[4] == (tree.seq(root) if i == needed - 1 else 0)
    assert tree.status(root) == "queued"
    (first,) = tree.inbox(root)
    assert [o.output for o in _wake_outcomes(first)] == [{"n": i} for i in range(needed)]

    # a later turn waits on all three: the earlier outcomes are still in the join
    tree.park_children(root, kids, "all")
    for i, kid in enumerate(kids[needed:], start=needed):
        assert tree.status(root) == "waiting_children"
        tree.complete(kid, {"n": i})
    assert tree.status(root) == "queued"
    (second,) = tree.inbox(root)  # the first wake was consumed by the turn that parked again
    assert _wake_outcomes(second) == [
        ChildOutcome(task_id=kid, status="completed", output={"n": i}) for i, kid in enumerate(kids)
    ]


# --- time waits ---


def test_stale_and_duplicate_wakes_do_nothing(tree: _Tree, sc: StoreContext) -> None:
    root = tree.root()
    fired = sc.clock.now() if sc.clock else None
    assert fired is not None
    assert wake_task(sc, root, "w", fired) == WakeResult(False, 0)  # queued
    wait = ids.wait_id(root, "call-sleep")
    tree.turn(root, "park_time", {"wait_id": wait, "wake_at": str(to_ms(fired))})
    before = tree.dump(root)

    assert wake_task(sc, root, ids.wait_id(root, "other"), fired).woke is False
    assert tree.dump(root) == before

    woke = wake_task(sc, root, wait, fired)
    assert woke == WakeResult(True, 2)
    assert tree.status(root) == "queued"
    assert tree.inbox(root) == [{"k": "wake", "wait_id": wait, "fired_at": to_ms(fired)}]
    after = tree.dump(root)
    assert wake_task(sc, root, wait, fired) == WakeResult(False, 0)  # duplicate
    assert tree.dump(root) == after
    with pytest.raises(TaskNotFoundError):
        wake_task(sc, ids.new_root_task_id(), wait, fired)


# --- steering ---


def test_steer_finished_task_is_rejected(tree: _Tree, sc: StoreContext) -> None:
    root = tree.root()
    text = 'stop "now" \u00e9\u6f22 \\ {}'
    steer_task(sc, root, text)
    assert tree.inbox(root) == [{"k": "steer", "text": text}]
    tree.complete(root, "done")
    before = tree.dump(root)

    with pytest.raises(TaskFinishedError):
        steer_task(sc, root, "too late")
    assert tree.dump(root) == before
    with pytest.raises(TaskNotFoundError):
        steer_task(sc, ids.new_root_task_id(), "anyone?")


def test_steer_does_not_wake_a_parked_task(tree: _Tree, sc: StoreContext) -> None:
    root = tree.root()
    tree.park_hooks(root, 1)
    seq = tree.seq(root)
    steer_task(sc, root, "hurry")
    assert (tree.status(root), tree.seq(root)) == ("waiting_hook", seq)
    assert tree.inbox(root) == [{"k": "steer", "text": "hurry"}]


# --- cancel ---


def test_cancel_parked_parent_cascades_to_children_and_hooks(tree: _Tree, sc: StoreContext) -> None:
    root = tree.root()
    c1, c2, c3 = tree.spawn(root, 3)
    tree.park_children(root, [c1, c2, c3])
    hooks = tree.park_hooks(c1, 2)
    (grandchild,) = tree.spawn(c2, 1)
    tree.complete(c3, "early")
    assert tree.field(c1, f"p:{sc.client.hget(keys.hook(hooks[0]), 'session').decode()}") == "2"

    res = cancel_task(sc, root, reason="user asked")

    assert res.parent_seq == 0
    assert res.cancelled[0] == root
    assert set(res.cancelled) == {root, c1, c2, grandchild}
    for t in res.cancelled:
        assert tree.status(t) == "cancelled"
        assert (tree.field(t, "ecode"), tree.field(t, "emsg")) == ("cancelled", "user asked")
        assert "cancelled" in tree.event_kinds(t)
        assert tree.inbox(t) == []  # nothing is pushed to a cancelled task
    assert tree.status(c3) == "completed"
    assert [tree.hook_status(h) for h in hooks] == ["cancelled", "cancelled"]
    assert not [f for f in sc.client.hkeys(keys.task(c1)) if f.startswith(b"p:")]
    joined = {k.decode(): json.loads(v) for k, v in sc.client.hgetall(keys.join(root)).items()}
    assert {k: v["status"] for k, v in joined.items()} == {
        c1: "cancelled",
        c2: "cancelled",
        c3: "completed",
    }
    assert json.loads(sc.client.hget(keys.join(c2), grandchild))["error"] == "user asked"
    # a turn message still in flight finds the task finished; cancelling again is refused
    res2 = sc.scripts.call("claim_turn", keys.task_keys(c2), [sc.now_arg(), tree.seq(c2), 1000])
    assert res2 == ["finished", "cancelled"]
    before = tree.dump(root)
    with pytest.raises(TaskFinishedError):
        cancel_task(sc, root)
    assert tree.dump(root) == before
    with pytest.raises(TaskNotFoundError):
        cancel_task(sc, ids.new_root_task_id())


@pytest.mark.parametrize("join", ["any", "all"])
def test_cancel_child_awaited_by_parent_reports_and_wakes_it(
    tree: _Tree, sc: StoreContext, join: str
) -> None:
    root = tree.root()
    c1, c2 = tree.spawn(root, 2)
    wait = tree.park_children(root, [c1, c2], join)
    (grandchild,) = tree.spawn(c1, 1)

    res = cancel_task(sc, c1, reason="not needed")

    assert res.cancelled == (c1, grandchild)
    cancelled = ChildOutcome(task_id=c1, status="cancelled", error="not needed")
    assert tree.status(c2) == "queued"
    if join == "any":
        assert res.parent_seq == tree.seq(root) == 3
        assert tree.status(root) == "queued"
        (item,) = tree.inbox(root)
        assert item["wait_id"] == wait
        assert _wake_outcomes(item) == [cancelled]
    else:
        assert res.parent_seq == 0
        assert tree.status(root) == "waiting_children"
        assert tree.inbox(root) == []
        res2 = tree.complete(c2, "fine")
        assert res2[4] == tree.seq(root) == 3
        (item,) = tree.inbox(root)
        assert _wake_outcomes(item) == [
            cancelled,
            ChildOutcome(task_id=c2, status="completed", output="fine"),
        ]


def test_cancel_single_leaves_children_running(tree: _Tree, sc: StoreContext) -> None:
    root = tree.root()
    (child,) = tree.spawn(root, 1)
    hooks = tree.park_hooks(root, 1)
    res = cancel_task(sc, root, cascade=False)
    assert res == CancelResult(cancelled=(root,), parent_seq=0)
    assert tree.status(child) == "queued"
    assert tree.hook_status(hooks[0]) == "cancelled"
    tree.complete(child, "still ran")  # its report lands in the cancelled parent's join
    assert tree.status(root) == "cancelled"
    assert sc.client.hexists(keys.join(root), child)


def test_cancel_rereads_a_subtree_that_grew(
    tree: _Tree, sc: StoreContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tree.root()
    fence, _ = tree.claim(root)
    late = ids.child_task_id(root, "late")
    real = _subtree
    calls: list[int] = []

    def racing_read(sc_: StoreContext, task_id: str, cascade: bool) -> Any:
        sub = real(sc_, task_id, cascade)
        if not calls:  # between the first read and the script, the running turn spawns a child
            assert tree.commit(root, fence, "continue", children=(late,))[0] == "ok"
        calls.append(1)
        return sub

    monkeypatch.setattr(cancel_task_module, "_subtree", racing_read)
    res = cancel_task(sc, root)
    assert len(calls) == 2
    assert res.cancelled == (root, late)
    assert tree.status(late) == "cancelled"


def _race_cancel_against_resolves(tree: _Tree, sc: StoreContext, spread_s: float) -> list[str]:
    """One round: a task parked on 3 hooks; resolvers, a steerer and a canceller start together,
    the resolvers spread over ``spread_s`` (the cancel reads the subtree first, so it is slower).

    Returns what each resolve returned.
    """
    root = tree.root()
    hooks = tree.park_hooks(root, 3)
    start = threading.Barrier(len(hooks) + 2)
    payload = json.dumps({"ok": True})
    resolved: dict[str, str] = {}
    steered: list[bool] = []
    cancel_seq: list[int] = []

    def resolve(hook_id: str, delay_s: float) -> None:
        ks = [keys.hook(hook_id), keys.task(root), keys.inbox(root), keys.events(root)]
        ks.append(keys.registry(root))
        start.wait()
        time.sleep(delay_s)
        res = sc.scripts.call("resolve_hook", ks, [sc.now_arg(), TOKEN_HASH, payload, ""])
        resolved[hook_id] = res[0]

    def steer() -> None:
        start.wait()
        while True:
            try:
                steer_task(sc, root, "more")
            except TaskFinishedError:
                return
            steered.append(True)

    def cancel() -> None:
        start.wait()
        cancel_task(sc, root)
        cancel_seq.append(tree.seq(root))

    threads = [
        threading.Thread(target=resolve, args=(h, spread_s * i / len(hooks)))
        for i, h in enumerate(hooks)
    ]
    threads += [threading.Thread(target=steer), threading.Thread(target=cancel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)

    assert tree.status(root) == "cancelled"
    for h in hooks:  # resolved before the cancel, or cancelled by it: never both
        assert (resolved[h], tree.hook_status(h)) in {
            ("resolved", "resolved"),
            ("cancelled", "cancelled"),
        }
    kinds = tree.event_kinds(root)
    after = kinds[kinds.index("cancelled") + 1 :]
    assert "hook_resolved" not in after
    assert "steered" not in after
    assert tree.seq(root) == cancel_seq[0]  # nothing woke the task after the cancel
    assert not [f for f in sc.client.hkeys(keys.task(root)) if f.startswith(b"p:")]
    items = tree.inbox(root)
    assert sum(i["k"] == "steer" for i in items) == len(steered)
    assert sum(i["k"] == "hook" for i in items) == list(resolved.values()).count("resolved")
    return list(resolved.values())


def test_cancel_racing_resolve(tree: _Tree, sc: StoreContext) -> None:
    seen: set[str] = set()
    for spread_ms in (0, 0, 1, 2, 3, 4, 6, 8, 12, 16):
        seen.update(_race_cancel_against_resolves(tree, sc, spread_ms / 1000))
    assert seen <= {"resolved", "cancelled"}


# --- leases ---


@pytest.mark.parametrize("how", ["claim", "reclaim_lapsed_lease"])
def test_lapsed_lease_reclaim_and_stale_commit_rejected(
    tree: _Tree, sc: StoreContext, clock: FakeClock, how: str
) -> None:
    root = tree.root()
    old_fence, _ = tree.claim(root, lease_ms=1000)
    assert reclaim_lapsed_lease(sc, root) == 0  # the lease is live
    clock.advance(2)
    assert reclaim_lapsed_lease(sc, root, fence=old_fence + 1) == 0  # not what we saw

    if how == "claim":  # the same turn message redelivered takes the lapsed lease over
        new_fence, _ = tree.claim(root)
        assert tree.event_kinds(root)[-1] == "lease_reclaimed"
    else:
        assert reclaim_lapsed_lease(sc, root, fence=old_fence) == 2
        assert reclaim_lapsed_lease(sc, root) == 0  # queued now: nothing to reclaim
        assert tree.status(root) == "queued"
        new_fence, _ = tree.claim(root)
    assert new_fence == old_fence + 1

    before = tree.dump(root)
    res = tree.commit(root, old_fence, "complete", '"from the dead turn"')
    assert res == ["stale", "running", new_fence]
    assert tree.dump(root) == before
    assert tree.commit(root, new_fence, "complete", '"ok"')[:2] == ["ok", "completed"]
    with pytest.raises(TaskNotFoundError):
        reclaim_lapsed_lease(sc, ids.new_root_task_id())


# --- tree TTL ---


def test_finished_tree_leaves_no_key_after_ttl(redis_client: Client, clock: FakeClock) -> None:
    sc = StoreContext(redis_client, clock=clock, settings=StoreSettings(tree_ttl_s=1))
    tree = _Tree(sc)
    root = tree.root()
    (child,) = tree.spawn(root, 1)
    tree.park_children(root, [child])
    (hook_id,) = tree.park_hooks(child, 1)
    steer_task(sc, child, "hi")
    assert expire_tree(sc, root) is False  # busy: nothing expires
    members = redis_client.smembers(keys.registry(root))
    assert all(redis_client.ttl(keys.from_registry_member(root, m.decode())) < 0 for m in members)

    cancel_task(sc, child)  # wakes the root
    assert expire_tree(sc, root) is False
    tree.complete(root, "done")
    assert expire_tree(sc, root) is True
    registry = {m.decode() for m in redis_client.smembers(keys.registry(root))}
    # one member per task (it stands for the task's seven keys), and the hook
    assert registry == {f"t:{root}", f"t:{child}", f"h:{hook_id}"}
    present = list(redis_client.scan_iter(match=f"*{keys.tag(root)}*"))
    assert len(present) >= 12
    assert all(0 < redis_client.pttl(k) <= 1000 for k in present)

    deadline = time.monotonic() + 5
    left = [1]
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = list(redis_client.scan_iter(match=f"*{keys.tag(root)}*"))
    assert left == []
    with pytest.raises(TaskNotFoundError):
        expire_tree(sc, root)
