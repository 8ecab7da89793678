"""SecretCache against moto: one API call per secret per TTL."""

from __future__ import annotations

from typing import Any

import pytest

from factorial_aws.aws import clients
from factorial_aws.aws.secrets import SecretCache, SecretValueError
from factorial_aws.testing import FakeClock


@pytest.fixture
def client(moto: None) -> Any:
    secrets_client = clients.secretsmanager()
    secrets_client.create_secret(Name="hook-key", SecretString="k1")
    secrets_client.create_secret(Name="model-key", SecretString="sk-1")
    return secrets_client


def _count_reads(client: Any) -> list[str]:
    """The SecretId of every GetSecretValue the client actually sends."""
    reads: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        reads.append(params["SecretId"])

    client.meta.events.register("provide-client-params.secrets-manager.GetSecretValue", record)
    return reads


def test_values_are_cached_per_secret(client: Any) -> None:
    reads = _count_reads(client)
    cache = SecretCache(client, clock=FakeClock())
    assert cache.get("hook-key") == "k1"
    assert cache.get("hook-key") == "k1"
    assert cache.get("model-key") == "sk-1"
    assert cache.get("model-key") == "sk-1"
    assert reads == ["hook-key", "model-key"]


def test_values_are_read_again_after_the_ttl(client: Any) -> None:
    reads = _count_reads(client)
    clock = FakeClock()
    cache = SecretCache(client, clock=clock, ttl_s=300)
    assert cache.get("hook-key") == "k1"
    client.put_secret_value(SecretId="hook-key", SecretString="k2")
    clock.advance(299)
    assert cache.get("hook-key") == "k1"
    clock.advance(1)
    assert cache.get("hook-key") == "k2"
    assert cache.get("hook-key") == "k2"
    assert reads == ["hook-key", "hook-key"]


def test_invalidate_forces_a_read(client: Any) -> None:
    reads = _count_reads(client)
    cache = SecretCache(client, clock=FakeClock())
    cache.get("hook-key")
    cache.invalidate("hook-key")
    cache.get("hook-key")
    assert len(reads) == 2


def test_binary_secret_is_decoded(client: Any) -> None:
    client.create_secret(Name="bin", SecretBinary=b"bytes-key")
    client.create_secret(Name="not-text", SecretBinary=b"\xff\xfe")
    cache = SecretCache(client, clock=FakeClock())
    assert cache.get("bin") == "bytes-key"
    with pytest.raises(SecretValueError, match="not-text"):
        cache.get("not-text")


def test_a_failed_read_raises_and_is_not_cached(client: Any) -> None:
    from botocore.exceptions import ClientError

    reads = _count_reads(client)
    cache = SecretCache(client, clock=FakeClock())
    for _ in range(2):
        with pytest.raises(ClientError, match="ResourceNotFoundException"):
            cache.get("missing")
    assert reads == ["missing", "missing"]
