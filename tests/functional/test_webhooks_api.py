"""POST /webhooks/{name} through the API Lambda handler with API Gateway v2 events (JSON and
base64 bodies), standalone and cluster: verification first, routing, idempotency, Slack's
form-encoded payload and URL verification, Standard Webhooks signed by the ``standardwebhooks``
library, per-hook URLs that need the source's signature."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhook

from factorial_aws.webhooks.schemes import slack as slack_scheme
from factorial_aws.webhooks.schemes import stripe as stripe_scheme
from tests.functional.conftest import HarnessFactory
from tests.functional.harness import Harness
from tests.webhooks.apps import (
    GITHUB_SECRET,
    body_of,
    check_run,
    github_headers,
    make_app,
    sha,
    stub_rule,
)

SLACK_SECRET = "slack-signing-secret"
STRIPE_SECRET = "whsec_stripe_test_secret"
ACME_SECRET = "whsec_" + base64.b64encode(b"acme-key-0123456789abcdef").decode()


@pytest.fixture
def h(make_harness: HarnessFactory, monkeypatch: pytest.MonkeyPatch) -> Harness:
    monkeypatch.setenv("FACTORIAL_WEBHOOK_SECRET_GITHUB", GITHUB_SECRET)
    monkeypatch.setenv("FACTORIAL_WEBHOOK_SECRET_SLACK", SLACK_SECRET)
    monkeypatch.setenv("FACTORIAL_WEBHOOK_SECRET_STRIPE", STRIPE_SECRET)
    monkeypatch.setenv("FACTORIAL_WEBHOOK_SECRET_ACME", ACME_SECRET)
    return make_harness(make_app(), stub_rule)


def park(h: Harness, head_sha: str) -> tuple[str, str]:
    task_id = h.create("deployer", f"deploy {head_sha}")
    h.run_turns()
    task = h.task(task_id)
    assert task["status"] == "waiting_hook", task
    (pending,) = task["pending_hooks"]
    return task_id, str(pending["hook_id"])


def post(h: Harness, name: str, body: bytes, headers: dict[str, str], **kw: Any) -> Any:
    return h.http(
        "POST", f"/webhooks/{name}", raw_body=body.decode(), headers=headers, caller_arn=None, **kw
    )


def test_github_delivery_through_the_handler_json_and_base64(h: Harness) -> None:
    task_id, hook_id = park(h, sha(1))
    other_task, other_hook = park(h, sha(2))
    body = body_of(check_run(sha(1)))
    answer = post(h, "github", body, github_headers(body, "gh-1"), base64_body=True)
    assert answer.status == 200, answer.text
    assert answer.json() == {"status": "resolved", "hook_ids": [hook_id]}
    h.run_turns()
    assert h.task(task_id)["status"] == "completed"
    assert h.task(other_task)["status"] == "waiting_hook"
    again = post(h, "github", body, github_headers(body, "gh-1"))
    assert again.json() == {"status": "idempotent", "hook_ids": [hook_id]}
    # GET /hooks/{id} shows the source and match, never a token
    shown = h.http("GET", f"/hooks/{other_hook}").json()
    assert shown["source"] == "github" and shown["match"] == {"check_run.head_sha": sha(2)}
    assert h.token(other_hook) not in json.dumps(shown)


def test_verification_comes_first(h: Harness) -> None:
    park(h, sha(3))
    body = body_of(check_run(sha(3)))
    forged = {**github_headers(body), "X-Hub-Signature-256": "sha256=" + "ab" * 32}
    answer = post(h, "github", body, forged)
    assert (answer.status, answer.code) == (401, "invalid_signature")
    assert (post(h, "gitlab", body, github_headers(body)).status, "unknown_source") == (
        404,
        "unknown_source",
    )
    assert post(h, "gitlab", body, github_headers(body)).code == "unknown_source"


def test_standard_webhooks_signed_by_the_library_and_stale(h: Harness) -> None:
    body = json.dumps({"type": "invoice.paid", "data": {"id": "in_1"}})
    sender = StandardWebhook(ACME_SECRET)
    now = h.clock.now()
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": sender.sign("msg_1", now, body),
    }
    assert post(h, "acme", body.encode(), headers).json() == {"status": "ignored", "hook_ids": []}
    stale = now.timestamp() - 600
    from datetime import UTC, datetime

    old = datetime.fromtimestamp(stale, UTC)
    headers = {
        "webhook-id": "msg_2",
        "webhook-timestamp": str(int(stale)),
        "webhook-signature": sender.sign("msg_2", old, body),
    }
    answer = post(h, "acme", body.encode(), headers)
    assert (answer.status, answer.code) == (401, "invalid_signature")


def test_slack_form_payload_and_url_verification(h: Harness) -> None:
    ts = int(h.clock.now().timestamp())
    payload = {"type": "block_actions", "actions": [{"value": "approve"}]}
    form = urlencode({"payload": json.dumps(payload)}).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": slack_scheme.sign(SLACK_SECRET, form, ts),
    }
    # API Gateway base64-encodes a form body: decoded before verification
    answer = post(h, "slack", form, headers, base64_body=True)
    assert answer.status == 200, answer.text
    assert answer.json() == {"status": "ignored", "hook_ids": []}
    tampered = post(h, "slack", form.replace(b"approve", b"deny"), headers, base64_body=True)
    assert (tampered.status, tampered.code) == (401, "invalid_signature")
    challenge = json.dumps({"type": "url_verification", "challenge": "c-123"}).encode()
    headers = {
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": slack_scheme.sign(SLACK_SECRET, challenge, ts),
    }
    assert post(h, "slack", challenge, headers).json() == {"challenge": "c-123"}


def test_per_hook_url_needs_the_source_signature(h: Harness) -> None:
    task_id, hook_id = park(h, sha(5))
    event = check_run(sha(5))
    token = h.token(hook_id)
    unsigned = h.resolve(hook_id, event, token)
    assert (unsigned.status, unsigned.code) == (401, "invalid_signature")
    # a Stripe signature is not GitHub's
    ts = int(h.clock.now().timestamp())
    body = body_of(event)
    stripe_signed = {
        "X-Hook-Token": token,
        "Stripe-Signature": stripe_scheme.sign(STRIPE_SECRET, body, ts),
    }
    wrong = h.http(
        "POST", f"/hooks/{hook_id}/resolve", raw_body=body.decode(), headers=stripe_signed
    )
    assert (wrong.status, wrong.code) == (401, "invalid_signature")
    signed = {"X-Hook-Token": token, **github_headers(body)}
    ok = h.http("POST", f"/hooks/{hook_id}/resolve", raw_body=body.decode(), headers=signed)
    assert ok.status == 200, ok.text
    h.run_turns()
    assert h.task(task_id)["status"] == "completed"


def test_on_aws_the_secret_comes_from_secrets_manager_with_rotation(
    make_harness: HarnessFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from factorial_aws.aws import clients

    monkeypatch.delenv("FACTORIAL_WEBHOOK_SECRET_GITHUB", raising=False)
    rotation = json.dumps({"current": "new-secret", "previous": GITHUB_SECRET})
    clients.secretsmanager().create_secret(Name="stack/webhooks/github", SecretString=rotation)
    h = make_harness(make_app(), stub_rule, webhook_secret_prefix="stack/webhooks/")
    _, hook_id = park(h, sha(6))
    body = body_of(check_run(sha(6)))
    # signed with the previous secret: still accepted during the rotation
    answer = post(h, "github", body, github_headers(body, "rot-1"))
    assert answer.json() == {"status": "resolved", "hook_ids": [hook_id]}, answer.text
    # a source the app declares but whose secret does not exist: 503, the sender retries
    missing = post(h, "stripe", body, {"Stripe-Signature": "t=1,v1=00"})
    assert (missing.status, missing.code) == (503, "webhook_not_configured")
