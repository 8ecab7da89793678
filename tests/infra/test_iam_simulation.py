"""Each function runs its real code paths with only what its role grants (tests/infra/iam_sim.py).

The roles, their statements and the functions' environments come from the SAM translation of
template.yaml, resolved to moto ARNs. Each handler is cold-started from its environment with its
role's STS session credentials and invoked as Lambda would: the API with HTTP API v2 events
(create, get, resolve a hook, cancel), the turn function with SQS batches its event source mapping
receives and deletes with the same role (turns that request a hook, read the model key and
schedule a 2-hour wait, through the real ``openai`` client against the stub server), the wake
schedules' role sending a schedule's input, and the maintenance function with a scheduled sweep
that has work (a lost turn message to re-send, a 2-hour wait whose schedule was lost). State is a
one-node cluster Valkey logged in to as the template's cache user (its ACL).

Enforced by moto here: SQS (per queue), Secrets Manager (per secret), EventBridge Scheduler
(per schedule), iam:PassRole on CreateSchedule, STS. A grant missing from the template fails
:func:`test_every_function_runs_with_only_its_role`; each grant in turn removed fails the scenario
with a denial of that action (:func:`test_each_grant_is_needed`), so the roles are also minimal.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

import handlers.api
import handlers.maintenance
import handlers.turn
from factorial_aws.aws import clients, wiring
from factorial_aws.aws.observability import Observer
from factorial_aws.aws.settings import Settings
from factorial_aws.core import ids
from factorial_aws.runtime.dispatch import schedule_name
from factorial_aws.testing import FakeClock, StubOpenAIServer
from factorial_aws.testing.valkey import HOST, EmbeddedValkey
from factorial_aws.webhooks.schemes import github
from tests.functional.apps import pay_or_nap_rule
from tests.functional.harness import LambdaContext, http_event, load_event, sqs_event
from tests.infra import iam_sim
from tests.infra.cache_acl import acl_user, close
from tests.infra.iam_sim import FUNCTIONS, Grant, Stack, admin, grants, simulated_stack

#: Grants the simulation cannot exercise, by action (or grant id), and why.
NOT_SIMULATED = {
    "logs:CreateLogStream": "written by the Lambda service with the role, not by the code",
    "logs:PutLogEvents": "written by the Lambda service with the role, not by the code",
    "ec2:CreateNetworkInterface": "VPC network interfaces are the Lambda service's",
    "ec2:DescribeNetworkInterfaces": "VPC network interfaces are the Lambda service's",
    "ec2:DescribeSubnets": "VPC network interfaces are the Lambda service's",
    "ec2:DeleteNetworkInterface": "VPC network interfaces are the Lambda service's",
    "ec2:AssignPrivateIpAddresses": "VPC network interfaces are the Lambda service's",
    "ec2:UnassignPrivateIpAddresses": "VPC network interfaces are the Lambda service's",
    "elasticache:Connect": "ElastiCache checks the IAM token; locally a password user",
    "lambda:InvokeFunction": "the sweep schedule invoking the function is not simulated",
    "SchedulerRole:sqs:SendMessage:ScheduleDeadLetterQueue.Arn": (
        "Scheduler dead-letters a delivery that failed; none fails here"
    ),
    "MaintenanceSweepRole:sqs:SendMessage:ScheduleDeadLetterQueue.Arn": (
        "Scheduler dead-letters a delivery that failed; none fails here"
    ),
}
SIMULATED_ROLES = [*FUNCTIONS.values(), "SchedulerRole"]
ENV_PREFIXES = ("FACTORIAL_", "OPENAI_", "POWERTOOLS_", "LOG_LEVEL", "AWS_")


def simulated_grants() -> list[Grant]:
    return [g for role in SIMULATED_ROLES for g in grants(role) if not _explained(g)]


def _explained(grant: Grant) -> bool:
    return grant.action in NOT_SIMULATED or grant.id in NOT_SIMULATED


@dataclass
class Simulation:
    """The three functions of one stack, each with its own container and credentials."""

    stack: Stack
    redis_url: str
    monkeypatch: pytest.MonkeyPatch
    clock: FakeClock = field(default_factory=FakeClock)
    containers: dict[str, wiring.Wiring] = field(default_factory=dict)
    _turn_sqs: Any = None

    def cold_start(self, function: str) -> wiring.Wiring:
        """Build the function's container from its template environment and role credentials
        (as :func:`wiring.container` does, with the test's clock)."""
        if function in self.containers:
            return self.containers[function]
        creds = self.stack.credentials[FUNCTIONS[function]]
        with self.monkeypatch.context() as m:
            for name in [n for n in os.environ if n.startswith(ENV_PREFIXES)]:
                m.delenv(name)
            for name, value in self.stack.environment(function, self.redis_url).items():
                m.setenv(name, value)
            m.setenv("AWS_ACCESS_KEY_ID", creds["AccessKeyId"])
            m.setenv("AWS_SECRET_ACCESS_KEY", creds["SecretAccessKey"])
            m.setenv("AWS_SESSION_TOKEN", creds["SessionToken"])
            m.setenv("AWS_REGION", iam_sim.REGION)
            m.setenv("AWS_DEFAULT_REGION", iam_sim.REGION)
            clients.reset()
            self.stack.record(clients.session())
            settings = Settings.from_env()
            observer = Observer(settings.service_name, clock=self.clock, stream=io.StringIO())
            container = wiring.build(settings, clock=self.clock, fake_time=True, observer=observer)
            clients.reset()
        self.containers[function] = container
        return container

    def http(self, method: str, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
        wiring.install(self.cold_start("ApiFunction"))
        result = handlers.api.handler(http_event(method, path, body, **kwargs), LambdaContext())
        return int(result["statusCode"]), json.loads(result.get("body") or "null")

    def create(self, agent: str, text: str) -> str:
        status, body = self.http("POST", "/tasks", {"agent": agent, "input": text})
        assert status == 201, body
        return str(body["task_id"])

    def task(self, task_id: str) -> dict[str, Any]:
        status, body = self.http("GET", f"/tasks/{task_id}")
        assert status == 200, body
        task: dict[str, Any] = body
        return task

    def turn_sqs(self) -> Any:
        """The turn role's SQS client, as the event source mapping polls with it (it checks the
        queue's attributes when the mapping is created)."""
        if self._turn_sqs is None:
            self._turn_sqs = self.stack.session("TurnFunctionRole").client("sqs")
            self._turn_sqs.get_queue_attributes(
                QueueUrl=self.stack.queue_url, AttributeNames=["All"]
            )
        return self._turn_sqs

    def run_turns(self) -> int:
        """Poll the queue like the event source mapping until it is quiet; every turn must pass."""
        sqs, handled = self.turn_sqs(), 0
        for _ in range(20):
            messages = sqs.receive_message(
                QueueUrl=self.stack.queue_url, MaxNumberOfMessages=10
            ).get("Messages", [])
            if not messages:
                return handled
            event = sqs_event([m["Body"] for m in messages], self.stack.queue_arn)
            for record, message in zip(event["Records"], messages, strict=True):
                record["messageId"] = message["MessageId"]
            wiring.install(self.cold_start("TurnFunction"))
            result = handlers.turn.handler(event, LambdaContext())
            assert result["batchItemFailures"] == [], self.stack.denials
            for message in messages:
                sqs.delete_message(
                    QueueUrl=self.stack.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
            handled += len(messages)
        raise AssertionError("the turn queue never went quiet")

    def sweep(self) -> dict[str, int]:
        wiring.install(self.cold_start("MaintenanceFunction"))
        report: dict[str, int] = handlers.maintenance.handler(
            load_event("scheduled.json"), LambdaContext()
        )
        return report

    def fire(self, task_id: str) -> None:
        """EventBridge Scheduler fires the task's wake schedule: it assumes the scheduler role
        and sends the schedule's input to the turn queue."""
        wait_id = self.containers["ApiFunction"].control.get_task(task_id).wait_id
        assert wait_id is not None
        scheduler = iam_sim.admin_session().client("scheduler")
        schedule = admin(
            lambda: scheduler.get_schedule(Name=schedule_name(wait_id), GroupName=self.stack.group)
        )
        target = schedule["Target"]
        assert target["Arn"] == self.stack.queue_arn
        assert target["RoleArn"] == self.stack.resolver.get_att("SchedulerRole.Arn")
        sqs = self.stack.session("SchedulerRole").client("sqs")
        sqs.send_message(QueueUrl=self.stack.queue_url, MessageBody=target["Input"])

    def close(self) -> None:
        wiring.install(None)
        for container in self.containers.values():
            container.close()
            close(container.store.client)


def scenario(sim: Simulation) -> None:
    """Every function's real paths, in the order a deployment runs them."""
    paid = sim.create("payments", "pay 42")
    assert sim.task(paid)["status"] == "queued"
    fired, lost_wake, cancelled = (sim.create("napper", f"nap {n}") for n in range(3))
    assert sim.run_turns() == 4  # a hook; three 2 h waits, each a schedule
    (pending,) = sim.task(paid)["pending_hooks"]
    token = ids.hook_token(iam_sim.HOOK_SECRET.encode(), pending["hook_id"], 1)
    status, body = sim.http(
        "POST",
        f"/hooks/{pending['hook_id']}/resolve",
        {"approved": True, "reviewer": "ops"},
        headers={"X-Hook-Token": token},
        caller_arn=None,
    )
    assert status == 200 and body["task_resumed"], body
    # a GitHub delivery: the API reads the source's secret (<stack>/webhooks/github) to verify it
    event = json.dumps({"action": "completed", "check_run": {"head_sha": "0" * 40}})
    status, body = sim.http(
        "POST",
        "/webhooks/github",
        raw_body=event,
        headers={"X-Hub-Signature-256": github.sign(iam_sim.GITHUB_WEBHOOK_SECRET, event.encode())},
        caller_arn=None,
    )
    assert (status, body) == (200, {"status": "ignored", "hook_ids": []}), body
    status, body = sim.http("POST", f"/tasks/{cancelled}/cancel")  # deletes its schedule
    assert status == 200, body
    sim.run_turns()
    assert sim.task(paid)["output"] == "done: paid 42"

    lost = sim.create("payments", "pay 9")  # its turn message is lost before a turn sees it
    sqs = sim.turn_sqs()
    for message in sqs.receive_message(QueueUrl=sim.stack.queue_url).get("Messages", []):
        sqs.delete_message(QueueUrl=sim.stack.queue_url, ReceiptHandle=message["ReceiptHandle"])
    sim.clock.advance(hours=2)
    sim.fire(fired)
    sim.run_turns()
    assert sim.task(fired)["status"] == "completed"
    report = sim.sweep()  # the other schedule was lost too: the sweep wakes that task
    assert report["woke"] == 1 and report["redispatched"] >= 1, report
    sim.run_turns()
    assert [sim.task(t)["status"] for t in (lost_wake, cancelled, lost)] == [
        "completed",
        "cancelled",
        "waiting_hook",
    ]


@pytest.fixture
def stub() -> Iterator[StubOpenAIServer]:
    with StubOpenAIServer(default_reply=pay_or_nap_rule) as server:
        yield server


class Runner:
    """``runner(remove=None)`` runs the scenario on a fresh stack (``remove``: one grant left
    out); ``runner.stack`` is the last stack, with its recorded denials."""

    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, valkey: EmbeddedValkey, stub: StubOpenAIServer
    ) -> None:
        self.monkeypatch, self.valkey, self.stub = monkeypatch, valkey, stub
        self.stack: Stack | None = None

    def __call__(self, remove: Grant | None = None) -> Stack:
        self.valkey.flush()
        params = {"AppImport": "tests.functional.apps:app", "ModelBaseUrl": self.stub.base_url}
        with (
            acl_user(self.valkey) as url,
            simulated_stack(
                self.monkeypatch,
                cache_host=HOST,
                cache_port=self.valkey.port,
                params=params,
                remove=remove,
            ) as stack,
        ):
            self.stack = stack
            sim = Simulation(stack, url, self.monkeypatch)
            try:
                scenario(sim)
            finally:
                sim.close()
        return stack


@pytest.fixture
def run(
    monkeypatch: pytest.MonkeyPatch, valkey_cluster: EmbeddedValkey, stub: StubOpenAIServer
) -> Iterator[Runner]:
    yield Runner(monkeypatch, valkey_cluster, stub)
    wiring.install(None)
    clients.reset()


def test_every_function_runs_with_only_its_role(run: Runner) -> None:
    stack = run()
    assert stack.denials == []


@pytest.mark.parametrize("grant", simulated_grants(), ids=lambda g: g.id)
def test_each_grant_is_needed(run: Runner, grant: Grant) -> None:
    with pytest.raises(Exception):  # noqa: B017 - the first step that needs it fails
        run(remove=grant)
    assert run.stack is not None
    assert run.stack.denied(grant.action), (grant, run.stack.denials)


def test_every_grant_is_simulated_or_explained() -> None:
    """No stale explanation: each names a grant of the template (and the sweep schedule's role,
    outside the simulation, grants only explained actions)."""
    every = [g for role in [*SIMULATED_ROLES, "MaintenanceSweepRole"] for g in grants(role)]
    named = {g.action for g in every} | {g.id for g in every}
    assert set(NOT_SIMULATED) <= named, set(NOT_SIMULATED) - named
    assert all(_explained(g) for g in grants("MaintenanceSweepRole"))
