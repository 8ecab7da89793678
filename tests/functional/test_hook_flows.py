"""End to end through the handlers: approval, a two-stage hook DAG, cancel while parked, steer."""

from __future__ import annotations

import json
from typing import Any

from factorial_aws import App
from factorial_aws.core.records import QueueMessage
from factorial_aws.testing import StubReply, call, text_reply, tool_calls_reply
from tests.functional.apps import after_tool, agent, nap, pay, pay_rule, user_texts, wire
from tests.functional.conftest import PUBLIC_URL, HarnessFactory


def test_approval_parks_on_a_hook_and_completes_once_it_is_resolved(
    make_harness: HarnessFactory,
) -> None:
    h = make_harness(App([agent("payments", pay)]), pay_rule)
    created = h.http("POST", "/tasks", {"agent": "payments", "input": "pay 42"})
    assert created.status == 201
    task_id = created.json()["task_id"]
    assert created.json() == {"task_id": task_id, "status": "queued"}

    (message,) = h.receive()  # the first turn message, as SQS holds it
    assert QueueMessage.model_validate_json(message["Body"]).task_id == task_id
    h.sqs.delete_message(QueueUrl=h.queue_url, ReceiptHandle=message["ReceiptHandle"])
    assert h.deliver(message["Body"]) == {"batchItemFailures": []}

    task = h.task(task_id)
    assert task["status"] == "waiting_hook" and task["turn"] == 1
    assert task["agent"] == "payments" and task["output"] is None and task["error"] is None
    (pending,) = task["pending_hooks"]
    assert set(pending) == {"hook_id", "title", "status", "expires_at"}
    assert pending["title"] == "Approve a payment of 42" and pending["status"] == "requested"
    hook_id = pending["hook_id"]
    assert h.token(hook_id) not in json.dumps(task)

    described = h.http("GET", f"/hooks/{hook_id}")
    assert described.status == 200
    body = described.json()
    assert set(body) == {
        "hook_id", "task_id", "title", "body", "status", "expires_at", "schema", "source", "match"
    }  # fmt: skip
    assert body["source"] is None and body["match"] is None
    assert body["task_id"] == task_id and body["status"] == "requested"
    assert set(body["schema"]["properties"]) == {"approved", "reviewer", "comment"}

    page = h.http("GET", f"/hooks/{hook_id}", headers={"Accept": "text/html,*/*;q=0.8"})
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["referrer-policy"] == "same-origin"
    assert "&lt;b&gt;urgent&lt;/b&gt;" in page.text and "<b>urgent</b>" not in page.text
    assert 'type="checkbox"' in page.text and 'name="reviewer"' in page.text
    assert h.task(task_id)["status"] == "waiting_hook"  # describing resolved nothing

    resolved = h.resolve(hook_id, {"approved": True, "reviewer": "bob"})
    assert resolved.status == 200
    assert resolved.json() == {
        "hook_id": hook_id,
        "task_id": task_id,
        "status": "resolved",
        "task_resumed": True,
    }
    assert h.run_turns() == 1
    done = h.task(task_id)
    assert done["status"] == "completed" and done["output"] == "done: paid 42"
    assert done["pending_hooks"] == [] and not h.failures

    events = h.http("GET", f"/tasks/{task_id}/events", query={"limit": "500"}).json()
    kinds = [e["kind"] for e in events["events"]]
    assert kinds[0] == "created" and events["next"] == events["events"][-1]["id"]
    later = h.http("GET", f"/tasks/{task_id}/events", query={"after": events["next"]}).json()
    assert later == {"events": [], "next": None}


