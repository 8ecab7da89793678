"""The dev server (no auth, loopback) answers cross-site requests: a web page the developer
visits can create tasks (spending the developer's model key) with a no-preflight fetch whose body
has no Content-Type, or through DNS rebinding (no Host check; later, a check that took any Host
beginning with ``127.``, so ``127.0.0.1.attacker.example`` listed, read and cancelled tasks). A negative Content-Length makes a
handler thread read until the client closes (unbounded, bypassing the 1 MiB cap)."""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any

import pytest

from factorial_aws import App
from factorial_aws.aws.api import build_api
from factorial_aws.local.server import ApiServer, is_local_origin, is_loopback_authority
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


# --- the Host / Origin guard: loopback addresses and exactly localhost --------------------------

ALLOWED_HOSTS = [
    "127.0.0.1",
    "127.0.0.1:8000",
    "127.5.6.7:1",
    "localhost",
    "localhost:8000",
    "LOCALHOST:8000",  # names are case-insensitive; nobody else can own this one
    "[::1]",
    "[::1]:8000",
    "[::ffff:127.0.0.1]:8000",
]
REFUSED_HOSTS = [
    "127.0.0.1.attacker.example",  # DNS rebinding: a name an attacker controls
    "127.0.0.1.attacker.example:8000",
    "127.attacker.example",
    "localhost.attacker.example",
    "localhost.",  # trailing dot: refused, a browser never sends it for localhost
    "127.0.0.1.",
    "user@127.0.0.1",
    "attacker.example@127.0.0.1:8000",
    "0x7f.1",  # other spellings of 127.0.0.1: a browser normalises them, so refused
    "0x7f000001",
    "2130706433",
    "127.1",
    "0127.0.0.1",
    "::1",  # IPv6 without brackets is not a Host
    "[::1",
    "[::1]x",
    "[fe80::1%lo]",
    "[::2]:8000",
    "10.0.0.1",
    "127.0.0.1:80:80",
    "127.0.0.1:",
    "127.0.0.1:99999",
    "127.0.0.1:\uff18\uff10",  # full-width digits
    "127.0.0.1/evil",
    "",
]


@pytest.mark.parametrize("host", ALLOWED_HOSTS)
def test_loopback_names_are_this_machine(host: str) -> None:
    assert is_loopback_authority(host)
    assert is_local_origin(f"http://{host}")


@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_other_names_are_not(host: str) -> None:
    assert not is_loopback_authority(host)
    assert not is_local_origin(f"http://{host}")


@pytest.mark.parametrize(
    "origin", ["null", "file://", "ftp://127.0.0.1", "http://127.0.0.1/path", "127.0.0.1"]
)
def test_origins_that_are_not_a_local_page_are_refused(origin: str) -> None:
    assert not is_local_origin(origin)


def _call(
    server: ApiServer, method: str, path: str, headers: dict[str, str], body: Any = None
) -> tuple[int, Any]:
    """Over a raw connection, so the Host header is exactly what the test says."""
    port = int(server.server_address[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    data = None if body is None else json.dumps(body)
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    for name, value in {"Content-Type": "application/json", **headers}.items():
        conn.putheader(name, value)
    conn.putheader("Content-Length", str(len(data or "")))
    conn.endheaders(data.encode() if data else None)
    answer = conn.getresponse()
    status, text = answer.status, answer.read().decode()
    conn.close()
    return status, json.loads(text)


def test_a_rebinding_host_cannot_list_or_read_tasks(make_harness: HarnessFactory) -> None:
    server = _server(make_harness)
    try:
        here = f"127.0.0.1:{server.server_address[1]}"
        status, created = _call(
            server,
            "POST",
            "/tasks",
            {"Host": here},
            {"agent": "payments", "input": "pay 1", "owner_id": "dev"},
        )
        assert status == 201, created
        task_id = created["task_id"]
        for good in (here, f"localhost:{server.server_address[1]}"):
            assert _call(server, "GET", f"/tasks/{task_id}", {"Host": good})[0] == 200
        for bad in ("127.0.0.1.attacker.example", "localhost.attacker.example:80", "2130706433"):
            for path in ("/tasks?owner_id=dev", f"/tasks/{task_id}"):
                status, answer = _call(server, "GET", path, {"Host": bad})
                assert status == 403, (bad, path, answer)
                assert answer["error"]["code"] == "forbidden"
                assert task_id not in json.dumps(answer)
    finally:
        server.stop()


def test_a_rebinding_origin_cannot_cancel(make_harness: HarnessFactory) -> None:
    server = _server(make_harness)
    try:
        here = f"127.0.0.1:{server.server_address[1]}"
        status, created = _call(
            server,
            "POST",
            "/tasks",
            {"Host": here},
            {"agent": "payments", "input": "pay 1", "owner_id": "dev"},
        )
        task_id = created["task_id"]
        for bad in (
            "http://127.0.0.1.attacker.example",
            "http://localhost.attacker.example:8000",
            "null",
        ):
            status, answer = _call(
                server, "POST", f"/tasks/{task_id}/cancel", {"Host": here, "Origin": bad}
            )
            assert (status, answer["error"]["code"]) == (403, "forbidden"), (bad, answer)
        assert _call(server, "GET", f"/tasks/{task_id}", {"Host": here})[1]["status"] != "cancelled"
        status, answer = _call(
            server, "POST", f"/tasks/{task_id}/cancel", {"Host": here, "Origin": f"http://{here}"}
        )
        assert status == 200 and answer["cancelled"] == [task_id], answer
    finally:
        server.stop()
