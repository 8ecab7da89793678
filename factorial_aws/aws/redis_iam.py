"""ElastiCache connection: IAM authentication tokens and the redis-py client of a deployed stack.

:class:`IamTokenProvider` is a ``redis.CredentialProvider``: redis-py asks it for ``(user,
password)`` on every new connection, and it answers with a SigV4-presigned ``connect`` request
(the ElastiCache IAM token, valid 15 minutes), minted without network access and reused for 10
minutes. :func:`connect_from_settings` builds the one client a container keeps: TLS for
``rediss://``, IAM auth when configured, short connect timeout, socket timeout above the Lua time
limit, retries with jittered exponential backoff, periodic health checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from factorial_aws.core.clock import SystemClock
from factorial_aws.store.client import connect

if TYPE_CHECKING:
    from factorial_aws.aws.settings import Settings
    from factorial_aws.core.clock import Clock
    from factorial_aws.store.client import RedisClient

#: How long ElastiCache accepts a token (its maximum).
TOKEN_EXPIRES_S = 900
#: How long a minted token is reused: well inside its validity, so a connection opened with it
#: never presents an expired token.
TOKEN_REUSE_S = 600.0

SOCKET_CONNECT_TIMEOUT_S = 1.0
#: Must exceed the longest script run (ours take milliseconds; ElastiCache kills scripts at 5 s).
SOCKET_TIMEOUT_S = 3.0
#: Standalone clients only: redis-py's ``RedisCluster`` drops this option for its node pools.
HEALTH_CHECK_INTERVAL_S = 30
RETRIES = 3
BACKOFF_BASE_S = 0.05
BACKOFF_CAP_S = 0.5


class IamTokenProvider(redis.CredentialProvider):
    """ElastiCache Serverless IAM credentials: ``(user_id, token)``.

    Args:
        user_id: the ElastiCache user (IAM-enabled users have user id == user name).
        cache_name: the serverless cache name the token is signed for (lower-cased).
        region: the cache's region.
        credentials: botocore credentials (refreshable ones are frozen at each signing).
        clock: measures the token's reuse window.
    """

    def __init__(
        self,
        user_id: str,
        cache_name: str,
        region: str,
        credentials: Any,
        clock: Clock,
        *,
        reuse_s: float = TOKEN_REUSE_S,
    ) -> None:
        if not user_id or not cache_name or not region:
            raise ValueError("user_id, cache_name and region are required")
        if credentials is None:
            raise ValueError("no AWS credentials to sign the ElastiCache IAM token with")
        from botocore.hooks import HierarchicalEmitter  # type: ignore[import-untyped, unused-ignore]
        from botocore.model import ServiceId  # type: ignore[import-untyped, unused-ignore]
        from botocore.signers import RequestSigner  # type: ignore[import-untyped, unused-ignore]

        self.user_id = user_id
        self.cache_name = cache_name.lower()
        self.region = region
        self._clock = clock
        self._reuse_s = reuse_s
        # RequestSigner holds the emitter by weak reference: keep it alive with the signer.
        self._emitter = HierarchicalEmitter()
        self._signer = RequestSigner(
            ServiceId("elasticache"), region, "elasticache", "v4", credentials, self._emitter
        )
        self._token: str | None = None
        self._minted_at = 0.0

    def get_credentials(self) -> tuple[str, str]:
        """``(user_id, token)``, minting a new token when the cached one is 10 minutes old."""
        now = self._clock.monotonic()
        if self._token is None or now - self._minted_at >= self._reuse_s:
            self._token = self._mint()
            self._minted_at = now
        return self.user_id, self._token

    async def get_credentials_async(self) -> tuple[str, str]:
        """As :meth:`get_credentials` (signing is local and fast)."""
        return self.get_credentials()

    def _mint(self) -> str:
        query = urlencode(
            {"Action": "connect", "User": self.user_id, "ResourceType": "ServerlessCache"}
        )
        url: str = self._signer.generate_presigned_url(
            {
                "method": "GET",
                "url": f"https://{self.cache_name}/?{query}",
                "body": {},
                "headers": {},
                "context": {},
            },
            operation_name="connect",
            expires_in=TOKEN_EXPIRES_S,
            region_name=self.region,
        )
        return url.removeprefix("https://")


def redis_options(
    settings: Settings,
    *,
    credentials: Any = None,
    region: str | None = None,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """The redis-py client options for ``settings`` (TLS itself follows the ``rediss://`` URL).

    With ``RedisCluster`` (ElastiCache Serverless) ``retry`` drives the cluster-level retries
    (node connections get none) and ``health_check_interval`` is dropped by redis-py.

    With IAM configured, ``credentials`` and ``region`` default to the boto3 default session's
    (the Lambda execution role and ``AWS_REGION``).
    """
    options: dict[str, Any] = {
        "socket_connect_timeout": SOCKET_CONNECT_TIMEOUT_S,
        "socket_timeout": SOCKET_TIMEOUT_S,
        "retry": Retry(ExponentialWithJitterBackoff(BACKOFF_BASE_S, BACKOFF_CAP_S), RETRIES),
        "health_check_interval": HEALTH_CHECK_INTERVAL_S,
    }
    if settings.redis_iam_user is not None:
        if settings.redis_cache_name is None:
            raise ValueError("IAM authentication needs the cache name")
        if credentials is None or region is None:
            import boto3  # type: ignore[import-untyped, unused-ignore]

            session = boto3.session.Session()
            credentials = credentials if credentials is not None else session.get_credentials()
            region = region or session.region_name
        if not region:
            raise ValueError("no AWS region for the ElastiCache IAM token (set AWS_REGION)")
        options["credential_provider"] = IamTokenProvider(
            settings.redis_iam_user,
            settings.redis_cache_name,
            region,
            credentials,
            clock or SystemClock(),
        )
    return options


def connect_from_settings(
    settings: Settings,
    *,
    credentials: Any = None,
    region: str | None = None,
    clock: Clock | None = None,
) -> RedisClient:
    """The redis-py client for the stack's cache (cluster-aware, see
    :func:`factorial_aws.store.client.connect`). Build it once per container."""
    options = redis_options(settings, credentials=credentials, region=region, clock=clock)
    return connect(settings.redis_url, **options)
