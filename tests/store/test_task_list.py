"""``views.list_tasks``: an owner's tasks from the owner index, newest first, paged by a cursor,
on a standalone server and a one-node cluster; and the sweep that takes an expiring tree's tasks
out of the index shortly before its keys go."""

from __future__ import annotations

from typing import Any

import pytest

from factorial_aws import Agent, App, subagents, tool
from factorial_aws import wait as waits
from factorial_aws.errors import InvalidInputError
from factorial_aws.llm.base import ModelRequest
from factorial_aws.local.stack import LocalStack
from factorial_aws.runtime import maintenance
from factorial_aws.store import keys, views
from factorial_aws.store.base import StoreContext, StoreSettings
from factorial_aws.store.tasks import claim_turn, create_task
from factorial_aws.testing import FakeClock, ScriptedModel
from tests.store.helpers import Client

OWNER = "arn:aws:iam::123456789012:user/alice"


def every_page(sc: StoreContext, owner: str = OWNER, **kwargs: Any) -> list[list[str]]:
    """The task ids of each page, following ``next`` to the end."""
    pages: list[list[str]] = []
    after = None
    for _ in range(100):
        page = views.list_tasks(sc, owner, after=after, **kwargs)
        pages.append([t.task_id for t in page.tasks])
        after = page.next
        if after is None:
            return pages
    raise AssertionError("next never became None")


def listed(sc: StoreContext, owner: str = OWNER, **kwargs: Any) -> list[str]:
    return [t for page in every_page(sc, owner, **kwargs) for t in page]


def make_tasks(sc: StoreContext, clock: FakeClock, n: int, **kwargs: Any) -> list[str]:
    """``n`` tasks one second apart (oldest first)."""
    made = []
    for i in range(n):
        made.append(create_task(sc, "a", f"task {i}", owner_id=OWNER, **kwargs).task_id)
        clock.advance(1)
    return made


def test_pages_are_newest_first_and_the_cursor_is_stable(redis_client: Client) -> None:
    clock = FakeClock()
    sc = StoreContext(redis_client, clock=clock)
    made = make_tasks(sc, clock, 6)
    create_task(sc, "a", "someone else's", owner_id="bob")
    create_task(sc, "a", "nobody's")
    newest_first = made[::-1]

    assert every_page(sc, limit=3) == [newest_first[:3], newest_first[3:]]  # no empty last page
    assert every_page(sc, limit=4) == [newest_first[:4], newest_first[4:]]
    assert listed(sc, limit=100) == listed(sc) == newest_first
    assert listed(sc, "bob") != [] and listed(sc, "nobody") == []

    first = views.list_tasks(sc, OWNER, limit=2)
    summary = first.tasks[0]
    assert (summary.task_id, summary.agent, summary.status, summary.turn) == (
        made[-1],
        "a",
        "queued",
        0,
    )
    assert summary.parent_id is None and summary.created_at <= summary.updated_at
    assert first.next == f"{int(summary.created_at.timestamp() * 1000) - 1000}:{made[-2]}"
    newer = create_task(sc, "a", "created while paging", owner_id=OWNER).task_id
    rest = views.list_tasks(sc, OWNER, limit=100, after=first.next)
    assert [t.task_id for t in rest.tasks] == newest_first[2:] and rest.next is None
    assert listed(sc)[0] == newer


def test_tasks_of_the_same_millisecond_page_one_by_one(redis_client: Client) -> None:
    clock = FakeClock()
    sc = StoreContext(redis_client, clock=clock)
    older = make_tasks(sc, clock, 1)
    same = [create_task(sc, "a", f"t{i}", owner_id=OWNER).task_id for i in range(5)]
    clock.advance(1)
    newer = make_tasks(sc, clock, 1)
    # equal scores come in descending task id order (Valkey's ZREVRANGEBYSCORE order)
    expected = [*newer, *sorted(same, reverse=True), *older]
    for limit in (1, 2, 3, 7, 100):
        assert listed(sc, limit=limit) == expected, limit


