"""Fixtures for the handler tests: moto (SQS, Scheduler, Secrets Manager), the embedded Valkey
(``redis_client``: standalone and cluster), the OpenAI-compatible stub server reached through the
real ``openai`` client, a fake clock, and the wiring installed as the Lambda container's."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from moto import mock_aws

from factorial_aws.agents.agent import App
from factorial_aws.aws import clients, wiring
from factorial_aws.aws.observability import Observer
from factorial_aws.aws.settings import Settings
from factorial_aws.testing import FakeClock, StubOpenAIServer, text_reply
from tests.functional.harness import Harness, Rule, SqsSpy

REGION = "us-east-1"
SECRET = "functional-hook-secret"
GROUP = "factorial-wakes"
ROLE_ARN = "arn:aws:iam::123456789012:role/factorial-scheduler"
PUBLIC_URL = "https://api.example.test"
MODEL_KEY = "sk-functional-test-key-0123456789"
#: Every observer of these tests logs here (Powertools configures a service's logger once).
LOG = io.StringIO()

HarnessFactory = Callable[..., Harness]


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Fake credentials and region; no config or credentials file is read."""
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def moto(aws_env: None) -> Iterator[None]:
    clients.reset()
    with mock_aws():
        yield
    clients.reset()


@pytest.fixture
def aws_resources(moto: None) -> dict[str, str]:
    """The turn queue, the wake schedule group and the hook secret, in moto."""
    sqs = clients.sqs()
    url = sqs.create_queue(QueueName="factorial-turns")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    clients.scheduler().create_schedule_group(Name=GROUP)
    secret_arn = clients.secretsmanager().create_secret(
        Name="factorial-hook-secret", SecretString=SECRET
    )["ARN"]
    return {"queue_url": url, "queue_arn": arn, "secret_arn": secret_arn}


class _Rules:
    """The stub model's reply rule, settable per test."""

    def __init__(self) -> None:
        self.rule: Rule = lambda body: text_reply("no rule set")

    def __call__(self, body: dict[str, Any]) -> Any:
        return self.rule(body)


@pytest.fixture
def stub() -> Iterator[tuple[StubOpenAIServer, _Rules]]:
    rules = _Rules()
    # like providers that validate their own ids: 9 letters and digits, anything else refused
    with StubOpenAIServer(
        default_reply=rules, provider_call_ids=True, reject_foreign_call_ids=True
    ) as server:
        yield server, rules


def settings_for(resources: dict[str, str], base_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "app": "tests.functional.apps:app",
        "redis_url": "redis://127.0.0.1:1",  # unused: the client is injected
        "turn_queue_url": resources["queue_url"],
        "turn_queue_arn": resources["queue_arn"],
        "scheduler_group": GROUP,
        "scheduler_role_arn": ROLE_ARN,
        "hook_secret_arn": resources["secret_arn"],
        "public_base_url": PUBLIC_URL,
        "openai_base_url": base_url,
        "openai_api_key": MODEL_KEY,
        "require_iam": False,
        "service_name": "factorial-functional",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def make_harness(
    redis_client: Any,
    aws_resources: dict[str, str],
    stub: tuple[StubOpenAIServer, _Rules],
) -> Iterator[HarnessFactory]:
    server, rules = stub
    built: list[wiring.Wiring] = []

    def make(
        app: App,
        rule: Rule,
        *,
        clock: FakeClock | None = None,
        observer: Observer | None = None,
        **overrides: Any,
    ) -> Harness:
        clock = clock or FakeClock()
        settings = settings_for(aws_resources, server.base_url, **overrides)
        spy = SqsSpy(clients.sqs())
        container = wiring.build(
            settings,
            app=app,
            clock=clock,
            fake_time=True,
            redis_client=redis_client,
            sqs_client=spy,
            scheduler_client=clients.scheduler(),
            secrets_client=clients.secretsmanager(),
            observer=observer or Observer(settings.service_name, clock=clock, stream=LOG),
        )
        built.append(container)
        wiring.install(container)
        rules.rule = rule
        return Harness(
            wiring=container,
            sqs=spy,
            scheduler=clients.scheduler(),
            queue_url=aws_resources["queue_url"],
            queue_arn=aws_resources["queue_arn"],
            clock=clock,
            secret=SECRET.encode(),
        )

    yield make
    for container in built:
        container.close()
    wiring.install(None)
