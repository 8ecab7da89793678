"""Webhook routing through the whole local stack (real Valkey, standalone and cluster): a
verified delivery resolves exactly the open hooks whose match it satisfies and whose type
validates it, once; early events resolve hooks that register later; index entries go."""

from __future__ import annotations

from typing import Any

import pytest

from factorial_aws.errors import InvalidSignatureError, UnknownWebhookSourceError
from factorial_aws.local.stack import LocalStack
from factorial_aws.store import keys
from factorial_aws.testing import FakeClock
from factorial_aws.webhooks.match import match_digest
from tests.webhooks.apps import (
    GITHUB_SECRET,
    body_of,
    check_run,
    github_headers,
    make_stack,
    sha,
)


@pytest.fixture
def stack(redis_client: Any, monkeypatch: pytest.MonkeyPatch) -> LocalStack:
    monkeypatch.setenv("FACTORIAL_WEBHOOK_SECRET_GITHUB", GITHUB_SECRET)
    return make_stack(redis_client)


def park(stack: LocalStack, head_sha: str) -> tuple[str, str]:
    """A task waiting on the check run of ``head_sha``: (task id, hook id)."""
    task_id = stack.control.create_task("deployer", f"deploy {head_sha}").task_id
    stack.run_due()
    view = stack.control.get_task(task_id)
    assert view.status == "waiting_hook", view
    (pending,) = view.pending_hooks
    return task_id, pending.hook_id


def send(stack: LocalStack, event: dict[str, Any], delivery: str | None = "d-1") -> Any:
    body = body_of(event)
    return stack.control.deliver_webhook("github", body, github_headers(body, delivery))


def dump(client: Any) -> dict[str, Any]:
    """Every key with its type and contents (to prove nothing was written)."""
    out: dict[str, Any] = {}
    nodes = client.get_nodes() if hasattr(client, "get_nodes") else [None]
    for node in nodes:
        scan = client.scan_iter(target_nodes=node) if node is not None else client.scan_iter()
        for key in scan:
            kind = client.type(key)
            kind = kind.decode() if isinstance(kind, bytes) else kind
            value: Any = {
                "hash": lambda k: client.hgetall(k),
                "zset": lambda k: client.zrange(k, 0, -1, withscores=True),
                "string": lambda k: client.get(k),
                "list": lambda k: client.lrange(k, 0, -1),
                "set": lambda k: sorted(client.smembers(k)),
            }[kind](key)
            out[key] = (kind, value)
    return out


def test_a_delivery_resolves_only_the_hooks_it_matches_and_once(stack: LocalStack) -> None:
    waiting = {n: park(stack, sha(n)) for n in range(5)}
    twin = park(stack, sha(2))  # a second task waiting on the same commit

    answer = send(stack, check_run(sha(2)), delivery="gh-1")
    assert answer.status == "resolved"
    assert set(answer.hook_ids) == {waiting[2][1], twin[1]}
    stack.run_due()
    for task_id in (waiting[2][0], twin[0]):
        view = stack.control.get_task(task_id)
        assert view.status == "completed" and view.output == "deployed 0000000: success"
    for n in (0, 1, 3, 4):
        assert stack.control.get_task(waiting[n][0]).status == "waiting_hook"
        assert stack.control.describe_hook(waiting[n][1]).status == "requested"

    # the same delivery again: idempotent, the same hooks, nothing written
    before = dump(stack.client)
    again = send(stack, check_run(sha(2)), delivery="gh-1")
    assert (again.status, set(again.hook_ids)) == ("idempotent", set(answer.hook_ids))
    assert dump(stack.client) == before
    # the resolved hooks left the routing index in the resolving call's round trip
    index = keys.webhook_match("github", match_digest({"check_run.head_sha": sha(2)}))
    assert stack.client.zcard(index) == 0
    # another delivery for the same commit: nobody waits any more
    assert send(stack, check_run(sha(2)), delivery="gh-2").status == "ignored"


