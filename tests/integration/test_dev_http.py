"""The dev server's HTTP layer (factorial_aws/local/server.py) under crowds, slow clients and
malformed requests: no connection reset, no thread held for ever, JSON for every refusal.

The server here hands each request to an echo API (what it got: method, path, one header, body),
so these tests see the HTTP layer alone; tests/integration/test_dev_concurrency.py drives the
real API through ``DevServer``.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from factorial_aws.local.server import ApiServer, ResolverPool

CLIENT_TIMEOUT_S = 60.0


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    answer = {
        "method": event["requestContext"]["http"]["method"],
        "path": event["rawPath"],
        "query": event["rawQueryString"],
        "who": event["headers"].get("x-who"),
        "body": event["body"],
    }
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(answer),
    }


@pytest.fixture
def server() -> Iterator[ApiServer]:
    s = ApiServer(echo, "127.0.0.1", 0).start()
    yield s
    s.stop()


def port_of(server: ApiServer) -> int:
    return int(server.server_address[1])


def exchange(port: int, raw: bytes, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """Send ``raw`` on a new connection; the answer's status, headers and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT_S) as sock:
        sock.sendall(raw)
        answer = http.client.HTTPResponse(sock, method=method)
        answer.begin()
        body = answer.read()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, body


def assert_json_error(answer: tuple[int, dict[str, str], bytes], status: int, code: str) -> None:
    got, headers, body = answer
    assert got == status, (got, body)
    assert headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["code"] == code and error["message"], error


def test_200_clients_at_once_each_get_their_own_answer(server: ApiServer) -> None:
    port, n = port_of(server), 200
    start = threading.Barrier(n)
    answers: dict[int, Any] = {}

    def client(i: int) -> None:
        start.wait()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT_S)
            body = json.dumps({"i": i})
            conn.request(
                "POST",
                f"/c/{i}?q={i}",
                body=body,
                headers={"Content-Type": "application/json", "X-Who": str(i)},
            )
            answer = conn.getresponse()
            answers[i] = (answer.status, json.loads(answer.read()))
            conn.close()
        except Exception as exc:
            answers[i] = exc

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    failures = {i: a for i, a in answers.items() if isinstance(a, Exception)}
    assert not failures, f"{len(failures)} of {n} clients failed: {list(failures.values())[:3]}"
    for i, (status, echoed) in answers.items():
        assert status == 200
        expected = {
            "method": "POST",
            "path": f"/c/{i}",
            "query": f"q={i}",
            "who": str(i),
            "body": json.dumps({"i": i}),
        }
        assert echoed == expected