def test_the_status_filter_reads_on_to_fill_the_page(
    redis_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    sc = StoreContext(redis_client, clock=clock)
    made = make_tasks(sc, clock, 8)
    for task_id in (made[0], made[5]):
        claim_turn(sc, task_id, 1)
    assert listed(sc, status="running") == [made[5], made[0]]
    assert every_page(sc, status="running", limit=1) == [[made[5]], [made[0]]]
    assert listed(sc, status="queued") == [t for t in made[::-1] if t not in (made[0], made[5])]
    assert listed(sc, status="completed") == []

    # a bounded read: a page may come back short (even empty) with a next cursor
    monkeypatch.setattr(views, "MAX_EXAMINED", 3)
    pages = every_page(sc, status="running", limit=5)
    assert pages == [[made[5]], [], [made[0]]]


def test_entries_of_vanished_tasks_are_skipped_then_dropped(redis_client: Client) -> None:
    clock = FakeClock()
    sc = StoreContext(redis_client, clock=clock)
    made = make_tasks(sc, clock, 6)
    gone = [made[1], made[4]]
    for task_id in gone:  # as if their trees had expired
        redis_client.delete(keys.task(task_id))
    redis_client.zadd(keys.owner_index(OWNER), {"not-a-task-id": 1})
    alive = [t for t in made[::-1] if t not in gone]

    page = views.list_tasks(sc, OWNER, limit=4)
    assert [t.task_id for t in page.tasks] == alive  # the page is filled past the holes
    # young entries may belong to a task being created right now: skipped, kept
    assert page.dropped == ()
    assert redis_client.zcard(keys.owner_index(OWNER)) == 7

    clock.advance(seconds=views.STALE_ENTRY_AGE_MS / 1000)
    page = views.list_tasks(sc, OWNER, limit=10)
    assert [t.task_id for t in page.tasks] == alive and page.next is None
    assert sorted(page.dropped) == sorted([*gone, "not-a-task-id"])
    index = redis_client.zrange(keys.owner_index(OWNER), 0, -1)
    assert sorted(m.decode() for m in index) == sorted(alive)


def test_another_owners_task_in_the_index_is_not_shown(redis_client: Client) -> None:
    sc = StoreContext(redis_client)
    theirs = create_task(sc, "a", "x", owner_id="bob").task_id
    redis_client.zadd(keys.owner_index(OWNER), {theirs: 1})
    assert listed(sc) == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"after": "yesterday"},
        {"after": "12:t-short"},
        {"after": "x:t-aaaaaaaaaaaaaaaaaaaaaaaaaa"},
        {"after": "12:t-aaaaaaaaaaaaaaaaaaaaaaaaaa.h0123456789abcdef"},
        {"after": ""},
        {"status": "done"},
        {"limit": 0},
        {"limit": views.MAX_TASKS_PAGE + 1},
    ],
    ids=str,
)
def test_bad_arguments_are_invalid_input(redis_client: Client, kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError):
        views.list_tasks(StoreContext(redis_client), OWNER, **kwargs)


def test_a_cursor_names_a_child_task_too() -> None:
    child = "t-aaaaaaaaaaaaaaaaaaaaaaaaaa.c0123456789abcdef"
    assert views.parse_task_cursor(f"17:{child}") == (17, child)
    assert views.format_task_cursor((17, child)) == f"17:{child}"


# --- children, and leaving the index when the tree expires ------------------------------------

kid = Agent(name="kid", instructions="kid", model="m")


@tool
def fan_out() -> object:
    """Spawn three children and wait for them."""
    return waits.children([subagents.spawn(kid, f"topic {k}", key=k) for k in "abc"])


lead = Agent(name="lead", instructions="lead", model="m", tools=[fan_out])


class _Model:
    async def complete(self, request: ModelRequest) -> Any:
        if request.messages[0].content == "kid":
            step: Any = "notes"
        elif any(m.role == "tool" for m in request.messages):
            step = "summary"
        else:
            step = [ScriptedModel.call("fan_out")]
        return await ScriptedModel(step).complete(request)


def stack_for(client: Client, ttl_s: int) -> LocalStack:
    return LocalStack(
        App([lead, kid]),
        client,
        _Model(),
        FakeClock(),
        b"secret",
        "http://x",
        settings=StoreSettings(tree_ttl_s=ttl_s),
        fake_time=True,
    )


def test_children_are_listed_and_leave_shortly_before_their_tree_expires(
    redis_client: Client,
) -> None:
    stack = stack_for(redis_client, ttl_s=3600)
    root = stack.control.create_task("lead", "go", owner_id=OWNER).task_id
    stack.control.create_task("lead", "go")  # no owner: listed nowhere, expires all the same
    stack.run_due()
    view = stack.control.get_task(root)
    assert view.status == "completed" and len(view.children) == 3
    page = stack.control.list_tasks(OWNER, limit=100)
    assert {t.task_id for t in page.tasks} == {root, *view.children}
    assert {t.parent_id for t in page.tasks if t.task_id != root} == {root}
    assert stack.control.list_tasks(OWNER, status="completed").tasks == page.tasks

    # the sweep sets the TTL but keeps the tasks listed while the tree is readable
    assert stack.sweep().trees_expiring == 2
    assert 0 < redis_client.ttl(keys.task(root)) <= 3600
    assert len(stack.control.list_tasks(OWNER).tasks) == 4
    stack.clock.advance(3600 - 600 - 1)
    stack.sweep()
    assert len(stack.control.list_tasks(OWNER).tasks) == 4
    # 10 minutes before the keys go (here: the registry's TTL is cut short) they leave the index
    redis_client.pexpire(keys.registry(root), maintenance.UNLIST_BEFORE_EXPIRY_MS - 1000)
    stack.clock.advance(2)
    report = stack.sweep()
    assert report.trees_expiring == 0
    assert stack.control.list_tasks(OWNER).tasks == ()
    assert redis_client.exists(keys.owner_index(OWNER)) == 0
    shard = keys.shard_of(root)
    assert redis_client.zscore(keys.gc_index(shard), root) is None
    assert 0 < redis_client.ttl(keys.task(root)) <= 3600  # still readable by id


def test_a_short_ttl_unlists_the_tree_at_once(redis_client: Client) -> None:
    stack = stack_for(redis_client, ttl_s=1)
    root = stack.control.create_task("lead", "go", owner_id=OWNER).task_id
    stack.run_due()
    assert len(stack.control.list_tasks(OWNER).tasks) == 4
    assert stack.sweep().trees_expiring == 1
    assert stack.control.list_tasks(OWNER).tasks == ()
    assert redis_client.zscore(keys.gc_index(keys.shard_of(root)), root) is None
