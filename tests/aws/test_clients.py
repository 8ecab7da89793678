"""The cached boto3 client factories."""

from __future__ import annotations

from factorial_aws.aws import clients


def test_clients_are_built_once_with_the_shared_config(moto: None) -> None:
    for factory, service in (
        (clients.sqs, "sqs"),
        (clients.scheduler, "scheduler"),
        (clients.secretsmanager, "secretsmanager"),
    ):
        client = factory()
        assert factory() is client
        assert client.meta.service_model.service_name == service
        assert client.meta.region_name == "us-east-1"
        config = client.meta.config
        assert (config.connect_timeout, config.read_timeout) == (2, 10)
        assert config.retries["mode"] == "standard"
        assert config.retries["total_max_attempts"] == 3


def test_reset_builds_new_clients(moto: None) -> None:
    first = clients.sqs()
    clients.reset()
    assert clients.sqs() is not first
