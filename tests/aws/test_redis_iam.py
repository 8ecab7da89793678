"""ElastiCache IAM tokens, and the redis client options of a deployed stack."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
from redis.cluster import RedisCluster

from factorial_aws.aws.redis_iam import IamTokenProvider, connect_from_settings, redis_options
from factorial_aws.aws.settings import Settings
from factorial_aws.testing import FakeClock
from factorial_aws.testing.valkey import EmbeddedValkey

REGION = "us-east-1"


def _credentials(counter: list[int] | None = None) -> Any:
    from botocore.credentials import Credentials

    class Counting(Credentials):  # type: ignore[misc]
        """Counts signings (the signer freezes the credentials once per token)."""

        def get_frozen_credentials(self) -> Any:
            if counter is not None:
                counter.append(1)
            return super().get_frozen_credentials()

    return Counting("AKIDTESTING", "secret-testing", "session-token")


def _settings(url: str = "rediss://cache:6379", iam_user: str | None = "app-user") -> Settings:
    return Settings(
        app="app:app",
        redis_url=url,
        turn_queue_url="https://sqs.us-east-1.amazonaws.com/1/turns",
        turn_queue_arn="arn:aws:sqs:us-east-1:1:turns",
        scheduler_group="wakes",
        scheduler_role_arn="arn:aws:iam::1:role/wakes",
        hook_secret_arn="hook",
        public_base_url="https://api.example.com",
        redis_iam_user=iam_user,
        redis_cache_name="My-Cache" if iam_user else None,
    )


def test_token_is_a_presigned_connect_request_without_scheme() -> None:
    provider = IamTokenProvider("app-user", "My-Cache", REGION, _credentials(), FakeClock())
    user, token = provider.get_credentials()
    assert user == "app-user"
    assert not token.startswith(("https://", "http://"))
    parts = urlsplit(f"https://{token}")
    assert parts.hostname == "my-cache"
    assert parts.path == "/"
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    assert query["Action"] == "connect"
    assert query["User"] == "app-user"
    assert query["ResourceType"] == "ServerlessCache"
    assert query["X-Amz-Expires"] == "900"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Credential"].startswith("AKIDTESTING/")
    assert query["X-Amz-Credential"].endswith(f"/{REGION}/elasticache/aws4_request")
    assert query["X-Amz-Security-Token"] == "session-token"
    assert len(query["X-Amz-Signature"]) == 64
    int(query["X-Amz-Signature"], 16)


def test_token_is_reused_for_ten_minutes() -> None:
    signings: list[int] = []
    clock = FakeClock()
    provider = IamTokenProvider("app-user", "c", REGION, _credentials(signings), clock)
    first = provider.get_credentials()
    clock.advance(599)
    assert provider.get_credentials() is first or provider.get_credentials() == first
    assert len(signings) == 1
    clock.advance(1)
    provider.get_credentials()
    assert len(signings) == 2
    clock.advance(300)
    provider.get_credentials()
    assert len(signings) == 2


def test_async_credentials_match() -> None:
    import asyncio

    provider = IamTokenProvider("u", "c", REGION, _credentials(), FakeClock())
    assert asyncio.run(provider.get_credentials_async()) == provider.get_credentials()


def test_missing_credentials_fail_clearly() -> None:
    with pytest.raises(ValueError, match="credentials"):
        IamTokenProvider("u", "c", REGION, None, FakeClock())


def test_options_without_iam() -> None:
    options = redis_options(_settings(iam_user=None))
    assert "credential_provider" not in options
    assert options["socket_connect_timeout"] == 1
    assert options["socket_timeout"] == 3
    assert options["health_check_interval"] == 30
    assert options["retry"].get_retries() == 3


def test_options_with_iam_use_the_given_credentials() -> None:
    options = redis_options(_settings(), credentials=_credentials(), region="eu-west-1")
    provider = options["credential_provider"]
    assert isinstance(provider, IamTokenProvider)
    assert (provider.user_id, provider.cache_name, provider.region) == (
        "app-user",
        "my-cache",
        "eu-west-1",
    )


def test_options_with_iam_default_to_the_boto3_session(aws_env: None) -> None:
    provider = redis_options(_settings())["credential_provider"]
    assert provider.region == REGION
    _, token = provider.get_credentials()
    assert "X-Amz-Credential=testing%2F" in token


def _close(client: redis.Redis | RedisCluster) -> None:
    """Close ``client`` and its sockets. redis-py's ``RedisCluster.from_url`` (used by
    ``store.client.connect``) gives its nodes pools that ``close()`` does not disconnect, which
    would leak a socket (a ResourceWarning, an error under filterwarnings=error)."""
    if isinstance(client, RedisCluster):
        client.disconnect_connection_pools()
    client.close()


@pytest.fixture(params=["standalone", "cluster"])
def server(request: pytest.FixtureRequest) -> EmbeddedValkey:
    valkey: EmbeddedValkey = request.getfixturevalue(f"valkey_{request.param}")
    valkey.flush()
    return valkey


def test_connect_from_settings_passes_the_options_to_either_client(server: EmbeddedValkey) -> None:
    client = connect_from_settings(_settings(server.url, iam_user=None))
    try:
        assert isinstance(client, RedisCluster if server.cluster else redis.Redis)
        assert client.ping()
        # RedisCluster retries at the cluster level (its node connections get none).
        if isinstance(client, RedisCluster):
            assert client.retry.get_retries() == 3
            node = client.get_default_node()
            assert node.redis_connection is not None
            kwargs = node.redis_connection.connection_pool.connection_kwargs
        else:
            kwargs = client.connection_pool.connection_kwargs
            assert kwargs["retry"].get_retries() == 3
        assert kwargs["socket_timeout"] == 3
        assert kwargs["socket_connect_timeout"] == 1
        # RedisCluster drops health_check_interval from node connections (redis-py filters the
        # node kwargs); the standalone client keeps it.
        assert kwargs.get("health_check_interval") == (None if server.cluster else 30)
    finally:
        _close(client)


@pytest.fixture
def acl_user(server: EmbeddedValkey) -> Iterator[EmbeddedValkey]:
    """An ACL user ``app-user`` that accepts any password (the token is checked by AWS only)."""
    admin = redis.Redis.from_url(server.url)
    admin.acl_setuser("app-user", enabled=True, nopass=True, keys=["*"], commands=["+@all"])
    try:
        yield server
    finally:
        admin.acl_deluser("app-user")
        admin.close()


def test_connections_authenticate_with_the_iam_provider(acl_user: EmbeddedValkey) -> None:
    signings: list[int] = []
    settings = _settings(acl_user.url)  # IAM over plain TCP: only for this local check
    client = connect_from_settings(
        settings, credentials=_credentials(signings), region=REGION, clock=FakeClock()
    )
    try:
        assert isinstance(client, RedisCluster if acl_user.cluster else redis.Redis)
        assert client.acl_whoami() == "app-user"
        assert client.set("{t:1}:k", "v")
        # One token, minted for the probe and reused by every connection since.
        assert signings == [1]
    finally:
        _close(client)