def test_a_two_stage_hook_dag_requests_the_second_hook_after_the_first_resolves(
    make_harness: HarnessFactory,
) -> None:
    h = make_harness(
        App([agent("wirer", wire)]), after_tool(tool_calls_reply(call("wire", amount=7)))
    )
    task_id = h.create("wirer", "wire 7")
    h.run_turns()
    (first,) = h.task(task_id)["pending_hooks"]
    assert first["title"] == "Approve a payment of 7"

    assert h.resolve(first["hook_id"], {"approved": True, "reviewer": "ann"}).status == 200
    h.run_turns()  # stage 2 is requested by the next turn
    task = h.task(task_id)
    assert task["status"] == "waiting_hook"
    (second,) = task["pending_hooks"]
    assert second["title"] == "Budget for ann's approval"

    assert h.resolve(second["hook_id"], {"cost_center": "R&D", "limit_cents": 100}).status == 200
    h.run_turns()
    done = h.task(task_id)
    assert done["status"] == "completed"
    assert done["output"] == "done: wired 7 from R&D approved by ann"


def test_cancel_while_parked_cancels_the_hook(make_harness: HarnessFactory) -> None:
    h = make_harness(App([agent("payments", pay)]), pay_rule)
    task_id = h.create("payments", "pay 42")
    h.run_turns()
    (pending,) = h.task(task_id)["pending_hooks"]

    cancelled = h.http("POST", f"/tasks/{task_id}/cancel")
    assert cancelled.status == 200
    assert cancelled.json() == {"task_id": task_id, "status": "cancelled", "cancelled": [task_id]}
    task = h.task(task_id)
    assert task["status"] == "cancelled" and task["pending_hooks"] == []
    assert h.http("GET", f"/hooks/{pending['hook_id']}").json()["status"] == "cancelled"

    late = h.resolve(pending["hook_id"], {"approved": True, "reviewer": "x"})
    assert (late.status, late.code) == (409, "hook_cancelled")
    again = h.http("POST", f"/tasks/{task_id}/cancel")
    assert (again.status, again.code) == (409, "task_finished")
    steer = h.http("POST", f"/tasks/{task_id}/steer", {"text": "too late"})
    assert (steer.status, steer.code) == (409, "task_finished")
    assert h.run_turns() == 0


def test_steering_reaches_the_next_turn(make_harness: HarnessFactory) -> None:
    def rule(body: dict[str, Any]) -> StubReply:
        if "use euros" in user_texts(body):
            return text_reply("ok, in euros")
        return tool_calls_reply(call("nap", seconds=10))

    h = make_harness(App([agent("napper", nap)]), rule)
    task_id = h.create("napper", "start")
    h.run_turns()
    assert h.task(task_id)["status"] == "waiting_time"

    steered = h.http("POST", f"/tasks/{task_id}/steer", {"text": "use euros"})
    assert steered.status == 202 and steered.json() == {"task_id": task_id, "queued": True}
    (wake,) = [s for s in h.sqs.sent if s.get("DelaySeconds") == 10]
    h.clock.advance(10)
    h.deliver(wake["MessageBody"])  # the delayed wake, delivered now
    h.run_turns()
    done = h.task(task_id)
    assert done["status"] == "completed" and done["output"] == "ok, in euros"


def test_rotated_token_replaces_the_old_one(make_harness: HarnessFactory) -> None:
    h = make_harness(App([agent("payments", pay)]), pay_rule)
    task_id = h.create("payments", "pay 42")
    h.run_turns()
    (pending,) = h.task(task_id)["pending_hooks"]
    hook_id = pending["hook_id"]

    rotated = h.http("POST", f"/hooks/{hook_id}/rotate", {"revoke_previous": True})
    assert rotated.status == 200 and rotated.headers["cache-control"] == "no-store"
    new = rotated.json()
    assert new["version"] == 2 and new["token"] == h.token(hook_id, 2)
    assert new["link"] == f"{PUBLIC_URL}/hooks/{hook_id}?token={new['token']}"

    old = h.resolve(hook_id, {"approved": True, "reviewer": "b"}, token=h.token(hook_id, 1))
    assert (old.status, old.code) == (404, "hook_not_found")
    ok = h.resolve(hook_id, {"approved": True, "reviewer": "b"}, token=new["token"])
    assert ok.status == 200
    h.run_turns()
    assert h.task(task_id)["status"] == "completed"
