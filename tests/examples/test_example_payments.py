"""examples/payments: a wire transfer gated by a manager's approval, over the dev server's API."""

from __future__ import annotations

import urllib.request

from examples.payments.app import app
from examples.payments.stub import amount_cents, stub_reply

ASK = "Pay 1,250.00 USD to DE89370400440532013000 for the Q4 invoice."


def test_stub_reads_amounts() -> None:
    assert amount_cents("Pay 1,250.00 USD") == 125_000
    assert amount_cents("send 7.5 EUR") == 750
    assert amount_cents("no money here") is None


def test_approval_parks_the_task_and_resolving_it_completes_it(serve) -> None:
    api = serve(app, stub_reply)
    task_id = api.create("payments", ASK)
    pending = api.parked_hook(task_id)
    assert pending["title"] == "Approve a transfer of 1250.00 USD"
    hook_id = pending["hook_id"]
    described = api.hook(hook_id)
    assert described["task_id"] == task_id and described["status"] == "requested"
    assert set(described["schema"]["properties"]) == {"approved", "reviewer", "comment"}
    assert described["schema"]["additionalProperties"] is False  # Hook forbids extra fields

    status, answer = api.resolve(hook_id, {"approved": True, "reviewer": "ana"}, token="nope")
    assert status == 404, answer
    status, answer = api.resolve(hook_id, {"approved": True, "reviewer": "ana", "cc": "bob"})
    assert status == 422 and "$.cc: Extra inputs are not permitted" in answer["error"]["message"]
    assert api.task(task_id)["status"] == "waiting_hook"

    status, answer = api.resolve(hook_id, {"approved": True, "reviewer": "ana", "comment": "ok"})
    assert status == 200, answer
    assert answer == {
        "hook_id": hook_id,
        "task_id": task_id,
        "status": "resolved",
        "task_resumed": True,
    }
    done = api.wait(task_id)
    assert done["status"] == "completed", api.log()
    assert done["output"] == (
        "Done. The payment system said: "
        "sent 125000 cents to DE89370400440532013000, approved by ana"
    )
    assert done["pending_hooks"] == [] and done["turn"] == 2
    status, answer = api.resolve(hook_id, {"approved": False, "reviewer": "eve"})
    assert status == 409, answer


def test_a_rejection_reaches_the_model_as_a_tool_failure(serve) -> None:
    api = serve(app, stub_reply)
    task_id = api.create("payments", ASK)
    hook_id = api.parked_hook(task_id)["hook_id"]
    status, _ = api.resolve(
        hook_id, {"approved": False, "reviewer": "bob", "comment": "over budget"}, in_query=True
    )
    assert status == 200
    done = api.wait(task_id)
    assert done["output"] == "The transfer was not sent: rejected by bob: over budget"


def test_a_browser_gets_the_html_form(serve) -> None:
    api = serve(app, stub_reply)
    hook_id = api.parked_hook(api.create("payments", ASK))["hook_id"]
    req = urllib.request.Request(f"{api.base}/hooks/{hook_id}", headers={"Accept": "text/html"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        page = resp.read().decode()
        assert resp.headers["Content-Type"].startswith("text/html")
    assert "<title>Approve a transfer of 1250.00 USD</title>" in page
    assert 'name="approved"' in page and 'name="reviewer"' in page
