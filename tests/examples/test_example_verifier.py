"""examples/verifier: the verifier rejects a report whose total is wrong; the fix is accepted."""

from __future__ import annotations

from examples.verifier.app import app
from examples.verifier.stub import items_of, stub_reply

ASK = "Expenses for Dana Scully: taxi 41.20, lunch 23.50, hotel 189.00."


def test_receipts_are_read_from_the_request() -> None:
    assert items_of(ASK) == [
        {"description": "taxi", "amount_cents": 4120},
        {"description": "lunch", "amount_cents": 2350},
        {"description": "hotel", "amount_cents": 18900},
    ]


def test_the_first_candidate_is_rejected_and_the_corrected_one_accepted(serve) -> None:
    api = serve(app, stub_reply)
    task_id = api.create("expenses", ASK)
    done = api.wait(task_id)
    assert done["status"] == "completed", api.log()
    assert done["output"] == {
        "employee": "Dana Scully",
        "items": [
            {"description": "taxi", "amount_cents": 4120},
            {"description": "lunch", "amount_cents": 2350},
            {"description": "hotel", "amount_cents": 18900},
        ],
        "total_cents": 25370,
    }
    assert done["turn"] == 2
    rejected = [e["data"] for e in api.events(task_id) if e["kind"] == "verifier_rejected"]
    assert rejected == [
        {
            "reason": "total_cents is 6470 but the 3 items add up to 25370; "
            "fix the total (or the items) and call final_output again"
        }
    ]