def test_unmatched_and_type_filtered_events_are_ignored_and_the_hook_stays_open(
    stack: LocalStack,
) -> None:
    task_id, hook_id = park(stack, sha(7))
    assert send(stack, check_run(sha(8)), delivery="other").status == "ignored"
    # matches, but the hook's type (action: Literal["completed"]) rejects it
    answer = send(stack, check_run(sha(7), action="created"), delivery="created")
    assert (answer.status, answer.hook_ids) == ("ignored", ())
    assert stack.control.describe_hook(hook_id).status == "requested"
    # an ignored delivery sent again is evaluated again (ignored, not idempotent)
    assert send(stack, check_run(sha(7), action="created"), delivery="created").status == (
        "ignored"
    )
    done = send(stack, check_run(sha(7)), delivery="done")
    assert done.hook_ids == (hook_id,)
    stack.run_due()
    assert stack.control.get_task(task_id).status == "completed"


def test_bad_signatures_write_nothing(stack: LocalStack, redis_client: Any) -> None:
    park(stack, sha(3))
    body = body_of(check_run(sha(3)))
    good = github_headers(body)
    before = dump(redis_client)
    forged = {**good, "X-Hub-Signature-256": "sha256=" + "0" * 64}
    altered = body.replace(b"success", b"failure")
    unsigned = {k: v for k, v in good.items() if k != "X-Hub-Signature-256"}
    for raw, headers in ((body, forged), (altered, good), (body, unsigned)):
        with pytest.raises(InvalidSignatureError):
            stack.control.deliver_webhook("github", raw, headers)
    with pytest.raises(UnknownWebhookSourceError):
        stack.control.deliver_webhook("gitlab", body, good)
    assert dump(redis_client) == before


def test_an_event_before_the_hook_registers_resolves_it_at_registration(
    stack: LocalStack,
) -> None:
    answer = send(stack, check_run(sha(9)), delivery="early")
    assert answer.status == "ignored"
    # a type-rejected early event is kept too, but does not resolve the hook
    send(stack, check_run(sha(9), action="created"), delivery="early-created")
    task_id = stack.control.create_task("deployer", f"deploy {sha(9)}").task_id
    stack.run_due()  # the turn parks, the registration finds the early event and resolves
    stack.run_due()
    view = stack.control.get_task(task_id)
    assert view.status == "completed", view
    # an early event kept longer than 5 minutes is gone
    stack.clock.advance(301)  # type: ignore[attr-defined]
    late = stack.control.create_task("deployer", f"deploy {sha(9)}").task_id
    stack.run_due()
    assert stack.control.get_task(late).status == "waiting_hook"


def test_entries_leave_the_index_at_expiry(stack: LocalStack) -> None:
    _, hook_id = park(stack, sha(4))
    index = keys.webhook_match("github", match_digest({"check_run.head_sha": sha(4)}))
    assert stack.client.zrange(index, 0, -1) in ([hook_id.encode()], [hook_id])
    assert isinstance(stack.clock, FakeClock)
    stack.clock.advance(601)
    assert send(stack, check_run(sha(4)), delivery="late").status == "ignored"
    # the shape is gone at once (the lookup drops shapes past their latest expiry); the match
    # index key carries a TTL of the hook's life, so it goes by itself too
    assert stack.client.zcard(keys.webhook_shapes("github")) == 0
    assert 0 < stack.client.pttl(index) <= 600_000


