"""An OpenAI-compatible chat-completions HTTP server answering from a script, for tests and demos.

It speaks enough of the API for the ``openai`` client (and any OpenAI-compatible client) to work
unchanged against ``base_url``: ``POST /v1/chat/completions``, ``GET /v1/models``, 404 elsewhere.
It keeps connections alive like a real provider (HTTP/1.1), listens on 127.0.0.1 by default, logs
nothing, and records every request it receives.

Imports only the standard library and :mod:`factorial_aws.testing.replies` (and through it
:mod:`factorial_aws.core.records`); never ``openai``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from factorial_aws.testing.replies import (
    CallIdSequence,
    ErrorReply,
    StubReply,
    TextReply,
    ToolCallsReply,
)

if TYPE_CHECKING:
    from types import TracebackType

#: The ``created`` timestamp of the first completion; each next one adds 1 (no wall clock).
_CREATED_BASE = 1_700_000_000

#: Builds a reply from a request body when the script is empty.
DefaultReply = Callable[[dict[str, Any]], StubReply]


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request the stub received.

    Attributes:
        method: ``GET`` or ``POST``.
        path: The request path, e.g. ``/v1/chat/completions``.
        body: The decoded JSON body (``None`` for a GET or a body that is not JSON).
        authorized: Whether an ``Authorization: Bearer ...`` header was present (any key passes).
        status: The HTTP status the stub answered with.
    """

    method: str
    path: str
    body: dict[str, Any] | None
    authorized: bool
    status: int


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = True

    def __init__(self, address: tuple[str, int], stub: StubOpenAIServer) -> None:
        self.stub = stub
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet: a client that went away (e.g. after its timeout) is not an error."""

    def drop_connections(self) -> None:
        with self.sockets_lock:
            sockets = list(self.open_sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes: with Nagle on, a kept-alive client's delayed ACK
    # holds the body back ~40 ms on every reply
    disable_nagle_algorithm = True
    server: _Server
    error_content_type = "application/json"
    error_message_format = '{"error": {"message": "%(message)s", "type": "http_error"}}'

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging."""

    def do_GET(self) -> None:
        authorized = self._authorized()
        if self.path.rstrip("/") == "/v1/models":
            body = {
                "object": "list",
                "data": [{"id": "stub-model", "object": "model", "created": 0, "owned_by": "stub"}],
            }
            status = 200
        else:
            status, body = 404, _error_body(f"unknown path {self.path}", "not_found_error")
        self.server.stub._record(RecordedRequest("GET", self.path, None, authorized, status))
        self._send(status, body)

    def do_POST(self) -> None:
        authorized = self._authorized()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        body: dict[str, Any] | None
        try:
            decoded = json.loads(raw) if raw else None
        except ValueError:
            decoded = None
        body = decoded if isinstance(decoded, dict) else None
        stub = self.server.stub
        delay_s = 0.0
        if self.path.rstrip("/") != "/v1/chat/completions":
            status, answer = 404, _error_body(f"unknown path {self.path}", "not_found_error")
        elif body is None:
            status, answer = 400, _error_body("request body must be a JSON object")
        else:
            status, answer, delay_s = stub._answer(body)
        stub._record(RecordedRequest("POST", self.path, body, authorized, status))
        if delay_s > 0 and stub._stopping.wait(delay_s):
            self.close_connection = True
        self._send(status, answer)

    def _authorized(self) -> bool:
        return self.headers.get("Authorization", "").startswith("Bearer ")

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client went away, e.g. after its own timeout
            self.close_connection = True


def _error_body(message: str, type_: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "code": None, "param": None}}


#: How many requests a stub server remembers by default (:attr:`StubOpenAIServer.log`).
HISTORY = 1000


