"""The Valkey test servers: both kinds serve, the cluster enforces hash slots, stop cleans up."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
import redis
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException

from factorial_aws.testing.valkey import EmbeddedValkey


def test_client_round_trips_on_the_requested_server_kind(
    redis_client: redis.Redis | RedisCluster, request: pytest.FixtureRequest
) -> None:
    redis_client.set("{t}:k", b"v")
    assert redis_client.get("{t}:k") == b"v"
    # cluster_enabled is reported in the "cluster" section (not "server") on both kinds
    cluster_enabled = redis_client.info("cluster")["cluster_enabled"]
    expected = 1 if request.node.callspec.params["redis_client"] == "cluster" else 0
    assert cluster_enabled == expected
    assert isinstance(redis_client, RedisCluster) == (expected == 1)


def test_cluster_rejects_cross_slot_script_and_accepts_one_hash_tag(
    valkey_cluster: EmbeddedValkey,
) -> None:
    client = valkey_cluster.client()
    try:
        script = client.register_script("return 1")
        with pytest.raises(RedisClusterException, match="same key slot"):
            script(keys=["a", "b"])
        assert script(keys=["{x}:a", "{x}:b"]) == 1
    finally:
        client.close()


def test_stop_kills_the_server_and_removes_its_directory() -> None:
    server = EmbeddedValkey().start()
    port, directory = server.port, server.directory
    assert directory.is_dir()
    socket.create_connection(("127.0.0.1", port), timeout=1).close()

    server.stop()
    server.stop()  # idempotent

    assert not server.is_running
    assert not directory.exists()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_importing_the_testing_package_does_not_import_redis() -> None:
    code = "import sys, factorial_aws.testing; print('redis' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert out.stdout.strip() == "False"
