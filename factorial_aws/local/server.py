"""Serve the deployed HTTP API on a local port: each request becomes the API Gateway HTTP API
(payload v2) event the Lambda function would get, handled by the same resolver.

So the dev server runs exactly the routing, validation and error mapping of the deployed API.
Loopback only by default; no IAM (the local API has no authentication), so requests from another
site are refused (see :func:`is_loopback_authority`).

The HTTP layer is the standard library's threading server, hardened: a listen backlog of
:data:`LISTEN_BACKLOG` (a burst of clients waits to be accepted instead of being reset), a thread
per connection up to :data:`MAX_CONNECTIONS` (more wait in the backlog for a free one), a
connection that sends nothing for :data:`READ_TIMEOUT_S`, or whose request has not arrived whole
:data:`REQUEST_TIMEOUT_S` after its first byte, is closed (a half-sent or trickled request holds
its thread that long, no longer), and every answer, including the server's own refusals (405 for
HEAD, OPTIONS, TRACE and unknown methods, 414 for an over-long request line, 431 for over-long or
too many headers, 400 for a malformed request), is the API's JSON error shape.
"""

from __future__ import annotations

import base64
import io
import ipaddress
import itertools
import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

ApiHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
MAX_BODY_BYTES = 1024 * 1024
#: Connections the kernel queues before the server accepts them (capped by ``somaxconn``).
LISTEN_BACKLOG = 1024
#: Connections served at once (one thread each); more wait in the backlog for a free slot.
MAX_CONNECTIONS = 512
#: Requests handed to the API at once (each on its own resolver); more wait for one.
RESOLVERS = 16
#: Seconds a connection may send nothing (while a request arrives, or between kept-alive ones).
READ_TIMEOUT_S = 10.0
#: Seconds a request (line, headers, body) has to arrive whole once its first byte has come.
REQUEST_TIMEOUT_S = 30.0
#: A connection the server closes first is still read from (and what is read dropped) for at
#: most this long and this much, so that its client reads the answer instead of a reset.
LINGER_S = 2.0
LINGER_BYTES = 64 * 1024 * 1024
#: The methods the API has routes for (the ``Allow`` header of a 405).
ALLOWED_METHODS = "GET, POST"
_ids = itertools.count(1)
log = logging.getLogger("factorial_aws.local")
_ERROR_CODES = {
    HTTPStatus.BAD_REQUEST: "invalid_request",
    HTTPStatus.METHOD_NOT_ALLOWED: "method_not_allowed",
    HTTPStatus.LENGTH_REQUIRED: "length_required",
    HTTPStatus.REQUEST_URI_TOO_LONG: "uri_too_long",
    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE: "headers_too_large",
    HTTPStatus.HTTP_VERSION_NOT_SUPPORTED: "http_version_not_supported",
}


class ResolverPool:
    """An :data:`ApiHandler` serving each request on a resolver that serves nothing else
    meanwhile: at most ``size`` requests at once, on resolvers built on first need by ``build``
    and reused (the most recently used first: it is warm). A request that finds every resolver
    busy waits for one. Resolvers keep the request they serve on themselves (see
    :class:`factorial_aws.aws.api.FactorialApi`), so one resolver per request isolates them."""

    def __init__(self, build: Callable[[], Any], size: int = RESOLVERS) -> None:
        self._build = build
        self._idle: list[Any] = []
        self._built = 0
        self._size = size
        self._cond = threading.Condition()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        resolver = self._take()
        try:
            result: dict[str, Any] = resolver.resolve(event, context)
        finally:
            with self._cond:
                self._idle.append(resolver)
                self._cond.notify()
        return result

    def _take(self) -> Any:
        with self._cond:
            while not self._idle and self._built >= self._size:
                self._cond.wait()
            if self._idle:
                return self._idle.pop()
            self._built += 1
        try:
            return self._build()
        except BaseException:
            with self._cond:
                self._built -= 1
                self._cond.notify()
            raise

    @property
    def built(self) -> int:
        """How many resolvers exist."""
        with self._cond:
            return self._built


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


def is_loopback_authority(authority: str) -> bool:
    """Whether ``authority`` (a ``Host`` header, or the host of an ``Origin``) names this machine.

    Accepted: a loopback IP address in its standard form (IPv4 ``127.0.0.0/8`` as four decimal
    parts, IPv6 ``[::1]`` in brackets, or an IPv4-mapped ``[::ffff:127.0.0.1]``) or the name
    ``localhost`` (any letter case), each with an optional port. Everything else is refused,
    including names that merely start like one (``127.0.0.1.attacker.example``,
    ``localhost.attacker.example``, ``localhost.`` with its trailing dot), user info
    (``user@127.0.0.1``), and the other spellings of an address (``0x7f.1``, ``2130706433``,
    ``127.1``, zero-padded parts): a browser writes an address in its standard form, so only a
    name someone controls would arrive any other way.
    """
    name, port = _split_authority(authority)
    if name is None or (port is not None and not _is_port(port)):
        return False
    if name.startswith("["):
        if not name.endswith("]") or "%" in name:
            return False
        try:
            v6 = ipaddress.IPv6Address(name[1:-1])
        except ValueError:
            return False
        mapped = v6.ipv4_mapped
        return v6.is_loopback or (mapped is not None and mapped.is_loopback)
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.IPv4Address(name).is_loopback
    except ValueError:
        return False


