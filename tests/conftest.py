"""Shared fixtures: real Valkey servers (standalone and a one-node cluster) for store tests.

Servers are session-scoped and start only when a test asks for them; ``redis_client`` runs each
test on both kinds, flushed first. A missing server binary fails the tests (never skips them):
CI must not silently drop store coverage.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from redis.cluster import RedisCluster

from factorial_aws.testing.valkey import EmbeddedValkey, find_server_binary


def _serve(*, cluster: bool) -> Iterator[EmbeddedValkey]:
    try:
        find_server_binary()
    except RuntimeError as exc:
        pytest.fail(f"store tests need a Valkey/Redis server: {exc}", pytrace=False)
    with EmbeddedValkey(cluster=cluster) as server:
        yield server


@pytest.fixture(scope="session")
def valkey_standalone() -> Iterator[EmbeddedValkey]:
    """A standalone Valkey server for the whole session."""
    yield from _serve(cluster=False)


@pytest.fixture(scope="session")
def valkey_cluster() -> Iterator[EmbeddedValkey]:
    """A one-node Valkey cluster owning all slots (like ElastiCache Serverless)."""
    yield from _serve(cluster=True)


@pytest.fixture(params=["standalone", "cluster"], ids=["standalone", "cluster"])
def redis_client(request: pytest.FixtureRequest) -> Iterator[redis.Redis | RedisCluster]:
    """A fresh client on an emptied server; every test using it runs on both server kinds."""
    server: EmbeddedValkey = request.getfixturevalue(f"valkey_{request.param}")
    server.flush()
    client = server.client()
    try:
        yield client
    finally:
        client.close()
