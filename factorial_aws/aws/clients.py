"""boto3 clients, built lazily and once per container.

Creating a boto3 client costs tens of milliseconds (endpoint and model loading), so each factory
is cached for the life of the execution environment. Every client shares one botocore ``Config``:
short connect timeout, bounded read timeout, the ``standard`` retry mode. Region and credentials
come from the Lambda environment through boto3's own resolution.
"""

from __future__ import annotations

import functools
from typing import Any

CONNECT_TIMEOUT_S = 2
READ_TIMEOUT_S = 10
#: Attempts per call, the first included (botocore standard retry mode).
MAX_ATTEMPTS = 3


@functools.cache
def session() -> Any:
    """The container's boto3 session (one credential resolution, shared by every client)."""
    import boto3  # type: ignore[import-untyped, unused-ignore]

    return boto3.session.Session()


@functools.cache
def client_config() -> Any:
    """The botocore ``Config`` every client uses."""
    from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]

    return Config(
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
    )


@functools.cache
def sqs() -> Any:
    """The SQS client."""
    return session().client("sqs", config=client_config())


@functools.cache
def scheduler() -> Any:
    """The EventBridge Scheduler client."""
    return session().client("scheduler", config=client_config())


@functools.cache
def secretsmanager() -> Any:
    """The Secrets Manager client."""
    return session().client("secretsmanager", config=client_config())


def reset() -> None:
    """Forget every cached client and the session (tests; a new environment or credentials)."""
    for factory in (session, client_config, sqs, scheduler, secretsmanager):
        factory.cache_clear()
