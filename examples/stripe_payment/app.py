"""Ship an order once Stripe confirms its payment: a Stripe webhook source resolves the hook.

The tool waits for ``payment_intent.succeeded`` of the order's PaymentIntent, found by the
metadata the checkout put on it (``match={"data.object.metadata.order_id": order_id}``). Stripe
signs every event (``Stripe-Signature``); the framework verifies it, routes the event to the hook
waiting for that order, and deduplicates Stripe's retries by the event ``id``. A payment that
succeeds before the task has even parked (Stripe can be faster than the turn's commit) is not
lost: the event is kept 5 minutes and resolves the hook when it registers.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict

from factorial_aws import Agent, App, Hook, HookRequestContext, PendingHook, hook, tool, webhooks

_LENIENT = ConfigDict(extra="ignore")


class PaymentIntent(BaseModel):
    model_config = _LENIENT

    id: str
    amount: int
    currency: str
    status: Literal["succeeded"]


class EventData(BaseModel):
    model_config = _LENIENT

    object: PaymentIntent


class PaymentSucceeded(Hook):
    """A Stripe ``payment_intent.succeeded`` event."""

    model_config = _LENIENT

    id: str
    type: Literal["payment_intent.succeeded"]
    data: EventData


def wait_for_payment(ctx: HookRequestContext, order_id: str) -> PendingHook[PaymentSucceeded]:
    """Wait for Stripe to confirm the payment of ``order_id`` (delivered to
    ``/webhooks/stripe``)."""
    return PaymentSucceeded.pending(
        ctx=ctx,
        title=f"Payment of order {order_id}",
        timeout_s=24 * 3600,
        source="stripe",
        match={"data.object.metadata.order_id": order_id},
    )


@tool
def ship_when_paid(
    order_id: str, paid: Annotated[PaymentSucceeded, hook.requires(wait_for_payment)]
) -> str:
    """Ship ``order_id`` once its payment has succeeded."""
    intent = paid.data.object
    amount = f"{intent.amount / 100:.2f} {intent.currency.upper()}"
    return f"shipped order {order_id} (paid {amount}, {intent.id})"


shop = Agent(
    name="shop",
    instructions="You ship paid orders. Use ship_when_paid; it waits for the payment.",
    model="gpt-4.1-mini",
    tools=[ship_when_paid],
)

app = App(agents=[shop], webhooks=[webhooks.stripe()])
