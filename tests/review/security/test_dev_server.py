"""The dev server (no auth, loopback) answers cross-site requests: a web page the developer
visits can create tasks (spending the developer's model key) with a no-preflight fetch whose body
has no Content-Type, or through DNS rebinding (no Host check). A negative Content-Length makes a
handler thread read until the client closes (unbounded, bypassing the 1 MiB cap)."""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any

from factorial_aws import App
from factorial_aws.aws.api import build_api
from factorial_aws.local.server import ApiServer
from tests.functional.apps import agent, pay, pay_rule
from tests.functional.conftest import HarnessFactory


def _server(make_harness: HarnessFactory) -> ApiServer:
    h = make_harness(App([agent("payments", pay)]), pay_rule)
    api = build_api(h.wiring.control, require_iam=False)
    return ApiServer(lambda e, c: api.resolve(e, c), "127.0.0.1", 0).start()


def test_cross_site_post_without_content_type_is_refused(make_harness: HarnessFactory) -> None:
    server = _server(make_harness)
    try:
        host, port = server.server_address[:2]
        conn = http.client.HTTPConnection(str(host), int(port), timeout=10)
        body = json.dumps({"agent": "payments", "input": "pay 42", "owner_id": "dev"})
        # what fetch(url, {method: "POST", mode: "no-cors", body: new Blob([...])}) sends
        conn.request(
            "POST",
            "/tasks",
            body=body,
            headers={"Origin": "https://evil.example", "Host": "rebind.evil.example:8000"},
        )
        answer: Any = conn.getresponse()
        text = answer.read().decode()
        conn.close()
        assert answer.status >= 400, f"cross-site request created a task: {text}"
    finally:
        server.stop()


def test_negative_content_length_is_answered_without_waiting_for_eof(
    make_harness: HarnessFactory,
) -> None:
    server = _server(make_harness)
    try:
        host, port = server.server_address[:2]
        sock = socket.create_connection((str(host), int(port)), timeout=2)
        sock.sendall(b"POST /tasks HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n{}")
        try:
            first = sock.recv(100)
        except TimeoutError:
            first = b""
            sock.settimeout(10)
            sock.shutdown(socket.SHUT_WR)  # only now does the server answer
            while sock.recv(4096):
                pass
        sock.close()
        assert first.startswith(b"HTTP/1.1 4"), "the server is still reading the body to EOF"
    finally:
        server.stop()
