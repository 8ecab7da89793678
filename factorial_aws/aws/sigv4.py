"""SigV4 request signing for the deployed HTTP API (service ``execute-api``).

The task routes and hook rotation of a deployed stack sit behind API Gateway's ``AWS_IAM``
authorization: the CLI signs each request with the caller's credentials (the boto3 default
session: environment, shared config and credentials files, SSO, instance or container role).
Signing is local: nothing here touches the network. botocore is imported lazily, so importing
this module costs nothing.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

SERVICE = "execute-api"
#: ``<api id>.execute-api.<region>.amazonaws.com`` (and ``.amazonaws.com.cn``).
_EXECUTE_API_HOST = re.compile(
    r"^[a-z0-9]+\.execute-api\.(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com(?:\.cn)?$"
)


class SigningError(Exception):
    """Signing is impossible (no credentials, no region); the message says what is missing."""


def region_from_url(url: str) -> str | None:
    """The region of an ``execute-api`` default endpoint URL, else None (a custom domain)."""
    host = (urlsplit(url).hostname or "").lower()
    match = _EXECUTE_API_HOST.match(host)
    return match.group("region") if match else None


def default_credentials() -> Any:
    """The boto3 default session's credentials, or None when none are configured."""
    import boto3  # type: ignore[import-untyped, unused-ignore]

    return boto3.session.Session().get_credentials()


def default_region() -> str | None:
    """The boto3 default session's region (``AWS_REGION``, ``AWS_DEFAULT_REGION``, the profile)."""
    import boto3  # type: ignore[import-untyped, unused-ignore]

    region: str | None = boto3.session.Session().region_name
    return region


def sign(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes | None,
    region: str,
    *,
    credentials: Any = None,
) -> dict[str, str]:
    """The headers of the request once signed: ``headers`` plus ``Authorization``,
    ``X-Amz-Date`` (and ``X-Amz-Security-Token`` for temporary credentials).

    Args:
        method: the HTTP method.
        url: the full URL, query included (it is part of the signature).
        headers: the headers to send; they are signed as given (``Host`` is taken from the URL).
        body: the request body (its SHA-256 is signed).
        region: the API's region.
        credentials: botocore credentials; the boto3 default session's when None.

    Raises:
        SigningError: no credentials could be found, or no region was given.
    """
    from botocore.auth import SigV4Auth  # type: ignore[import-untyped, unused-ignore]
    from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped, unused-ignore]

    if not region:
        raise SigningError("a region is required to sign requests")
    creds = credentials if credentials is not None else default_credentials()
    if creds is None:
        raise SigningError(
            "no AWS credentials found (configure a profile, AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY or AWS_PROFILE)"
        )
    frozen = creds.get_frozen_credentials() if hasattr(creds, "get_frozen_credentials") else creds
    request = AWSRequest(method=method.upper(), url=url, data=body or b"", headers=dict(headers))
    SigV4Auth(frozen, SERVICE, region).add_auth(request)
    return {str(k): str(v) for k, v in request.headers.items()}
