"""Stub webhook senders: sign and POST an event exactly as GitHub, Stripe and Slack do.

The examples' tests use them, and so can you against a dev server (the secret is the one the dev
server reads from ``FACTORIAL_WEBHOOK_SECRET_<NAME>``)::

    FACTORIAL_WEBHOOK_SECRET_GITHUB=s3cret factorial-aws dev examples.deploy_gate.app:app
    python -m examples.deploy_gate.sender http://127.0.0.1:8000 s3cret octo/app <sha>
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from typing import Any
from urllib.parse import urlencode

from factorial_aws.core.clock import SystemClock
from factorial_aws.webhooks.schemes import github, slack, stripe

_CLOCK = SystemClock()


def _now() -> int:
    return int(_CLOCK.now().timestamp())


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    """POST ``body`` with ``headers``: ``(status, decoded JSON answer)``, errors included."""
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        with err:
            return err.code, json.loads(err.read() or b"null")


def send_github(
    base_url: str,
    secret: str,
    event: dict[str, Any],
    *,
    delivery: str | None = None,
    kind: str = "check_run",
) -> tuple[int, Any]:
    """As GitHub: JSON body, ``X-Hub-Signature-256``, ``X-GitHub-Event``, ``X-GitHub-Delivery``."""
    body = json.dumps(event).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": kind,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": github.sign(secret, body),
    }
    return post(f"{base_url}/webhooks/github", body, headers)


def send_stripe(base_url: str, secret: str, event: dict[str, Any]) -> tuple[int, Any]:
    """As Stripe: JSON body, ``Stripe-Signature: t=<now>,v1=<hex>`` (the event id dedups)."""
    body = json.dumps(event).encode()
    headers = {
        "Content-Type": "application/json",
        "Stripe-Signature": stripe.sign(secret, body, _now()),
    }
    return post(f"{base_url}/webhooks/stripe", body, headers)


def send_slack(base_url: str, secret: str, payload: dict[str, Any]) -> tuple[int, Any]:
    """As Slack's interactivity: form-encoded ``payload=<JSON>``, ``X-Slack-Signature``."""
    body = urlencode({"payload": json.dumps(payload)}).encode()
    ts = _now()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": slack.sign(secret, body, ts),
    }
    return post(f"{base_url}/webhooks/slack", body, headers)
