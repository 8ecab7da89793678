"""The cache user's ACL (template.yaml ``CacheUser.AccessString``) is enough for everything the
functions do and refuses the rest.

Every test here connects as a Valkey user with exactly the template's access string (through
``factorial_aws.store.client.connect``, as the functions do), on a standalone server and on a
one-node cluster. Valkey checks ACLs for the commands a Lua script runs too, so the workload
(create, turns with a hook, resolve, rotate, steer, cancel, events, list, a schedule repaired by
the sweep, a lost message re-sent, a hook expired, a finished tree given its TTL and unlisted)
covers every script's ``redis.call``. The server's ACL log must stay empty: a refusal a client
swallows would show there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster

from factorial_aws import App
from factorial_aws.runtime.dispatch import schedule_name
from factorial_aws.store import views
from factorial_aws.store.base import StoreContext
from factorial_aws.store.client import RedisClient, connect
from factorial_aws.store.tasks import create_task
from factorial_aws.testing.valkey import EmbeddedValkey
from tests.functional.apps import agent, nap, pay, pay_or_nap_rule
from tests.functional.conftest import GROUP, HarnessFactory
from tests.functional.harness import Harness
from tests.infra.cache_acl import access_string, acl_user, close, denials


@pytest.fixture(params=["standalone", "cluster"], ids=["standalone", "cluster"])
def acl_server(request: pytest.FixtureRequest) -> Iterator[EmbeddedValkey]:
    """A shared server of either kind, emptied, with the template's cache user on it."""
    server: EmbeddedValkey = request.getfixturevalue(f"valkey_{request.param}")
    server.flush()
    with acl_user(server) as url:
        server.acl_url = url  # type: ignore[attr-defined]
        yield server


@pytest.fixture
def redis_client(acl_server: EmbeddedValkey) -> Iterator[RedisClient]:
    """The store's client, logged in as the template's cache user (the harness wires it in)."""
    client = connect(acl_server.acl_url)  # type: ignore[attr-defined]
    try:
        yield client
    finally:
        close(client)


def test_the_access_string_is_narrow() -> None:
    rules = access_string().split()
    assert rules[:4] == ["on", "~fa:*", "resetchannels", "-@all"]
    assert all(r.startswith("+") and "@" not in r for r in rules[4:]), rules


def _pay_flow(h: Harness) -> str:
    """Create, a turn that requests a hook, describe, rotate, resolve, finish, read events."""
    task_id = h.create("payments", "pay 42")
    assert h.run_turns() == 1
    (pending,) = h.task(task_id)["pending_hooks"]
    hook_id = pending["hook_id"]
    assert h.http("GET", f"/hooks/{hook_id}").status == 200
    rotated = h.http("POST", f"/hooks/{hook_id}/rotate", {"revoke_previous": True})
    assert rotated.status == 200, rotated.text
    answer = h.resolve(hook_id, {"approved": True, "reviewer": "b"}, token=rotated.json()["token"])
    assert answer.status == 200, answer.text
    h.run_turns()
    assert h.task(task_id)["output"] == "done: paid 42"
    events = h.http("GET", f"/tasks/{task_id}/events", query={"limit": "500"})
    assert events.status == 200 and events.json()["events"][0]["kind"] == "created"
    listed = h.http("GET", "/tasks")
    assert listed.status == 200 and task_id in [t["task_id"] for t in listed.json()["tasks"]]
    return task_id


