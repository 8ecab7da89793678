"""examples/webhook: a GitHub check_run webhook, with its many extra fields, resolves the hook."""

from __future__ import annotations

import json
from pathlib import Path

from examples.webhook.app import app
from examples.webhook.stub import stub_reply

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "webhook" / "check_run_completed.json"
SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
ASK = f"Deploy Codertocat/Hello-World at {SHA} once CI is green."


def github_event(**check_run: object) -> dict:
    event = json.loads(SAMPLE.read_text())
    event["check_run"].update(check_run)
    return event


def test_the_full_github_payload_resolves_a_hook_that_ignores_extra_fields(serve) -> None:
    api = serve(app, stub_reply)
    task_id = api.create("deployer", ASK)
    pending = api.parked_hook(task_id)
    assert pending["title"] == "CI result for Codertocat/Hello-World@ec26c3e"
    hook_id = pending["hook_id"]
    schema = api.hook(hook_id)["schema"]
    # extra="ignore": the stored schema does not forbid extra fields, at any level
    assert "additionalProperties" not in schema
    assert all("additionalProperties" not in d for d in schema["$defs"].values())
    token = api.token(hook_id)
    assert token not in json.dumps(api.hook(hook_id))

    # an earlier event of the same check run: refused (422), the hook stays open
    early = github_event(status="in_progress", conclusion=None)
    early["action"] = "created"
    status, answer = api.resolve(hook_id, early, in_query=True)
    assert status == 422, answer
    assert "$.action: Input should be 'completed'" in answer["error"]["message"]
    assert "$.check_run.status: Input should be 'completed'" in answer["error"]["message"]

    event = github_event()
    assert len(json.dumps(event)) > 4000 and "sender" in event and "installation" in event
    delivery = {"X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"}
    url = f"/hooks/{hook_id}/resolve?token={token}"  # as GitHub would: the token in the URL
    status, answer = api.call("POST", url, event, delivery)
    assert status == 200 and answer["task_resumed"] is True, answer
    done = api.wait(task_id)
    assert done["status"] == "completed", api.log()
    assert done["output"] == (
        "Done: deployed Codertocat/Hello-World@ec26c3e to production "
        "(check 'Octocoders-linter' passed)."
    )
    # GitHub redelivers the same delivery: an idempotent replay, nothing runs twice
    status, answer = api.call("POST", url, event, delivery)
    assert (status, answer["status"], answer["task_resumed"]) == (200, "idempotent", False)
    # another delivery of an event for a hook already resolved: a conflict
    status, answer = api.call("POST", url, event, {"X-GitHub-Delivery": "another"})
    assert status == 409, answer


def test_a_failed_check_does_not_deploy(serve) -> None:
    api = serve(app, stub_reply)
    task_id = api.create("deployer", ASK)
    hook_id = api.parked_hook(task_id)["hook_id"]
    failed = github_event(conclusion="failure")
    status, _ = api.resolve(hook_id, failed)
    assert status == 200
    done = api.wait(task_id)
    assert done["output"] == (
        "I did not deploy: check 'Octocoders-linter' concluded failure; not deploying "
        "(https://github.com/Codertocat/Hello-World/runs/128620228)"
    )
