"""examples/research: a lead agent fans out to three researcher children and joins them all."""

from __future__ import annotations

from examples.research.app import app
from examples.research.stub import stub_reply, topics_of

ASK = "Compare Valkey, SQS and EventBridge Scheduler for our design."


def test_topics_are_read_from_the_question() -> None:
    assert topics_of(ASK) == ["Valkey", "SQS", "EventBridge Scheduler"]
    assert topics_of("Research: a, b, and c") == ["a", "b", "c"]


def test_three_children_run_and_the_lead_summarises_all_of_them(serve) -> None:
    api = serve(app, stub_reply)
    lead_id = api.create("lead", ASK)
    done = api.wait(lead_id)
    assert done["status"] == "completed", api.log()
    children = [api.task(c) for c in done["children"]]
    assert len(children) == 3
    assert {c["agent"] for c in children} == {"researcher"}
    assert {c["status"] for c in children} == {"completed"}
    assert {c["parent_id"] for c in children} == {lead_id}
    summary = done["output"]
    assert summary.startswith("Summary of 3 of 3 researchers:")
    for child in children:
        assert f"- {child['output']}" in summary
    assert "Valkey: Valkey is a BSD-licensed fork of Redis 7.2" in summary
    assert "SQS: SQS delivers at least once" in summary
    assert "EventBridge Scheduler: EventBridge Scheduler runs one-shot" in summary
    kinds = [(e["kind"], e["data"].get("wait_kind")) for e in api.events(lead_id)]
    assert ("wait_registered", "children") in kinds and ("wait_ended", "children") in kinds
    assert done["turn"] == 2
