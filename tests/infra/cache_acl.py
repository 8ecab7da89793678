"""The cache user of template.yaml on a local Valkey: a user with exactly the template's
``AccessString`` (read from the translated template, so the tests and the stack cannot drift).

ElastiCache takes the access string as Valkey ACL rules without a password (IAM authentication
supplies the credential); locally the same rules get a password instead.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis

from factorial_aws.testing.valkey import HOST, EmbeddedValkey
from tests.infra.template import cfn_template

USER = "fa-test-app"


def access_string() -> str:
    """The cache user's ``AccessString`` as the stack deploys it."""
    value: str = cfn_template()["Resources"]["CacheUser"]["Properties"]["AccessString"]
    return value


def admin(server: EmbeddedValkey) -> redis.Redis:
    """A connection to the server's one node as the ``default`` user (everything allowed)."""
    return redis.Redis(host=HOST, port=server.port)


@contextmanager
def acl_user(server: EmbeddedValkey, name: str = USER) -> Iterator[str]:
    """Create ``name`` with a random password and the template's rules; yield the URL that logs in
    as it (``redis://name:password@127.0.0.1:port``). The user and its ACL log go at exit."""
    password = secrets.token_hex(16)
    rules = access_string().split()
    with admin(server) as conn:
        conn.execute_command("ACL", "SETUSER", name, "reset", f">{password}", *rules)
        conn.execute_command("ACL", "LOG", "RESET")
    try:
        yield f"redis://{name}:{password}@{HOST}:{server.port}"
    finally:
        with admin(server) as conn:
            conn.execute_command("ACL", "DELUSER", name)
            conn.execute_command("ACL", "LOG", "RESET")


def close(client: Any) -> None:
    """Close a client of :func:`factorial_aws.store.client.connect`, sockets included: a
    ``RedisCluster.from_url`` client's ``close()`` leaves its node pools connected (redis-py 8.1)."""
    client.close()
    nodes = client.get_nodes() if hasattr(client, "get_nodes") else []
    for node in nodes:
        if node.redis_connection is not None:
            node.redis_connection.connection_pool.disconnect()


def denials(server: EmbeddedValkey, name: str = USER) -> list[dict[str, Any]]:
    """``ACL LOG`` entries of ``name``: every command or key the server refused it, even those a
    client swallowed (redis-py ignores a refused ``CLIENT SETINFO``, for one)."""
    with admin(server) as conn:
        entries: list[dict[str, Any]] = conn.acl_log()  # type: ignore[assignment]
    return [e for e in entries if e.get("username") == name]
