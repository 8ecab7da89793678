"""The HTTP client of the CLI: JSON in and out, API errors as :class:`CliError`, SigV4 when
the API is a deployed stack.

A loopback URL (the dev server) is called as is, without proxies. A non-loopback ``https://``
URL is signed with SigV4 (service ``execute-api``) using the boto3 default session's
credentials and the region of the ``*.execute-api.<region>.amazonaws.com`` host, else
``--region``, else the session's region. The public hook routes need no signature, but signing
them is harmless, so every request to such a URL is signed.
"""

from __future__ import annotations

import ipaddress
import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

from factorial_aws.cli.errors import CliError, UsageError

if TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT_S = 30.0
_USER_AGENT = "factorial-aws-cli"
_MAX_ERROR_TEXT = 300


def is_loopback(url: str) -> bool:
    """Whether ``url`` points at this machine (``localhost``, ``127.0.0.0/8``, ``::1``)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> str:
    """``url`` without a trailing slash, if it is an ``http(s)://host...`` URL.

    Raises:
        UsageError: anything else.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError("invalid_url", f"{url!r} is not an http:// or https:// URL")
    if parts.query or parts.fragment:
        raise UsageError("invalid_url", f"{url!r}: give the API's base URL, without ?query or #")
    return url.rstrip("/")


def path(*parts: str) -> str:
    """``/a/b/c`` with each part percent-encoded (ids never add path segments)."""
    return "".join("/" + quote(p, safe="") for p in parts)


@dataclass
class ApiClient:
    """Calls one API. ``region`` is used only when requests are signed."""

    base_url: str
    region: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    signed: bool = field(init=False)

    def __post_init__(self) -> None:
        self.base_url = check_url(self.base_url)
        loopback = is_loopback(self.base_url)
        self.signed = not loopback and self.base_url.startswith("https://")
        handlers: list[urllib.request.BaseHandler] = []
        if loopback:  # never send the dev server's traffic through an HTTP(S)_PROXY
            handlers.append(urllib.request.ProxyHandler({}))
        self._opener = urllib.request.build_opener(*handlers)

    @property
    def loopback(self) -> bool:
        """Whether the API runs on this machine (the dev server)."""
        return is_loopback(self.base_url)

    def get(self, route: str, query: Mapping[str, str | int | None] | None = None) -> Any:
        """``GET`` a route; the decoded JSON answer."""
        return self.request("GET", route, query=query)

    def post(self, route: str, body: Any = None, headers: Mapping[str, str] | None = None) -> Any:
        """``POST`` a JSON body to a route; the decoded JSON answer."""
        return self.request("POST", route, body=body, headers=headers)

    def request(
        self,
        method: str,
        route: str,
        *,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str | int | None] | None = None,
    ) -> Any:
        """One request; the decoded JSON answer.

        Raises:
            CliError: the API answered an error (its code and message), could not be reached,
                or answered something that is not JSON.
        """
        url = self.base_url + route
        params = {k: str(v) for k, v in (query or {}).items() if v is not None}
        if params:
            url += "?" + urlencode(params)
        data = None if body is None else json.dumps(body).encode()
        all_headers = {"Accept": "application/json", "User-Agent": _USER_AGENT, **(headers or {})}
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        if self.signed:
            all_headers = self._sign(method, url, all_headers, data)
        req = urllib.request.Request(url, data=data, method=method, headers=all_headers)  # noqa: S310 - http(s) only (check_url)
        try:
            with self._opener.open(req, timeout=self.timeout_s) as resp:
                raw: bytes = resp.read()
        except urllib.error.HTTPError as exc:
            raise self._api_error(exc.code, exc.read()) from None
        except urllib.error.URLError as exc:
            raise self._unreachable(exc.reason) from None
        except TimeoutError:
            raise CliError(
                "timeout", f"{method} {route}: no answer from {self.base_url} in {self.timeout_s}s"
            ) from None
        except OSError as exc:
            raise self._unreachable(exc) from None
        return _decode(raw, f"{method} {route}")

    def _sign(
        self, method: str, url: str, headers: dict[str, str], data: bytes | None
    ) -> dict[str, str]:
        from factorial_aws.aws import sigv4

        region = self.region or sigv4.region_from_url(self.base_url) or sigv4.default_region()
        if not region:
            raise UsageError(
                "region_unknown",
                f"cannot tell the AWS region of {self.base_url}; pass --region",
            )
        try:
            return sigv4.sign(method, url, headers, data, region)
        except sigv4.SigningError as exc:
            raise CliError("signing_failed", str(exc)) from None

    def _unreachable(self, reason: object) -> CliError:
        hint = " (is `factorial-aws dev` running? --url sets the address)" if self.loopback else ""
        return CliError("connection_failed", f"cannot reach {self.base_url}: {reason}{hint}")

    def _api_error(self, status: int, raw: bytes) -> CliError:
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        if isinstance(body, dict):
            error = body.get("error")
            if isinstance(error, dict) and isinstance(error.get("code"), str):
                return CliError(error["code"], str(error.get("message") or error["code"]))
            if isinstance(body.get("message"), str):  # API Gateway's own answers (IAM, throttling)
                return CliError(f"http_{status}", body["message"])
        text = raw.decode("utf-8", "replace").strip()[:_MAX_ERROR_TEXT]
        return CliError(f"http_{status}", text or f"the API answered HTTP {status}")


def _decode(raw: bytes, what: str) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        text = raw.decode("utf-8", "replace").strip()[:_MAX_ERROR_TEXT]
        raise CliError("bad_response", f"{what}: the answer is not JSON: {text!r}") from None
