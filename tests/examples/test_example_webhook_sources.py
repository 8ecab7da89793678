"""The three webhook-source examples on a real dev server over HTTP, with stub senders that sign
exactly as GitHub, Stripe and Slack do."""

from __future__ import annotations

import json

import pytest

from examples.deploy_gate.app import app as deploy_app
from examples.deploy_gate.sender import check_run
from examples.deploy_gate.stub import stub_reply as deploy_stub
from examples.senders import post, send_github, send_slack, send_stripe
from examples.slack_approval.app import app as slack_app
from examples.slack_approval.sender import click
from examples.slack_approval.stub import stub_reply as slack_stub
from examples.stripe_payment.app import app as stripe_app
from examples.stripe_payment.sender import payment_event
from examples.stripe_payment.stub import stub_reply as stripe_stub

SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
GITHUB_SECRET = "gh-example-secret"
STRIPE_SECRET = "whsec_example_secret"
SLACK_SECRET = "slack-example-secret"


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACTORIAL_WEBHOOK_SECRET_GITHUB", GITHUB_SECRET)
    monkeypatch.setenv("FACTORIAL_WEBHOOK_SECRET_STRIPE", STRIPE_SECRET)
    monkeypatch.setenv("FACTORIAL_WEBHOOK_SECRET_SLACK", SLACK_SECRET)


def test_deploy_gate(serve) -> None:
    api = serve(deploy_app, deploy_stub)
    task_id = api.create("deployer", f"Deploy octo/app at {SHA} once CI is green.")
    hook_id = api.parked_hook(task_id)["hook_id"]
    shown = api.hook(hook_id)
    assert shown["source"] == "github"
    assert shown["match"] == {"check_run.head_sha": SHA, "repository.full_name": "octo/app"}

    base = api.base
    # the earlier events of the check run, another commit, another repository: ignored
    for event in (
        check_run("octo/app", SHA, action="created"),
        check_run("octo/app", "f" * 40),
        check_run("octo/other", SHA),
    ):
        assert send_github(base, GITHUB_SECRET, event) == (
            200,
            {"status": "ignored", "hook_ids": []},
        )
    assert api.task(task_id)["status"] == "waiting_hook"
    # a forged delivery: 401, nothing resolved
    status, answer = send_github(base, "not-the-secret", check_run("octo/app", SHA))
    assert (status, answer["error"]["code"]) == (401, "invalid_signature")

    event = check_run("octo/app", SHA)
    assert send_github(base, GITHUB_SECRET, event, delivery="d-1") == (
        200,
        {"status": "resolved", "hook_ids": [hook_id]},
    )
    done = api.wait(task_id)
    assert done["output"] == "Result: deployed octo/app@ec26c3e (check 'ci / test' passed)"
    # GitHub redelivers: idempotent, the same hook
    assert send_github(base, GITHUB_SECRET, event, delivery="d-1") == (
        200,
        {"status": "idempotent", "hook_ids": [hook_id]},
    )


def test_stripe_payment_even_before_the_hook_registers(serve) -> None:
    api = serve(stripe_app, stripe_stub)
    base = api.base
    # Stripe is faster than the turn: the payment of ord_1 succeeds before the task exists
    assert send_stripe(base, STRIPE_SECRET, payment_event("ord_1", event_id="evt_early")) == (
        200,
        {"status": "ignored", "hook_ids": []},
    )
    early = api.create("shop", "Ship order ord_1 once it is paid.")
    done = api.wait(early)
    assert (
        done["output"]
        == "Result: shipped order ord_1 (paid 25.99 EUR, pi_3MtwBwLkdIwHu7ix28a3tqPa)"
    )

    task_id = api.create("shop", "Ship order ord_2 once it is paid.")
    hook_id = api.parked_hook(task_id)["hook_id"]
    failed = payment_event("ord_2", kind="payment_intent.payment_failed", event_id="evt_f")
    assert send_stripe(base, STRIPE_SECRET, failed)[1]["status"] == "ignored"
    paid = payment_event("ord_2", event_id="evt_2")
    assert send_stripe(base, STRIPE_SECRET, paid) == (
        200,
        {"status": "resolved", "hook_ids": [hook_id]},
    )
    assert api.wait(task_id)["status"] == "completed"
    # Stripe retries the same event (same id, a new signature): idempotent
    assert send_stripe(base, STRIPE_SECRET, paid)[1] == {
        "status": "idempotent",
        "hook_ids": [hook_id],
    }


def test_slack_approval_button(serve) -> None:
    api = serve(slack_app, slack_stub)
    base = api.base
    task_id = api.create("operator", "Please restart billing-api.")
    hook_id = api.parked_hook(task_id)["hook_id"]
    # a click on another message's button: ignored
    assert send_slack(base, SLACK_SECRET, click("t-other.h0")) == (
        200,
        {"status": "ignored", "hook_ids": []},
    )
    assert send_slack(base, SLACK_SECRET, click(hook_id, "approve")) == (
        200,
        {"status": "resolved", "hook_ids": [hook_id]},
    )
    assert api.wait(task_id)["output"] == "Result: restarted billing-api (approved by @ana)"
    # Slack's URL verification (Event Subscriptions on the same URL) is answered with the
    # challenge; it must be signed too
    from examples.senders import _now
    from factorial_aws.webhooks.schemes import slack

    body = json.dumps({"type": "url_verification", "challenge": "3eZbrw1aB"}).encode()
    ts = _now()
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": slack.sign(SLACK_SECRET, body, ts),
    }
    assert post(f"{base}/webhooks/slack", body, headers) == (200, {"challenge": "3eZbrw1aB"})
    unsigned = {"Content-Type": "application/json"}
    status, answer = post(f"{base}/webhooks/slack", body, unsigned)
    assert (status, answer["error"]["code"]) == (401, "invalid_signature")
