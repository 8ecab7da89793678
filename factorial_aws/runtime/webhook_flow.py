"""Webhook deliveries: a verified event resolves the open hooks of its source that it matches.

:func:`deliver` is the whole route after verification: read the source's live match shapes (one
round trip), look the event up in the routing index (one round trip: ``route_webhook.lua``), then
for each candidate hook validate the event by the hook's own type (a type that rejects it leaves
the hook open) and resolve it with the source as the credential (one round trip each, which also
drops the hook's routing entry). A delivery with an id that resolved hooks is recorded (one more
round trip), so the same delivery again answers ``idempotent``. An event that resolves nothing is
kept early by the lookup; :func:`register_sourced` (called after the commit that registers hooks)
resolves a newly registered hook with the early events that satisfy it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from factorial_aws.agents.hooks import validate_payload
from factorial_aws.errors import ContextTooLargeError, PayloadTooLargeError, StateCorruptedError
from factorial_aws.store import hooks as store_hooks
from factorial_aws.store import keys
from factorial_aws.store import webhooks as store_webhooks
from factorial_aws.store.scripts import IndexDrop
from factorial_aws.webhooks.match import match_digest

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from factorial_aws.agents.agent import App
    from factorial_aws.runtime.dispatch import Dispatcher
    from factorial_aws.store.base import StoreContext
    from factorial_aws.store.hooks import ResolveResult
    from factorial_aws.store.webhooks import Registration
    from factorial_aws.webhooks.source import Delivery

log = logging.getLogger("factorial_aws.webhooks")

#: How many lookups one delivery makes at most (each returns up to
#: ``store_webhooks.CANDIDATES_PER_LOOKUP`` candidates; a changed set of shapes costs one more).
MAX_LOOKUPS = 8


@dataclass(frozen=True)
class DeliveryResult:
    """The answer to a delivery: ``resolved`` (``hook_ids`` it resolved), ``ignored`` (nothing
    matched and validated) or ``idempotent`` (the same delivery resolved ``hook_ids`` before).
    """

    status: Literal["resolved", "ignored", "idempotent"]
    hook_ids: tuple[str, ...] = ()
    challenge: str | None = None  # a Slack URL verification: answered with it, nothing routed


def idempotency_key(source: str, delivery_id: str | None) -> str | None:
    """The idempotency key a delivery resolves hooks with (a replay of it is ``idempotent``)."""
    if not delivery_id:
        return None
    key = f"webhook:{source}:{delivery_id}"
    return key if len(key) <= store_hooks.MAX_IDEMPOTENCY_KEY_CHARS else None


def resolve_by_source(
    app: App,
    sc: StoreContext,
    dispatcher: Dispatcher,
    hook_id: str,
    source: str,
    event: Mapping[str, Any],
    delivery_id: str | None,
    drop_from: str | None = None,
) -> ResolveResult | None:
    """Resolve one hook with a verified event of ``source``: None when the hook's type rejects
    the event (or the app no longer has the type, or the event would take the task's context over
    its cap; the hook stays open), else the store's result.
    ``drop_from``: the routing index key to remove the hook from in the same round trip."""
    hook_type = app.hook_type(hook_id)
    if hook_type is None:
        return None
    try:
        text, value = store_hooks.payload_json(sc, dict(event))
        validate_payload(hook_type, value)
    except (ValidationError, PayloadTooLargeError):
        return None
    try:
        result = store_hooks.resolve_hook(
            sc,
            hook_id,
            text,
            "",
            idempotency_key(source, delivery_id),
            sources=(source,),
            index=[IndexDrop(drop_from, hook_id)] if drop_from else (),
        )
    except ContextTooLargeError:  # the event would take the task's context over its cap
        log.warning("event for %s left out: over the task's context cap", hook_id)
        return None
    if result.seq:
        dispatcher.turn(result.task_id, result.seq)
    return result


def _offer(
    app: App,
    sc: StoreContext,
    dispatcher: Dispatcher,
    delivery: Delivery,
    hook_id: str,
    index_key: str,
) -> str:
    """Offer the delivery to one candidate hook: the resolve's outcome, or ``rejected`` (its
    type does not take the event; the hook stays open)."""
    result = resolve_by_source(
        app, sc, dispatcher, hook_id, delivery.source, delivery.event, delivery.delivery_id,
        index_key,
    )  # fmt: skip
    return "rejected" if result is None else result.outcome


def deliver(
    app: App, sc: StoreContext, dispatcher: Dispatcher, delivery: Delivery
) -> DeliveryResult:
    """Route a verified delivery to the open hooks of its source that it matches."""
    source, event = delivery.source, delivery.event
    shapes = store_webhooks.live_shapes(sc, source)
    tried: list[str] = []
    resolved: list[str] = []
    replayed: list[str] = []
    for _ in range(MAX_LOOKUPS):
        found = store_webhooks.route(
            sc, source, shapes, event, delivery.delivery_id, tried, keep=not resolved
        )
        if found.outcome == "idempotent":
            return DeliveryResult("idempotent", found.hook_ids)
        if found.outcome == "reshape":
            shapes = store_webhooks.live_shapes(sc, source)
            continue
        if found.outcome != "candidates":
            break
        for hook_id, index_key in found.candidates:
            tried.append(hook_id)
            outcome = _offer(app, sc, dispatcher, delivery, hook_id, index_key)
            if outcome == "resolved":
                resolved.append(hook_id)
            elif outcome == "idempotent":  # the same delivery, racing itself
                replayed.append(hook_id)
        if (resolved or replayed) and len(found.candidates) < store_webhooks.CANDIDATES_PER_LOOKUP:
            break  # all found; none resolved: look again, so an event racing a registration is kept
    else:
        log.warning("delivery to %s: %d lookups were not enough", source, MAX_LOOKUPS)
    if resolved:
        if delivery.delivery_id:
            store_webhooks.record_delivery(sc, source, delivery.delivery_id, resolved + replayed)
        return DeliveryResult("resolved", tuple(resolved))
    if replayed:
        return DeliveryResult("idempotent", tuple(replayed))
    return DeliveryResult("ignored")


def register_sourced(
    app: App, sc: StoreContext, dispatcher: Dispatcher, hooks: Sequence[Registration]
) -> list[str]:
    """After the commit that registered ``hooks`` (those waiting on a source): index them, and
    resolve each with the first kept early event that satisfies its match and type. Returns the
    hook ids resolved that way."""
    if not hooks:
        return []
    resolved: list[str] = []
    by_id = {h.hook_id: h for h in hooks}
    for early in store_webhooks.register_hooks(sc, hooks):
        if early.hook_id in resolved:
            continue
        try:
            result = resolve_by_source(
                app,
                sc,
                dispatcher,
                early.hook_id,
                early.source,
                early.event,
                early.delivery_id,
                keys.webhook_match(early.source, match_digest(by_id[early.hook_id].match)),
            )
        except StateCorruptedError:
            log.exception("resolving %s with an early event failed", early.hook_id)
            continue
        if result is not None and result.outcome == "resolved":
            resolved.append(early.hook_id)
    return resolved