def test_the_workload_runs_as_the_cache_user(
    make_harness: HarnessFactory, acl_server: EmbeddedValkey, redis_client: RedisClient
) -> None:
    app = App([agent("payments", pay), agent("napper", nap)])
    # a TTL under the sweep's unlisting lead: a finished tree leaves the owner index at once
    h = make_harness(app, pay_or_nap_rule, require_iam=True, task_ttl_s=300)
    paid = _pay_flow(h)

    # a hook left alone expires through the sweep
    expiring = h.create("payments", "pay 7")
    h.run_turns()
    h.clock.advance(601)
    swept = [h.sweep()]
    assert swept[-1]["expired"] == 1
    h.run_turns()
    assert h.task(expiring)["status"] == "completed"

    # a 2 h sleep: a schedule, lost; the sweep wakes the task. Another is steered, then cancelled
    sleeper, cancelled = h.create("napper", "nap"), h.create("napper", "nap too")
    h.run_turns()
    wait_id = h.wiring.control.get_task(sleeper).wait_id
    assert wait_id is not None
    h.scheduler.delete_schedule(Name=schedule_name(wait_id), GroupName=GROUP)
    steered = h.http("POST", f"/tasks/{cancelled}/steer", {"text": "hurry"})
    assert steered.status == 202, steered.text
    assert h.http("POST", f"/tasks/{cancelled}/cancel").status == 200

    # a lost turn message: the sweep re-sends it once its grace has passed
    lost = h.create("payments", "pay 9")
    for message in h.receive():
        h.sqs.delete_message(QueueUrl=h.queue_url, ReceiptHandle=message["ReceiptHandle"])
    h.clock.advance(hours=2)
    swept.append(report := h.sweep())
    assert report["woke"] == 1 and report["redispatched"] >= 1, report
    h.run_turns()
    assert h.task(sleeper)["status"] == "completed"
    assert h.task(lost)["status"] == "waiting_hook"

    # finished trees get their TTL and leave the owner index
    swept.append(h.sweep())
    ended = {paid, expiring, sleeper, cancelled}
    assert sum(r["trees_expiring"] for r in swept) == len(ended)
    listed = [t["task_id"] for t in h.http("GET", "/tasks").json()["tasks"]]
    assert paid not in listed and lost in listed
    assert not h.failures

    # deployed, scripts read the server's clock (TIME) rather than a test's: one transition so
    server_time = StoreContext(redis_client)
    created = create_task(server_time, "payments", "pay 1")
    assert views.get_task(server_time, created.task_id) is not None
    assert denials(acl_server) == []


def test_commands_and_keys_outside_the_acl_are_refused(redis_client: RedisClient) -> None:
    node: Any = redis_client
    if isinstance(redis_client, RedisCluster):
        node = redis_client.get_default_node().redis_connection
    refused = [("FLUSHALL",), ("KEYS", "*"), ("CONFIG", "GET", "maxmemory"), ("SCRIPT", "FLUSH")]
    for command in [*refused, ("ACL", "LIST"), ("CLIENT", "LIST"), ("SCAN", "0")]:
        with pytest.raises(redis.exceptions.NoPermissionError):
            node.execute_command(*command)
    with pytest.raises(redis.exceptions.NoPermissionError):
        redis_client.get("other:key")  # a key outside fa:*
    with pytest.raises(redis.exceptions.NoPermissionError):
        redis_client.eval("return redis.call('FLUSHALL')", 0)  # EVAL itself is not granted
    with pytest.raises(redis.exceptions.NoPermissionError):
        redis_client.publish("fa:x", "y")
    assert redis_client.set("fa:acl-probe", "1")  # a granted command on a granted key works


def test_the_webhook_routing_runs_as_the_cache_user(
    acl_server: EmbeddedValkey, redis_client: RedisClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every webhook script's commands: an early event kept (one dropped over a cap of 1), a
    registration that finds it, a routed delivery, its record, a replay."""
    from factorial_aws.store import webhooks as store_webhooks
    from tests.webhooks.apps import GITHUB_SECRET, run_webhook_life

    monkeypatch.setenv("FACTORIAL_WEBHOOK_SECRET_GITHUB", GITHUB_SECRET)
    monkeypatch.setattr(store_webhooks, "EARLY_CAP", 1)
    run_webhook_life(redis_client)
    assert denials(acl_server) == []
