"""Build the redis-py client: standalone or cluster mode, detected from the server.

ElastiCache Serverless is always cluster mode; a local server usually is not. ``connect(url)``
asks the server (``INFO cluster``) and returns the right client, so the same URL works on both.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import redis
from redis.cluster import RedisCluster

RedisClient: TypeAlias = "redis.Redis | RedisCluster"


def connect(url: str, **options: Any) -> RedisClient:
    """A client for ``url`` (``redis://`` or ``rediss://``), cluster-aware when the server is."""
    probe = redis.Redis.from_url(url, **options)
    try:
        info = probe.info("cluster")
    finally:
        probe.close()
    if info.get("cluster_enabled") in (1, "1"):
        return RedisCluster.from_url(url, **options)
    return redis.Redis.from_url(url, **options)


def is_cluster(client: RedisClient) -> bool:
    """Whether ``client`` talks to a cluster-mode server."""
    return isinstance(client, RedisCluster)
