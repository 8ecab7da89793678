"""Webhook sources: real senders (GitHub, Stripe, Slack, Standard Webhooks) resolve hooks.

``webhooks.github()``, ``webhooks.stripe()``, ``webhooks.slack()`` and ``webhooks.standard(name)``
declare the sources an :class:`~factorial_aws.App` accepts deliveries from. Each scheme's
verification is one plain function in a module of its own under ``schemes/`` (``github.py``,
``stripe.py``, ``slack.py``, ``standard.py``): raw body bytes and headers in, a verified
:class:`Delivery` out, or :class:`~factorial_aws.errors.InvalidSignatureError`. ``match.py``
holds the dotted-path matching a hook's ``match=`` is checked with. DESIGN.md section 10 is the
contract.

Nothing here imports boto3, redis or Powertools: the HTTP route and the store's routing index build
on these functions.
"""

from factorial_aws.webhooks.source import Delivery as Delivery
from factorial_aws.webhooks.source import Scheme as Scheme
from factorial_aws.webhooks.source import WebhookSource as WebhookSource
from factorial_aws.webhooks.source import github as github
from factorial_aws.webhooks.source import slack as slack
from factorial_aws.webhooks.source import standard as standard
from factorial_aws.webhooks.source import stripe as stripe

__all__ = ["Delivery", "Scheme", "WebhookSource", "github", "slack", "standard", "stripe"]
