"""examples/two_stage: manager approval, then a compliance review built from the manager's answer."""

from __future__ import annotations

from examples.two_stage.app import app
from examples.two_stage.stub import stub_reply

ASK = "Buy 3 standing desks from Acme Office for 2,400.00 USD."


def test_compliance_is_asked_after_the_manager_with_the_managers_comment(serve) -> None:
    api = serve(app, stub_reply)
    task_id = api.create("procurement", ASK)
    manager = api.parked_hook(task_id, "Approve")
    assert manager["title"] == "Approve buying from Acme Office for 2,400.00 USD"
    assert "Purpose: 3 standing desks" in api.hook(manager["hook_id"])["body"]

    status, _ = api.resolve(
        manager["hook_id"],
        {"approved": True, "reviewer": "maria", "comment": "within the Q3 furniture budget"},
    )
    assert status == 200
    compliance = api.parked_hook(task_id, "Compliance")
    assert compliance["hook_id"] != manager["hook_id"]
    assert compliance["title"] == "Compliance review: Acme Office, 2,400.00 USD"
    described = api.hook(compliance["hook_id"])
    assert described["body"] == (
        "Approved by maria. Manager's comment: within the Q3 furniture budget"
    )
    assert api.hook(manager["hook_id"])["status"] == "resolved"

    review = {"cleared": True, "officer": "li", "risk_score": 9}
    status, answer = api.resolve(compliance["hook_id"], review)
    assert status == 422 and answer["error"]["message"].endswith(
        "$.risk_score: Input should be less than or equal to 5"
    )
    status, _ = api.resolve(compliance["hook_id"], {**review, "risk_score": 2})
    assert status == 200
    done = api.wait(task_id)
    assert done["status"] == "completed", api.log()
    assert done["output"] == (
        "Ordered. Order placed with Acme Office for 2,400.00 USD; "
        "approved by maria, cleared by li (risk 2/5)."
    )


def test_a_manager_rejection_ends_the_call_without_asking_compliance(serve) -> None:
    api = serve(app, stub_reply)
    task_id = api.create("procurement", ASK)
    manager = api.parked_hook(task_id, "Approve")
    status, _ = api.resolve(
        manager["hook_id"], {"approved": False, "reviewer": "maria", "comment": "use the old ones"}
    )
    assert status == 200
    done = api.wait(task_id)
    assert done["status"] == "completed", api.log()
    assert "maria rejected the purchase: use the old ones" in done["output"]
    requested = [e for e in api.events(task_id) if e["kind"] == "hook_requested"]
    assert [e["data"]["param"] for e in requested] == ["manager"]