class StubOpenAIServer:
    """A scripted OpenAI-compatible server on a daemon thread.

    Each ``POST /v1/chat/completions`` pops the next scripted reply (see
    :mod:`factorial_aws.testing.replies`); when the script is empty, ``default_reply`` (if given)
    builds one from the request body, else the stub answers ``500`` with the message
    ``"stub script exhausted"``. Generated tool call ids (``call_1``, ``call_2``...) are unique over
    the server's life. Any ``Authorization: Bearer`` key is accepted; its presence is recorded.

    Like some OpenAI-compatible providers, it can issue its own id format and check it: with
    ``provider_call_ids=True`` generated ids are 9 letters and digits (``"aB3dE5gH7"``); with
    ``reject_foreign_call_ids=True`` a request whose assistant ``tool_calls`` or ``tool``
    messages carry an id this server did not issue is answered ``400`` (nothing scripted is
    consumed), as such a provider refuses a client that rewrote its ids.

    Example::

        with StubOpenAIServer([tool_calls_reply(call("add", a=1, b=2)), text_reply("3")]) as stub:
            model = OpenAIModel(api_key="sk-test", base_url=stub.base_url)
            ...
            assert stub.requests[0]["tools"][0]["function"]["name"] == "add"
    """

    def __init__(
        self,
        replies: Iterable[StubReply] = (),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        default_reply: DefaultReply | None = None,
        provider_call_ids: bool = False,
        reject_foreign_call_ids: bool = False,
        history: int | None = HISTORY,
    ) -> None:
        """Create the server (not started: use it as a context manager, or :meth:`start`).

        Args:
            replies: The initial script.
            host: The address to listen on.
            port: The port to listen on; ``0`` picks a free one.
            default_reply: Builds a reply from the request body when the script is empty.
            provider_call_ids: Generate tool call ids of 9 letters and digits.
            reject_foreign_call_ids: Answer 400 to a request that carries a tool call id this
                server did not issue.
            history: How many of the latest requests :attr:`log` and :attr:`requests` keep
                (``None``: all of them; a long-running server keeps its memory flat with a bound).
        """
        self._host = host
        self._port = port
        self._default_reply = default_reply
        self._lock = threading.Lock()
        self._script: deque[StubReply] = deque(replies)
        self._log: deque[RecordedRequest] = deque(maxlen=history)
        self._ids = CallIdSequence(alphanumeric=provider_call_ids)
        self._reject_foreign = reject_foreign_call_ids
        self._issued: set[str] = set()
        self._completions = itertools.count(1)
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- life cycle ------------------------------------------------------------------------------

    def start(self) -> StubOpenAIServer:
        """Bind and start serving on a daemon thread."""
        if self._server is not None:
            raise RuntimeError("the stub server is already running")
        self._stopping.clear()
        server = _Server((self._host, self._port), self)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections, close the socket and join every thread."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        server.shutdown()
        thread.join()
        server.drop_connections()
        server.server_close()  # joins the connection threads
        self._server = None
        self._thread = None

    def __enter__(self) -> StubOpenAIServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- inspection and scripting ----------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the server listens on."""
        if self._server is None:
            raise RuntimeError("the stub server is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """The ``base_url`` to give an OpenAI client, e.g. ``http://127.0.0.1:51234/v1``."""
        return f"http://{self._host}:{self.port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The JSON bodies of the chat-completions requests received so far, the latest
        ``history`` of them (a copy)."""
        with self._lock:
            return [
                r.body
                for r in self._log
                if r.body is not None and r.path.rstrip("/") == "/v1/chat/completions"
            ]

    @property
    def log(self) -> list[RecordedRequest]:
        """Every request received so far (the latest ``history``), with its answer status (a
        copy)."""
        with self._lock:
            return list(self._log)

    @property
    def open_connections(self) -> int:
        """How many client connections are open right now (keep-alive connections included)."""
        server = self._server
        if server is None:
            return 0
        with server.sockets_lock:
            return len(server.open_sockets)

    @property
    def remaining(self) -> int:
        """How many scripted replies are left."""
        with self._lock:
            return len(self._script)

    def enqueue(self, *replies: StubReply) -> None:
        """Append ``replies`` to the script."""
        with self._lock:
            self._script.extend(replies)

    # --- serving (called on connection threads) ---------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._log.append(request)

    @property
    def issued_call_ids(self) -> set[str]:
        """Every tool call id this server has put in a reply (a copy; kept only with
        ``reject_foreign_call_ids``)."""
        with self._lock:
            return set(self._issued)

    def _foreign_call_id(self, body: dict[str, Any]) -> str | None:
        """The first tool call id in the request's messages that this server did not issue."""
        messages = body.get("messages")
        for message in messages if isinstance(messages, list) else ():
            if not isinstance(message, dict):
                continue
            used = [message.get("tool_call_id")] if message.get("role") == "tool" else []
            for call in message.get("tool_calls") or ():
                used.append(call.get("id") if isinstance(call, dict) else None)
            with self._lock:
                foreign = [u for u in used if u not in self._issued]
            if foreign:
                return str(foreign[0])
        return None

    def _answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], float]:
        if self._reject_foreign:
            foreign = self._foreign_call_id(body)
            if foreign is not None:
                message = f"Tool call id {foreign!r} was not issued by this server"
                return 400, _error_body(message), 0.0
        with self._lock:
            reply = self._script.popleft() if self._script else None
        if reply is None:
            if self._default_reply is None:
                return 500, _error_body("stub script exhausted", "server_error"), 0.0
            try:
                reply = self._default_reply(body)
            except Exception as exc:  # noqa: BLE001 - reported to the client, not swallowed
                message = f"stub default_reply failed: {type(exc).__name__}: {exc}"
                return 500, _error_body(message, "server_error"), 0.0
        if isinstance(reply, ErrorReply):
            return reply.status, reply.body(), reply.delay_s
        return 200, self._completion(body, reply), reply.delay_s

    def _completion(
        self, body: dict[str, Any], reply: TextReply | ToolCallsReply
    ) -> dict[str, Any]:
        number = next(self._completions)
        message: dict[str, Any] = {"role": "assistant", "refusal": None}
        if isinstance(reply, TextReply):
            message["content"] = reply.content
            finish_reason = "stop"
            completion_text = reply.content
        else:
            records = [self._ids.resolve(spec) for spec in reply.calls]
            if self._reject_foreign:  # kept only when checked: a long-running stub stays flat
                with self._lock:
                    self._issued.update(r.id for r in records)
            message["content"] = reply.content
            message["tool_calls"] = [
                {
                    "id": record.id,
                    "type": "function",
                    "function": {"name": record.name, "arguments": record.arguments},
                }
                for record in records
            ]
            finish_reason = "tool_calls"
            completion_text = (reply.content or "") + "".join(r.name + r.arguments for r in records)
        if reply.usage is not None:
            prompt_tokens, completion_tokens = reply.usage.input_tokens, reply.usage.output_tokens
        else:
            prompt_tokens = _estimate_tokens(json.dumps(body.get("messages", [])))
            completion_tokens = _estimate_tokens(completion_text)
        return {
            "id": f"chatcmpl-stub-{number}",
            "object": "chat.completion",
            "created": _CREATED_BASE + number,
            "model": str(body.get("model", "stub-model")),
            "choices": [
                {"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


def _estimate_tokens(text: str) -> int:
    """About four characters a token, at least one."""
    return max(1, (len(text) + 3) // 4)
