"""A stub Stripe: sends ``payment_intent.*`` events, signed as Stripe signs them.

python -m examples.stripe_payment.sender http://127.0.0.1:8000 whsec_... ord_1001 [type]
"""

from __future__ import annotations

import sys
from typing import Any

from examples.senders import send_stripe


def payment_event(
    order_id: str, kind: str = "payment_intent.succeeded", event_id: str = "evt_1"
) -> dict[str, Any]:
    """A Stripe event for the PaymentIntent of ``order_id`` (trimmed)."""
    succeeded = kind == "payment_intent.succeeded"
    return {
        "id": event_id,
        "object": "event",
        "type": kind,
        "livemode": False,
        "data": {
            "object": {
                "id": "pi_3MtwBwLkdIwHu7ix28a3tqPa",
                "object": "payment_intent",
                "amount": 2599,
                "currency": "eur",
                "status": "succeeded" if succeeded else "requires_payment_method",
                "metadata": {"order_id": order_id},
            }
        },
    }


if __name__ == "__main__":
    base, secret, order, *rest = sys.argv[1:]
    print(send_stripe(base, secret, payment_event(order, *rest)))