def _split_authority(authority: str) -> tuple[str | None, str | None]:
    """``(host, port or None)``; host None when the text cannot be a ``host[:port]``."""
    text = authority.strip()
    if not text or not text.isascii() or any(c in text for c in "@/?#\\ \t"):
        return None, None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None, None
        host, rest = text[: end + 1], text[end + 1 :]
        if not rest:
            return host, None
        return (host, rest[1:]) if rest.startswith(":") else (None, None)
    host, colon, port = text.partition(":")
    return host, (port if colon else None)


def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and 0 < len(text) <= 5 and int(text) <= 65535


def is_local_origin(origin: str) -> bool:
    """Whether an ``Origin`` header is a page served from this machine (``http`` or ``https``
    and a loopback authority, see :func:`is_loopback_authority`); ``null`` is not."""
    scheme, sep, authority = origin.strip().partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return False
    return is_loopback_authority(authority)


def listens_on_loopback(host: str) -> bool:
    """Whether a listen address is this machine only (then ``Host`` is checked too)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _error_json(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


class _DeadlineReader(io.RawIOBase):
    """A connection's input: each read waits at most ``read_timeout_s``, and once a request's
    first byte has come, the whole request must arrive within ``request_timeout_s`` (a client
    trickling a byte at a time cannot hold its thread for ever). :attr:`deadline` is reset
    (None) before each request."""

    def __init__(self, sock: socket.socket, read_timeout_s: float, request_timeout_s: float):
        super().__init__()
        self._sock = sock
        self._read_timeout_s = read_timeout_s
        self._request_timeout_s = request_timeout_s
        self.deadline: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        wait = self._read_timeout_s
        if self.deadline is not None:
            wait = min(wait, self.deadline - time.monotonic())
            if wait <= 0:
                raise TimeoutError("the request did not arrive in time")
        self._sock.settimeout(wait)
        try:
            n = self._sock.recv_into(buffer)
        finally:
            self._sock.settimeout(self._read_timeout_s)  # what writes wait
        if n and self.deadline is None:
            self.deadline = time.monotonic() + self._request_timeout_s
        return n


class _Handler(BaseHTTPRequestHandler):
    server: ApiServer
    protocol_version = "HTTP/1.1"
    timeout = READ_TIMEOUT_S  # every read and write of the connection (StreamRequestHandler)
    disable_nagle_algorithm = True  # else a kept-alive client waits ~40 ms per reply (delayed ACK)

    def setup(self) -> None:
        """Read the connection through a :class:`_DeadlineReader`."""
        super().setup()
        self.rfile.close()  # the plain one (it would keep the socket open)
        self._input = _DeadlineReader(
            self.connection, float(self.timeout or READ_TIMEOUT_S), self.server.request_timeout_s
        )
        self.rfile = io.BufferedReader(self._input)

    def handle_one_request(self) -> None:
        """One request, with its own deadline (counted from its first byte)."""
        self._input.deadline = None
        super().handle_one_request()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the dev server prints what matters itself."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's own refusals (malformed request, over-long line or headers,
        unknown method) in the API's JSON error shape instead of an HTML page."""
        status = HTTPStatus(code)
        if status == HTTPStatus.NOT_IMPLEMENTED:  # its only 501: a method with no do_ handler
            self._not_allowed()
            return
        fallback = "invalid_request" if status < 500 else "internal_error"
        self._refuse(status, _ERROR_CODES.get(status, fallback), message or status.phrase)

    def _refuse(self, status: int, code: str, message: str) -> None:
        if self.request_version in ("", "HTTP/0.9"):
            self.request_version = "HTTP/1.1"  # always answer with a status line and headers
        headers = {"content-type": "application/json", "connection": "close"}
        if status == HTTPStatus.METHOD_NOT_ALLOWED:
            headers["allow"] = ALLOWED_METHODS
        self.close_connection = True
        self._reply(status, headers, _error_json(code, message))

    def _refusal(self) -> tuple[int, str, str] | None:
        """Why this request is not served: a bad length, or a request from another site.

        The dev server has no authentication, so a web page the developer visits must not be
        able to use it: a foreign ``Origin`` or a non-loopback ``Host`` (DNS rebinding) is
        refused, and a body must say it is JSON (a cross-site "simple" request cannot).
        """
        if self.request_version == "HTTP/0.9":
            return 505, "http_version_not_supported", "send HTTP/1.0 or HTTP/1.1"
        if self.headers.get("Transfer-Encoding") is not None:
            return 411, "length_required", "send the body with a Content-Length (not chunked)"
        lengths = set(self.headers.get_all("Content-Length") or ["0"])
        raw = lengths.pop().strip() if len(lengths) == 1 else ""
        if not (raw.isascii() and raw.isdigit()):
            return 400, "invalid_request", "Content-Length must be one non-negative integer"
        if int(raw) > MAX_BODY_BYTES:
            return 413, "payload_too_large", "body over 1 MiB"
        origin = self.headers.get("Origin")
        if origin is not None and not is_local_origin(origin):
            return 403, "forbidden", "cross-site requests are not served by the dev server"
        host = self.headers.get("Host")
        if self.server.loopback_only and host is not None and not is_loopback_authority(host):
            return 403, "forbidden", f"Host {host[:100]!r} is not this machine"
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if (
            int(raw)
            and content_type != "application/json"
            and not self._hook_page_form(content_type)
        ):
            return 415, "unsupported_media_type", "send the body as application/json"
        return None

    def _hook_page_form(self, content_type: str) -> bool:
        """The hook page's plain form post (no JavaScript): only to a resolve, which the token
        in the form authorizes; and any body to a webhook source, which its signature
        authorizes (a cross-site form cannot sign one; Slack's payloads are form-encoded)."""
        path = urlsplit(self.path).path
        if self.command == "POST" and path.startswith("/webhooks/"):
            return True
        return (
            content_type == "application/x-www-form-urlencoded"
            and self.command == "POST"
            and path.startswith("/hooks/")
            and path.endswith("/resolve")
        )

    def _serve(self) -> None:
        refusal = self._refusal()
        if refusal is not None:
            self._refuse(*refusal)
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if len(body) < length:  # the client closed mid-body
            self.close_connection = True
            return
        event = to_event(
            self.command, self.path, dict(self.headers.items()), body, self.client_address[0]
        )
        try:
            result = self.server.api(event, None)
        except Exception:
            log.exception("the API failed on %s %s", self.command, urlsplit(self.path).path)
            request_id = event["requestContext"]["requestId"]
            self._refuse(500, "internal_error", f"internal error (request {request_id})")
            return
        raw = result.get("body") or ""
        payload = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode()
        headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        self._reply(int(result.get("statusCode", 200)), headers, payload)

    def _not_allowed(self) -> None:
        message = f"{self.command or 'this method'} is not served; use {ALLOWED_METHODS}"
        self._refuse(405, "method_not_allowed", message)

    def _reply(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        self.send_response(status)
        for k, v in headers.items():
            if k not in ("content-length", "connection"):
                self.send_header(k, v)
        if headers.get("connection") == "close":
            self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve
    do_HEAD = do_OPTIONS = do_TRACE = do_CONNECT = _not_allowed


class ApiServer(ThreadingHTTPServer):
    """A threading HTTP server handing every request to ``api(event, context)``."""

    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(
        self,
        api: ApiHandler,
        host: str = "127.0.0.1",
        port: int = 8000,
        *,
        max_connections: int = MAX_CONNECTIONS,
        read_timeout_s: float = READ_TIMEOUT_S,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
    ) -> None:
        if ":" in host:
            self.address_family = socket.AF_INET6
        handler = type("Handler", (_Handler,), {"timeout": read_timeout_s})
        super().__init__((host, port), handler)
        self.api = api
        self.request_timeout_s = request_timeout_s
        self.loopback_only = listens_on_loopback(host)
        self._slots = threading.BoundedSemaphore(max_connections)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the server."""
        host, port = str(self.server_address[0]), self.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve the connection on its own thread once a slot is free (until then, this and the
        connections behind it wait in the listen backlog: slower, never refused)."""
        while not self._slots.acquire(timeout=0.2):
            if self._stopping.is_set():
                self.shutdown_request(request)
                return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """One connection's thread; frees its slot when the connection ends."""
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def shutdown_request(self, request: Any) -> None:
        """Close a connection gracefully: stop sending, then read what the client still sends
        (at most :data:`LINGER_BYTES`, for :data:`LINGER_S`) before closing, so that closing
        with unread input (a refused request's body) does not reset the connection and lose
        the answer just sent."""
        try:
            request.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + LINGER_S
            drained = 0
            while drained < LINGER_BYTES and (left := deadline - time.monotonic()) > 0:
                request.settimeout(left)
                chunk = request.recv(65536)
                if not chunk:
                    break
                drained += len(chunk)
        except OSError:
            pass
        self.close_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away is not an error; anything else is logged, not printed."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        log.exception("serving a connection from %s failed", client_address)

    def shutdown(self) -> None:
        """Stop the serving loop (also while it waits for a free slot)."""
        self._stopping.set()
        super().shutdown()

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
