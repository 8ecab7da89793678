"""Webhook source declarations and the verified delivery they produce."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from factorial_aws.errors import AgentDefinitionError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

Scheme = Literal["github", "stripe", "slack", "standard"]

_SIGNATURE_HEADERS: dict[str, str] = {
    "github": "X-Hub-Signature-256",
    "stripe": "Stripe-Signature",
    "slack": "X-Slack-Signature",
    "standard": "webhook-signature",
}

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


@dataclass(frozen=True)
class Delivery:
    """A verified delivery.

    ``event`` is what hooks are matched against and validated with (the JSON body; Slack's parsed
    ``payload`` field). ``delivery_id`` is the sender's id for deduplication (GitHub's
    ``X-GitHub-Delivery``, Standard Webhooks' ``webhook-id``, Stripe's event ``id``, Slack's body
    digest), or ``None`` when the sender gives none. ``challenge`` is set for a Slack Events API
    URL verification, which must be answered with it instead of being routed.
    """

    source: str
    event: dict[str, Any]
    delivery_id: str | None
    challenge: str | None = None


@dataclass(frozen=True)
class WebhookSource:
    """One sender the app accepts deliveries from, at ``POST /webhooks/{name}``."""

    name: str
    scheme: Scheme

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise AgentDefinitionError(
                f"webhook source name {self.name!r} must be 1-40 lowercase letters, digits or "
                "'-', starting with a letter (it is part of a URL and an environment variable)"
            )

    @property
    def secret_env(self) -> str:
        """The local environment variable holding the signing secret."""
        return "FACTORIAL_WEBHOOK_SECRET_" + self.name.upper().replace("-", "_")

    @property
    def previous_secret_env(self) -> str:
        """The variable holding the secret being rotated out (accepted too, during a rotation)."""
        return self.secret_env + "_PREVIOUS"

    @property
    def signature_header(self) -> str:
        """The header that carries this scheme's signature."""
        return _SIGNATURE_HEADERS[self.scheme]

    def carries_signature(self, headers: Mapping[str, str]) -> bool:
        """Whether a request has this scheme's signature header (valid or not)."""
        wanted = self.signature_header.lower()
        return any(key.lower() == wanted for key in headers)

    def verify(
        self,
        secrets: Sequence[str | bytes],
        body: bytes,
        headers: Mapping[str, str],
        now: datetime,
    ) -> Delivery:
        """Verify a delivery against any of ``secrets`` (current first, then previous).

        Raises :class:`~factorial_aws.errors.InvalidSignatureError` (401 ``invalid_signature``)
        when no secret verifies it, it is stale or from the future, or it is malformed.
        """
        from factorial_aws.webhooks.schemes import github, slack, standard, stripe

        verifiers = {
            "github": github.verify,
            "stripe": stripe.verify,
            "slack": slack.verify,
            "standard": standard.verify,
        }
        return verifiers[self.scheme](self.name, secrets, body, headers, now)


def github(name: str = "github") -> WebhookSource:
    """GitHub: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>``."""
    return WebhookSource(name, "github")


def stripe(name: str = "stripe") -> WebhookSource:
    """Stripe: ``Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(whsec_..., "<t>.<body>")>``."""
    return WebhookSource(name, "stripe")


def slack(name: str = "slack") -> WebhookSource:
    """Slack: ``X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:<ts>:<body>")>``."""
    return WebhookSource(name, "slack")


def standard(name: str) -> WebhookSource:
    """Any Standard Webhooks sender (Svix and others): ``webhook-id``, ``webhook-timestamp``,
    ``webhook-signature: v1,<base64>`` keyed by a ``whsec_<base64>`` secret."""
    return WebhookSource(name, "standard")


def body_digest(body: bytes) -> str:
    """A delivery id for senders that resend byte-identical bodies but name no id (Slack)."""
    return "sha256:" + hashlib.sha256(body).hexdigest()
