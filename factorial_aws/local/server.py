"""Serve the deployed HTTP API on a local port: each request becomes the API Gateway HTTP API
(payload v2) event the Lambda function would get, handled by the same resolver.

So the dev server runs exactly the routing, validation and error mapping of the deployed API.
Loopback only by default; no IAM (the local API has no authorizer).
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

ApiHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
MAX_BODY_BYTES = 1024 * 1024
_ids = itertools.count(1)


def to_event(
    method: str, target: str, headers: dict[str, str], body: bytes, source_ip: str
) -> dict[str, Any]:
    """The API Gateway HTTP API v2 event for one request."""
    parts = urlsplit(target)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    text_body: str | None = None
    is_b64 = False
    if body:
        try:
            text_body = body.decode()
        except UnicodeDecodeError:
            text_body, is_b64 = base64.b64encode(body).decode(), True
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.path,
        "rawQueryString": parts.query,
        "headers": {k.lower(): v for k, v in headers.items()},
        "queryStringParameters": query or None,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": "localhost",
            "http": {
                "method": method,
                "path": parts.path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("User-Agent", ""),
            },
            "requestId": f"local-{next(_ids)}",
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": 0,
        },
        "body": text_body,
        "isBase64Encoded": is_b64,
    }


def _is_local(host: str | None) -> bool:
    return host in ("127.0.0.1", "localhost", "::1") or bool(host and host.startswith("127."))


class _Handler(BaseHTTPRequestHandler):
    server: ApiServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else a kept-alive client waits ~40 ms per reply (delayed ACK)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the dev server prints what matters itself."""

    def _refuse(self, status: int, code: str, message: str) -> None:
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        self._reply(status, {"content-type": "application/json"}, body)
        self.close_connection = True

    def _refusal(self) -> tuple[int, str, str] | None:
        """Why this request is not served: a bad length, or a request from another site.

        The dev server has no authentication, so a web page the developer visits must not be
        able to use it: a foreign ``Origin`` or a non-loopback ``Host`` (DNS rebinding) is
        refused, and a body must say it is JSON (a cross-site "simple" request cannot).
        """
        raw = self.headers.get("Content-Length") or "0"
        if not raw.isdigit():
            return 400, "invalid_request", "Content-Length must be a non-negative integer"
        if int(raw) > MAX_BODY_BYTES:
            return 413, "payload_too_large", "body over 1 MiB"
        origin = self.headers.get("Origin")
        if origin is not None and not _is_local(urlsplit(origin).hostname):
            return 403, "forbidden", "cross-site requests are not served by the dev server"
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]")
        if self.server.loopback_only and host and not _is_local(host):
            return 403, "forbidden", f"Host {host!r} is not this machine"
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        # a webhook sender's body is signed, so a cross-site form post cannot forge one
        signed = self.path.startswith("/webhooks/")
        if int(raw) and content_type != "application/json" and not signed:
            return 415, "unsupported_media_type", "send the body as application/json"
        return None

    def _serve(self) -> None:
        refusal = self._refusal()
        if refusal is not None:
            self._refuse(*refusal)
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        event = to_event(
            self.command, self.path, dict(self.headers.items()), body, self.client_address[0]
        )
        result = self.server.api(event, None)
        raw = result.get("body") or ""
        payload = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode()
        headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        self._reply(int(result.get("statusCode", 200)), headers, payload)

    def _reply(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        self.send_response(status)
        for k, v in headers.items():
            if k not in ("content-length", "connection"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve


class ApiServer(ThreadingHTTPServer):
    """A threading HTTP server handing every request to ``api(event, context)``."""

    daemon_threads = True

    def __init__(self, api: ApiHandler, host: str = "127.0.0.1", port: int = 8000) -> None:
        super().__init__((host, port), _Handler)
        self.api = api
        self.loopback_only = _is_local(host)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the server."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ApiServer:
        """Serve on a background thread."""
        self._thread = threading.Thread(
            target=self.serve_forever, name="factorial-api", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def json_body(result: dict[str, Any]) -> Any:
    """The decoded JSON body of a handler result (for tests)."""
    return json.loads(result.get("body") or "null")
