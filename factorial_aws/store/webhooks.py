"""The webhook routing index: which open hooks wait on which source and match.

Each source has its own slot (hash tag ``{wh:<source>}``, keys in :mod:`.keys`): a ``shapes``
ZSET (the sorted match paths open hooks use -> their latest expiry), one ZSET per (source,
match) of hook ids scored by expiry (entries past it fall out in the lookup), the early events
(verified deliveries that matched nothing, kept a few minutes) and one record per delivery that
resolved hooks (for idempotent replays). Scripts: ``register_webhook_hook.lua`` (after the commit
that registers a hook) and ``route_webhook.lua`` (a delivery's lookup); the resolve itself is
``resolve_hook.lua`` with the source as the credential (:func:`.hooks.resolve_hook`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from factorial_aws.errors import StateCorruptedError
from factorial_aws.store import keys
from factorial_aws.store.base import to_ms
from factorial_aws.store.scripts import decode
from factorial_aws.webhooks.match import match_digest, probe, shape_of

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from factorial_aws.core.records import HookRequest
    from factorial_aws.store.base import StoreContext

#: How long a verified event that matched nothing is kept for a hook that registers late.
EARLY_LIFE_S = 300
#: The most early events kept per source (the oldest is dropped first).
EARLY_CAP = 500
#: How long a delivery that resolved hooks is remembered: Stripe retries for up to 3 days,
#: GitHub and Standard Webhooks senders for less.
DELIVERY_TTL_S = 3 * 86_400
#: The most candidate hooks one lookup returns (a delivery looks again for the rest).
CANDIDATES_PER_LOOKUP = 100


@dataclass(frozen=True)
class EarlyEvent:
    """A kept early event that satisfies a newly registered hook's match."""

    hook_id: str
    source: str
    event: dict[str, Any]
    delivery_id: str | None


@dataclass(frozen=True)
class Route:
    """What a lookup found.

    ``idempotent``: the delivery resolved ``hook_ids`` before. ``candidates``: open hooks not
    tried yet, each with the key of the match index it was found in. ``kept``: none; the event
    is kept early. ``none``: none, and nothing was kept. ``reshape``: the shapes changed after
    they were read (the caller reads them again).
    """

    outcome: Literal["idempotent", "candidates", "kept", "none", "reshape"]
    hook_ids: tuple[str, ...] = ()
    candidates: tuple[tuple[str, str], ...] = ()  # (hook id, match index key)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def early_id(event: Mapping[str, Any], delivery_id: str | None) -> str:
    """The id an early event is kept under: its delivery id, else its content's digest."""
    if delivery_id:
        return "d:" + _digest(delivery_id)
    return "e:" + _digest(json.dumps(event, sort_keys=True, separators=(",", ":")))


@dataclass(frozen=True)
class Registration:
    """A registered hook that waits on a webhook source: what its routing entry needs."""

    hook_id: str
    source: str
    match: dict[str, Any]
    expires_ms: int


def registrations(requests: Sequence[HookRequest]) -> list[Registration]:
    """The hook requests of a commit that wait on a source."""
    return [
        Registration(r.hook_id, r.source, dict(r.match), to_ms(r.expires_at))
        for r in requests
        if r.source and r.match
    ]


def open_registrations(sc: StoreContext, task_id: str) -> list[Registration]:
    """The task's ``requested`` hooks that wait on a source, read from their records (two round
    trips): to register them again when the worker that committed them may have died first."""
    members: Any = sc.client.smembers(keys.task_hooks(task_id))
    hook_ids = sorted(decode(list(members)))
    if not hook_ids:
        return []
    pipe = sc.client.pipeline(transaction=False)
    for hook_id in hook_ids:
        pipe.hmget(keys.hook(hook_id), ["status", "src", "match", "exp"])
    found: list[Registration] = []
    for hook_id, fields in zip(hook_ids, pipe.execute(), strict=True):
        status, src, match, exp = decode(fields)
        if status == "requested" and src and match and exp:
            found.append(Registration(hook_id, src, json.loads(match), int(exp)))
    return found


def register_hooks(sc: StoreContext, hooks: Sequence[Registration]) -> list[EarlyEvent]:
    """Add registered hooks that wait on a source to its routing index (one pipelined round trip
    for all), and return the kept early events that satisfy each one's match."""
    calls: list[tuple[list[str], list[str | int | float | bytes]]] = [
        (
            [*keys.webhook_keys(h.source), keys.webhook_match(h.source, match_digest(h.match))],
            [
                sc.now_arg(),
                h.hook_id,
                h.expires_ms,
                shape_of(h.match),
                json.dumps(h.match, separators=(",", ":")),
            ],
        )
        for h in hooks
    ]
    found: list[EarlyEvent] = []
    for h, res in zip(hooks, sc.scripts.call_many("register_webhook_hook", calls), strict=True):
        for raw in res[1]:
            kept = json.loads(raw)
            found.append(EarlyEvent(h.hook_id, h.source, kept["event"], kept["delivery"]))
    return found


def live_shapes(sc: StoreContext, source: str) -> list[str]:
    """The shapes open hooks of ``source`` wait with (one round trip)."""
    raw: list[Any] = sc.client.zrangebyscore(keys.webhook_shapes(source), sc.now_ms(), "+inf")
    return list(decode(raw))


def route(
    sc: StoreContext,
    source: str,
    shapes: Sequence[str],
    event: Mapping[str, Any],
    delivery_id: str | None,
    tried: Sequence[str] = (),
    *,
    keep: bool = True,
) -> Route:
    """Look up the open hooks of ``source`` whose match ``event`` satisfies along ``shapes``
    (one round trip); when there are none and ``keep``, keep the event early."""
    probes: list[str] = []
    for shape in shapes:
        values = probe(event, shape)
        if values is not None:
            probes.append(keys.webhook_match(source, match_digest(values)))
    record = (
        keys.webhook_delivery(source, _digest(delivery_id))
        if delivery_id
        else keys.webhook_shapes(source)
    )
    kept = json.dumps({"event": event, "delivery": delivery_id}, separators=(",", ":"))
    res = sc.scripts.call(
        "route_webhook",
        [*keys.webhook_keys(source), record, *probes],
        [
            sc.now_arg(),
            json.dumps(list(shapes)),
            json.dumps(list(tried)),
            kept if keep else "",
            early_id(event, delivery_id),
            EARLY_LIFE_S * 1000,
            EARLY_CAP,
            "1" if delivery_id else "0",
            CANDIDATES_PER_LOOKUP,
        ],
    )
    outcome = res[0]
    if outcome == "idempotent":
        return Route("idempotent", hook_ids=tuple(json.loads(res[1])))
    if outcome == "candidates":
        pairs = tuple((str(res[i + 1]), probes[int(res[i]) - 1]) for i in range(1, len(res), 2))
        return Route("candidates", candidates=pairs)
    if outcome in ("kept", "none", "reshape"):
        return Route(outcome)
    raise StateCorruptedError(f"route_webhook on {source}: unexpected outcome {outcome!r}")


def record_delivery(
    sc: StoreContext, source: str, delivery_id: str, hook_ids: Sequence[str]
) -> None:
    """Remember that a delivery resolved ``hook_ids``, for :data:`DELIVERY_TTL_S` (one round
    trip): the same delivery sent again answers ``idempotent`` with them."""
    sc.client.set(
        keys.webhook_delivery(source, _digest(delivery_id)),
        json.dumps(list(hook_ids)),
        ex=DELIVERY_TTL_S,
    )
