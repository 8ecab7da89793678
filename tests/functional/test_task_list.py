"""``GET /tasks`` through the API handler: an owner's tasks, newest first, paged with ``next``;
IAM callers list only their own tasks; bad queries are 400s."""

from __future__ import annotations

from typing import Any

from factorial_aws import App
from tests.functional.apps import agent, fan_out_tool, fan_rule, pay, pay_rule, researcher
from tests.functional.conftest import HarnessFactory
from tests.functional.harness import CALLER, CALLER_ARN, OTHER_CALLER_ARN, Harness
from tests.functional.test_api_errors import assert_error

SUMMARY_FIELDS = {"task_id", "agent", "status", "turn", "created_at", "updated_at", "parent_id"}


def listing(h: Harness, **query: str | None) -> dict[str, Any]:
    caller = query.pop("caller_arn", CALLER_ARN)
    params = {k: v for k, v in query.items() if v is not None}
    answer = h.http("GET", "/tasks", query=params, caller_arn=caller)
    assert answer.status == 200, answer.text
    page: dict[str, Any] = answer.json()
    assert set(page) == {"tasks", "next"}
    for task in page["tasks"]:
        assert set(task) == SUMMARY_FIELDS, task
    return page


def all_ids(h: Harness, **query: str | None) -> list[str]:
    """Follow ``next`` to the end; every task id, in order."""
    seen: list[str] = []
    after: str | None = None
    for _ in range(50):
        page = listing(h, after=after, **query)
        seen += [t["task_id"] for t in page["tasks"]]
        after = page["next"]
        if after is None:
            return seen
    raise AssertionError("next never became null")


def test_an_iam_caller_lists_its_own_tasks_newest_first(make_harness: HarnessFactory) -> None:
    h = make_harness(App([agent("payments", pay)]), pay_rule, require_iam=True)
    mine = []
    for n in range(5):
        mine.append(h.create("payments", f"pay {n}"))
        h.clock.advance(1)
    theirs = h.create("payments", "pay 9", caller_arn=OTHER_CALLER_ARN)
    h.run_turns()  # every task parks on its approval hook

    first = listing(h, limit="2")
    assert [t["task_id"] for t in first["tasks"]] == mine[::-1][:2]
    assert first["next"] is not None
    task = first["tasks"][0]
    assert (task["agent"], task["status"], task["turn"], task["parent_id"]) == (
        "payments",
        "waiting_hook",
        1,
        None,
    )
    assert task["created_at"] <= task["updated_at"]
    assert all_ids(h, limit="2") == mine[::-1]
    assert all_ids(h, limit="2", owner_id=CALLER) == mine[::-1]  # naming oneself is fine
    assert listing(h)["tasks"][-1]["task_id"] == mine[0] and listing(h)["next"] is None
    assert all_ids(h, caller_arn=OTHER_CALLER_ARN) == [theirs]

    # another owner's list is refused, not emptied; unsigned is 401
    assert_error(h.http("GET", "/tasks", query={"owner_id": "someone-else"}), 403, "forbidden")
    other = h.http("GET", "/tasks", query={"owner_id": CALLER}, caller_arn=OTHER_CALLER_ARN)
    assert_error(other, 403, "forbidden")
    assert_error(h.http("GET", "/tasks", caller_arn=None), 401, "unauthorized")


def test_the_status_filter(make_harness: HarnessFactory) -> None:
    h = make_harness(App([agent("payments", pay)]), pay_rule, require_iam=True)
    parked = h.create("payments", "pay 1")
    h.clock.advance(1)
    cancelled = h.create("payments", "pay 2")
    h.run_turns()
    assert h.http("POST", f"/tasks/{cancelled}/cancel").status == 200
    h.clock.advance(1)
    queued = h.create("payments", "pay 3")

    assert all_ids(h) == [queued, cancelled, parked]
    assert all_ids(h, status="waiting_hook") == [parked]
    assert all_ids(h, status="cancelled") == [cancelled]
    assert all_ids(h, status="queued", limit="1") == [queued]
    assert all_ids(h, status="completed") == []


def test_children_are_listed_with_their_parent(make_harness: HarnessFactory) -> None:
    lead = agent("lead", fan_out_tool("all"))
    h = make_harness(App([lead, researcher]), fan_rule, require_iam=True)
    root = h.create("lead", "go")
    h.run_turns()
    children = h.task(root)["children"]
    assert len(children) == 3

    tasks = listing(h, limit="100")["tasks"]
    # tasks the API lists are the owner's: children inherit the root's owner
    assert {t["task_id"] for t in tasks} == {root, *children}
    assert {t["parent_id"] for t in tasks if t["task_id"] != root} == {root}
    # the three children were created in the same millisecond: pages of one still see each once
    assert sorted(all_ids(h, limit="1")) == sorted([root, *children])
    assert all_ids(h, caller_arn=OTHER_CALLER_ARN) == []


def test_without_iam_owner_id_is_required(make_harness: HarnessFactory) -> None:
    h = make_harness(App([agent("payments", pay)]), pay_rule)
    mine = {"agent": "payments", "input": "x", "owner_id": "acme"}
    task_id = h.http("POST", "/tasks", mine).json()["task_id"]
    h.create("payments", "no owner")  # listed nowhere

    assert_error(h.http("GET", "/tasks"), 400, "invalid_input")
    assert all_ids(h, owner_id="acme") == [task_id]
    assert all_ids(h, owner_id="nobody") == []


def test_bad_queries_are_400(make_harness: HarnessFactory) -> None:
    h = make_harness(App([agent("payments", pay)]), pay_rule, require_iam=True)
    h.create("payments", "pay")
    for query, code in [
        ({"limit": "0"}, "invalid_request"),
        ({"limit": "101"}, "invalid_request"),
        ({"limit": "many"}, "invalid_request"),
        ({"status": "done"}, "invalid_request"),
        ({"owner_id": ""}, "invalid_request"),
        ({"after": "x" * 301}, "invalid_request"),
        ({"after": "yesterday"}, "invalid_input"),
        ({"after": "12:not-a-task"}, "invalid_input"),
        ({"after": "12:t-abc"}, "invalid_input"),
        ({"after": "-1:t-aaaaaaaaaaaaaaaaaaaaaaaaaa"}, "invalid_input"),
        ({"after": "1:t-aaaaaaaaaaaaaaaaaaaaaaaaaa.h0123456789abcdef"}, "invalid_input"),
    ]:
        assert_error(h.http("GET", "/tasks", query=query), 400, code)
    assert listing(h, limit="100", status="queued", after="1:t-aaaaaaaaaaaaaaaaaaaaaaaaaa") == {
        "tasks": [],
        "next": None,
    }
