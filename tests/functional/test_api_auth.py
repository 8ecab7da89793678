"""IAM access (``require_iam=True``, as deployed): signed callers only on the task routes and
rotate, owners see only their own tasks, hook describe and resolve stay public."""

from __future__ import annotations

import json

import handlers.api
from factorial_aws import App
from factorial_aws.aws.api_auth import iam_identity
from tests.functional.apps import agent, pay, pay_rule
from tests.functional.conftest import HarnessFactory
from tests.functional.harness import (
    CALLER,
    OTHER_CALLER_ARN,
    Harness,
    LambdaContext,
    load_event,
)
from tests.functional.test_api_errors import APPROVE, assert_error


def iam_harness(make_harness: HarnessFactory) -> Harness:
    return make_harness(App([agent("payments", pay)]), pay_rule, require_iam=True)


def test_the_sample_event_creates_a_task_owned_by_its_role(make_harness: HarnessFactory) -> None:
    h = iam_harness(make_harness)
    answer = handlers.api.handler(load_event("api_post_task.json"), LambdaContext())
    assert answer["statusCode"] == 201
    view = h.wiring.control.get_task(json.loads(answer["body"])["task_id"])
    # the session name of the assumed role is not part of the owner
    assert view.owner_id == CALLER == "arn:aws:sts::123456789012:assumed-role/backend"


def test_unsigned_requests_are_refused_on_task_routes_and_rotate(
    make_harness: HarnessFactory,
) -> None:
    h = iam_harness(make_harness)
    task_id = h.create("payments", "pay 42")
    h.run_turns()
    (pending,) = h.task(task_id)["pending_hooks"]
    hook_id = pending["hook_id"]
    unsigned = {"caller_arn": None}
    body = {"agent": "payments", "input": "x"}
    assert_error(h.http("POST", "/tasks", body, **unsigned), 401, "unauthorized")
    assert_error(h.http("GET", f"/tasks/{task_id}", **unsigned), 401, "unauthorized")
    assert_error(h.http("GET", f"/tasks/{task_id}/events", **unsigned), 401, "unauthorized")
    assert_error(h.http("POST", f"/tasks/{task_id}/cancel", **unsigned), 401, "unauthorized")
    steer = h.http("POST", f"/tasks/{task_id}/steer", {"text": "x"}, **unsigned)
    assert_error(steer, 401, "unauthorized")
    assert_error(h.http("POST", f"/hooks/{hook_id}/rotate", **unsigned), 401, "unauthorized")

    # the hook routes are public: the token is what protects resolve
    assert h.http("GET", f"/hooks/{hook_id}", **unsigned).status == 200
    assert h.resolve(hook_id, APPROVE, caller_arn=None).status == 200
    h.run_turns()
    assert h.task(task_id)["status"] == "completed"


def test_another_caller_cannot_see_or_touch_the_task(make_harness: HarnessFactory) -> None:
    h = iam_harness(make_harness)
    task_id = h.create("payments", "pay 42")
    h.run_turns()
    (pending,) = h.task(task_id)["pending_hooks"]
    other = {"caller_arn": OTHER_CALLER_ARN}
    assert_error(h.http("GET", f"/tasks/{task_id}", **other), 404, "task_not_found")
    assert_error(h.http("GET", f"/tasks/{task_id}/events", **other), 404, "task_not_found")
    assert_error(h.http("POST", f"/tasks/{task_id}/cancel", **other), 404, "task_not_found")
    steer = h.http("POST", f"/tasks/{task_id}/steer", {"text": "x"}, **other)
    assert_error(steer, 404, "task_not_found")
    rotate = h.http("POST", f"/hooks/{pending['hook_id']}/rotate", **other)
    assert_error(rotate, 404, "hook_not_found")
    assert h.task(task_id)["status"] == "waiting_hook"

    # a new session of the owner's role is the same owner
    same_role = {"caller_arn": "arn:aws:sts::123456789012:assumed-role/backend/next-session"}
    assert h.http("GET", f"/tasks/{task_id}", **same_role).status == 200
    assert h.http("POST", f"/hooks/{pending['hook_id']}/rotate", **same_role).status == 200


def test_owner_id_must_be_the_caller_and_keys_are_per_caller(make_harness: HarnessFactory) -> None:
    h = iam_harness(make_harness)
    mine = {"agent": "payments", "input": "x", "owner_id": CALLER}
    assert h.http("POST", "/tasks", mine).status == 201
    theirs = {"agent": "payments", "input": "x", "owner_id": "someone-else"}
    assert_error(h.http("POST", "/tasks", theirs), 403, "forbidden")

    key = {"Idempotency-Key": "same-key"}
    body = {"agent": "payments", "input": "x"}
    first = h.http("POST", "/tasks", body, headers=key).json()["task_id"]
    second = h.http("POST", "/tasks", body, headers=key, caller_arn=OTHER_CALLER_ARN)
    assert second.status == 201 and second.json()["task_id"] != first


def test_iam_identity_reads_the_authorizer_context() -> None:
    event = load_event("api_post_task.json")
    assert iam_identity(event) == CALLER
    event["requestContext"]["authorizer"]["iam"]["userArn"] = OTHER_CALLER_ARN
    assert iam_identity(event) == OTHER_CALLER_ARN
    del event["requestContext"]["authorizer"]["iam"]["userArn"]
    assert iam_identity(event) == "AROAEXAMPLEEXAMPLE01:backend-session"
    assert iam_identity({"requestContext": {"authorizer": None}}) is None
    assert iam_identity({}) is None
