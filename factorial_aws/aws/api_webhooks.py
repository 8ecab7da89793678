"""The webhook route: ``POST /webhooks/{name}``, where a source's sender delivers its events.

Public (no IAM on AWS): the signature is the credential, verified over the raw body bytes as
received (an API Gateway base64 body is decoded first) before anything is read or written. Any
content type is accepted here (Slack's interactive payloads are form-encoded). The answers:
``200 {"status": "resolved" | "ignored" | "idempotent", "hook_ids": [...]}``, ``200
{"challenge": ...}`` for a Slack URL verification, ``401 invalid_signature``, ``404
unknown_source``, ``503 webhook_not_configured`` (no secret set: the sender retries).
DESIGN.md section 10 is the contract; routing is :mod:`factorial_aws.runtime.webhook_flow`.

No ``from __future__ import annotations`` here: Powertools reads the route signatures at runtime.
"""

import base64
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from factorial_aws.aws.api_errors import JSON, NO_STORE
from factorial_aws.aws.api_models import ChallengeOut, WebhookOut, documented
from factorial_aws.runtime.control import Control

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent


def raw_body(event: "BaseProxyEvent") -> bytes:
    """The request body's bytes as the sender signed them (base64-decoded when API Gateway
    encoded it)."""
    body = event.body or ""
    if event.is_base64_encoded:
        return base64.b64decode(body)
    return body.encode("utf-8", "surrogatepass")


def headers_of(event: "BaseProxyEvent") -> Mapping[str, str]:
    """The request headers (API Gateway v2 joins repeated headers with commas)."""
    return dict(event.headers or {})


def webhook_routes(control: Control) -> Router:
    """A router with the webhook route of ``control``."""
    router = Router()  # type: ignore[no-untyped-call]

    @router.post(
        "/webhooks/<name>",
        operation_id="deliver_webhook",
        summary="A webhook source's delivery: verified, then routed to the hooks it matches",
        tags=["webhooks"],
        responses={
            **documented(200, "Routed", 400, 401, 404, 413),
            200: {
                "description": "Routed: resolved, ignored or idempotent (a Slack URL "
                'verification is answered {"challenge": ...} instead)',
                "content": {JSON: {"model": WebhookOut}},
            },
        },
    )
    def deliver_webhook(name: str) -> Response[Any]:
        event = router.current_event
        result = control.deliver_webhook(name, raw_body(event), headers_of(event))
        out: Any
        if result.challenge is not None:
            out = ChallengeOut(challenge=result.challenge)
        else:
            out = WebhookOut(status=result.status, hook_ids=list(result.hook_ids))
        return Response(200, JSON, out, headers=NO_STORE)

    return router