def test_half_sent_requests_do_not_hold_back_a_whole_one(server: ApiServer) -> None:
    port = port_of(server)
    half_sent = [
        b"POST /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n",  # no blank line
        b"POST /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n{",  # a body that never comes
        b"GET /ta",  # half a request line
        b"",  # connected, nothing sent
    ]
    held = []
    for i in range(50):
        sock = socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT_S)
        sock.sendall(half_sent[i % len(half_sent)])
        held.append(sock)
    try:
        status, _, body = exchange(port, b"GET /whole HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert (status, json.loads(body)["path"]) == (200, "/whole")
        # answered while every half-sent request is still waiting (the server closed none)
        for sock in held:
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(1)
    finally:
        for sock in held:
            sock.close()


def test_a_silent_connection_is_closed_after_the_read_timeout() -> None:
    server = ApiServer(echo, "127.0.0.1", 0, read_timeout_s=0.2).start()
    try:
        with socket.create_connection(
            ("127.0.0.1", port_of(server)), timeout=CLIENT_TIMEOUT_S
        ) as sock:
            sock.sendall(
                b"POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: 5\r\n\r\n{"
            )
            assert sock.recv(100) == b""  # closed by the server, without an answer
    finally:
        server.stop()


def test_a_trickled_request_is_closed_at_its_deadline() -> None:
    """A byte every 50 ms never trips the read timeout; the request's deadline ends it."""
    server = ApiServer(echo, "127.0.0.1", 0, read_timeout_s=5, request_timeout_s=0.5).start()
    closed = False
    try:
        with socket.create_connection(
            ("127.0.0.1", port_of(server)), timeout=CLIENT_TIMEOUT_S
        ) as sock:
            sock.sendall(b"GET /slow HTTP/1.1\r\n")
            for _ in range(400):  # at most ~20 s, then the test fails
                try:
                    sock.sendall(b"X")
                    sock.setblocking(False)
                    closed = sock.recv(1) == b""
                except BlockingIOError:
                    pass
                except OSError:  # reset: closed too
                    closed = True
                finally:
                    sock.setblocking(True)
                if closed:
                    break
                time.sleep(0.05)
        assert closed, "the server kept reading a request trickled byte by byte"
        # and a whole request is still served
        raw = b"GET /whole HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        assert exchange(port_of(server), raw)[0] == 200
    finally:
        server.stop()


def test_connections_over_the_limit_wait_for_a_free_slot_and_are_then_served() -> None:
    server = ApiServer(echo, "127.0.0.1", 0, max_connections=2).start()
    port = port_of(server)
    held = [
        socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT_S) for _ in range(2)
    ]
    for sock in held:  # each holds its slot: its thread waits for the rest of its request
        sock.sendall(b"GET /slow HTTP/1.1\r\n")
    answers: list[Any] = []
    late = threading.Thread(
        target=lambda: answers.append(
            exchange(port, b"GET /late HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        )
    )
    try:
        late.start()  # accepted by the kernel, waits in the backlog (not refused, not reset)
        held.pop().close()  # a slot frees when its connection ends
        late.join(CLIENT_TIMEOUT_S)
        ((status, _, body),) = answers
        assert (status, json.loads(body)["path"]) == (200, "/late")
    finally:
        for sock in held:
            sock.close()
        server.stop()


def test_a_refused_body_does_not_reset_the_connection_before_the_answer(
    server: ApiServer,
) -> None:
    # over the 1 MiB cap: refused before it is read; 8 MB is more than the socket buffers hold,
    # so the client is still sending when the server has answered
    body = b"{" + b" " * (8 * 1024 * 1024)
    raw = (
        b"POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    for _ in range(5):
        assert_json_error(exchange(port_of(server), raw), 413, "payload_too_large")


LONG = b"x" * 70_000


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"OPTIONS /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 405, "method_not_allowed"),
        (b"TRACE /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 405, "method_not_allowed"),
        (b"CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 405, "method_not_allowed"),
        (b"BREW /pot HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 405, "method_not_allowed"),
        (b"GET /" + LONG + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 414, "uri_too_long"),
        (b"GET / HTTP/1.1\r\nX-Long: " + LONG + b"\r\n\r\n", 431, "headers_too_large"),
        (b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 150 + b"\r\n", 431, "headers_too_large"),
        (b"HELLO\r\n\r\n", 400, "invalid_request"),
        (b"GET / HTTP/1.1 extra\r\n\r\n", 400, "invalid_request"),
        (b"GET /\r\n\r\n", 505, "http_version_not_supported"),  # HTTP/0.9
        (b"GET / HTTP/2.0\r\n\r\n", 505, "http_version_not_supported"),
        (
            b"POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
            411,
            "length_required",
        ),
        (
            b"POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
            400,
            "invalid_request",
        ),
        (
            b"POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: \xd9\xa2\r\n\r\n{}",
            400,
            "invalid_request",
        ),  # an Arabic-Indic 2
    ],
    ids=[
        "options",
        "trace",
        "connect",
        "unknown",
        "long-line",
        "long-header",
        "many-headers",
        "garbage",
        "four-words",
        "http-0.9",
        "http-2",
        "chunked",
        "two-lengths",
        "non-ascii-len",
    ],
)
def test_every_refusal_is_the_json_error_shape(
    server: ApiServer, raw: bytes, status: int, code: str
) -> None:
    answer = exchange(port_of(server), raw)
    assert_json_error(answer, status, code)
    if status == 405:
        assert answer[1]["allow"] == "GET, POST"


def test_head_gets_a_405_with_headers_and_no_body(server: ApiServer) -> None:
    status, headers, body = exchange(
        port_of(server), b"HEAD /tasks HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", method="HEAD"
    )
    assert (status, headers["content-type"], headers["allow"], body) == (
        405,
        "application/json",
        "GET, POST",
        b"",
    )
    assert int(headers["content-length"]) > 0  # the size the JSON error would have


def test_a_kept_alive_connection_serves_request_after_request(server: ApiServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port_of(server), timeout=CLIENT_TIMEOUT_S)
    try:
        for i in range(5):
            conn.request("GET", f"/k/{i}", headers={"X-Who": str(i)})
            answer = conn.getresponse()
            assert json.loads(answer.read())["who"] == str(i)
    finally:
        conn.close()


def test_an_api_that_raises_is_answered_500_in_the_error_shape() -> None:
    def broken(event: dict[str, Any], context: Any) -> dict[str, Any]:
        raise RuntimeError("boom")

    server = ApiServer(broken, "127.0.0.1", 0).start()
    try:
        raw = b"GET /tasks/t-1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        assert_json_error(exchange(port_of(server), raw), 500, "internal_error")
    finally:
        server.stop()


def test_the_resolver_pool_gives_each_request_a_resolver_of_its_own() -> None:
    lock = threading.Lock()
    busy: Counter[int] = Counter()
    overlaps: list[int] = []
    gate = threading.Event()

    class Resolver:
        def __init__(self) -> None:
            self.id = id(self)

        def resolve(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
            with lock:
                busy[self.id] += 1
                if busy[self.id] > 1:
                    overlaps.append(self.id)
            gate.wait(CLIENT_TIMEOUT_S)  # hold it while the other requests arrive
            with lock:
                busy[self.id] -= 1
            return {"statusCode": 200, "body": event["rawPath"]}

    pool = ResolverPool(Resolver, size=4)
    results: dict[int, Any] = {}

    def request(i: int) -> None:
        results[i] = pool({"rawPath": f"/{i}"}, None)["body"]

    threads = [threading.Thread(target=request, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join()
    assert results == {i: f"/{i}" for i in range(40)}
    assert overlaps == []  # no resolver ever served two requests at once
    assert 1 <= pool.built <= 4