def test_stale_and_future_deliveries_write_nothing(
    stack: LocalStack, redis_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stripe signs a timestamp: 10 minutes old or ahead fails, with the right signature."""
    from factorial_aws.webhooks.schemes import stripe

    secret = "whsec_stale_test"
    monkeypatch.setenv("FACTORIAL_WEBHOOK_SECRET_STRIPE", secret)
    body = body_of({"id": "evt_1", "type": "payment_intent.succeeded", "data": {}})
    now = int(stack.clock.now().timestamp())
    before = dump(redis_client)
    for ts in (now - 600, now + 600):
        headers = {"Stripe-Signature": stripe.sign(secret, body, ts)}
        with pytest.raises(InvalidSignatureError):
            stack.control.deliver_webhook("stripe", body, headers)
    assert dump(redis_client) == before
    fresh = {"Stripe-Signature": stripe.sign(secret, body, now - 200)}
    assert stack.control.deliver_webhook("stripe", body, fresh).status == "ignored"


def test_hooks_resolved_or_cancelled_elsewhere_leave_the_index_at_the_next_lookup(
    stack: LocalStack,
) -> None:
    from factorial_aws.core import ids
    from tests.webhooks.apps import SECRET

    _, hook_a = park(stack, sha(11))
    task_b, _ = park(stack, sha(11))
    # a resolved by its per-hook URL (signed by GitHub), b's task cancelled
    event = check_run(sha(11))
    body = body_of(event)
    signed = stack.control.signed_sources(body, github_headers(body))
    assert signed == ("github",)
    token = ids.hook_token(SECRET, hook_a, 1)
    assert stack.control.resolve_hook(hook_a, event, token, signed_by=signed).outcome == "resolved"
    stack.control.cancel_task(task_b)
    index = keys.webhook_match("github", match_digest({"check_run.head_sha": sha(11)}))
    assert stack.client.zcard(index) == 2
    assert send(stack, event, delivery="late").status == "ignored"
    assert stack.client.zcard(index) == 0


def test_a_shape_registered_after_the_read_is_not_missed(stack: LocalStack) -> None:
    from factorial_aws.store.webhooks import live_shapes, route

    shapes = live_shapes(stack.store, "github")
    assert shapes == []
    _, hook_id = park(stack, sha(12))  # registers the shape after the read above
    found = route(stack.store, "github", shapes, check_run(sha(12)), "d-race")
    assert found.outcome == "reshape"
    found = route(stack.store, "github", live_shapes(stack.store, "github"), check_run(sha(12)),
                  "d-race")  # fmt: skip
    assert found.outcome == "candidates" and found.candidates[0][0] == hook_id


def test_early_events_are_capped_per_source_oldest_dropped(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from factorial_aws.store import webhooks as store_webhooks

    monkeypatch.setattr(store_webhooks, "EARLY_CAP", 3)
    for n in range(5):
        assert send(stack, check_run(sha(100 + n)), delivery=f"e-{n}").status == "ignored"
        stack.clock.advance(1)  # type: ignore[attr-defined]
    early = keys.webhook_early("github")
    assert stack.client.zcard(early) == 3
    assert stack.client.hlen(keys.webhook_early_events("github")) == 3
    # the two oldest are gone: a hook for the first commit waits; one for the last resolves
    first_task, _ = park(stack, sha(100))
    last_task, _ = park_or_done(stack, sha(104))
    assert stack.control.get_task(first_task).status == "waiting_hook"
    stack.run_due()
    assert stack.control.get_task(last_task).status == "completed"


def park_or_done(stack: LocalStack, head_sha: str) -> tuple[str, str]:
    task_id = stack.control.create_task("deployer", f"deploy {head_sha}").task_id
    stack.run_due()
    return task_id, ""


def test_a_worker_dying_between_commit_and_registration_is_repaired_by_the_redelivery(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    import factorial_aws.runtime.runner as runner_mod

    real = runner_mod.register_sourced
    calls: list[int] = []

    def dies_once(*args: Any) -> Any:
        calls.append(len(args[3]))
        if len(calls) == 1:
            raise ConnectionError("the worker died after its commit")
        return real(*args)

    monkeypatch.setattr(runner_mod, "register_sourced", dies_once)
    task_id = stack.control.create_task("deployer", f"deploy {sha(13)}").task_id
    stack.run_due()
    assert stack.control.get_task(task_id).status == "waiting_hook"
    index = keys.webhook_match("github", match_digest({"check_run.head_sha": sha(13)}))
    assert stack.client.zcard(index) == 0  # committed, not routable yet
    stack.clock.advance(60)  # type: ignore[attr-defined]
    stack.run_due()  # the queue redelivers the message: stale, the task parked: registered again
    assert calls == [1, 1]
    assert stack.client.zcard(index) == 1
    assert send(stack, check_run(sha(13)), delivery="after-crash").status == "resolved"
    stack.run_due()
    assert stack.control.get_task(task_id).status == "completed"
