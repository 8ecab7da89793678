"""``factorial-aws dev`` started as a user starts it (a subprocess): 200 clients at once are all
accepted (none reset) and each gets a JSON answer about its own request; a DNS-rebinding Host or
Origin gets 403.

Half the clients create a task (each its own idempotency key, owner and amount), half read a task
that does not exist (each its own id): creates must all return distinct tasks, reads must each
name their own id in the 404.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from factorial_aws.core import ids

ROOT = Path(__file__).resolve().parents[2]
APP_REF = "examples.payments.app:app"
CLIENTS = 200
TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def dev_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp_path = tmp_path_factory.mktemp("dev")
    log = tmp_path / "dev.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "FACTORIAL_"))}
    env["PYTHONPATH"] = str(ROOT)
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "factorial_aws", "dev", APP_REF, "--port", "0"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield _serving(proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _serving(proc: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the dev server exited ({proc.returncode}):\n{log.read_text()}")
        found = re.search(r"serving \S+ on (http://127\.0\.0\.1:\d+)", log.read_text())
        if found:
            try:
                with urllib.request.urlopen(f"{found.group(1)}/openapi.json", timeout=5):
                    return found.group(1)
            except OSError:
                pass
        time.sleep(0.05)
    pytest.fail(f"the dev server did not answer in time:\n{log.read_text()}")


def test_200_clients_at_once_are_all_served_with_their_own_answer(dev_url: str) -> None:
    port = int(dev_url.rsplit(":", 1)[1])
    gate = threading.Barrier(CLIENTS)
    missing = [ids.new_root_task_id() for _ in range(CLIENTS)]
    answers: dict[int, Any] = {}

    def client(i: int) -> None:
        gate.wait()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
            if i % 2 == 0:
                body = {
                    "agent": "payments",
                    "input": f"Pay {i}.00 USD to DE89370400440532013000",
                    "owner_id": f"crowd-{i}",
                }
                headers = {"Content-Type": "application/json", "Idempotency-Key": f"crowd-{i}"}
                conn.request("POST", "/tasks", body=json.dumps(body), headers=headers)
            else:
                conn.request("GET", f"/tasks/{missing[i]}")
            answer = conn.getresponse()
            answers[i] = (answer.status, json.loads(answer.read()))
            conn.close()
        except Exception as exc:  # a reset, a timeout, a body that is not JSON
            answers[i] = exc

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    failed = {i: a for i, a in answers.items() if isinstance(a, Exception)}
    assert not failed, f"{len(failed)} of {CLIENTS} clients failed: {list(failed.values())[:3]}"
    created = [answers[i] for i in range(0, CLIENTS, 2)]
    assert all(status == 201 for status, _ in created), created[:3]
    assert len({a["task_id"] for _, a in created}) == CLIENTS // 2
    for i in range(1, CLIENTS, 2):
        status, answer = answers[i]
        assert (status, answer["error"]["code"]) == (404, "task_not_found"), answer
        assert missing[i] in answer["error"]["message"], (missing[i], answer)


def test_a_rebinding_host_or_origin_is_refused(dev_url: str) -> None:
    port = int(dev_url.rsplit(":", 1)[1])
    rebinding = "127.0.0.1.attacker.example"
    for headers in (
        {"Host": f"{rebinding}:{port}"},
        {"Host": f"127.0.0.1:{port}", "Origin": f"http://{rebinding}:{port}"},
    ):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
        conn.putrequest("GET", "/tasks?owner_id=crowd-0", skip_host=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        answer = conn.getresponse()
        status, body = answer.status, json.loads(answer.read())
        conn.close()
        assert (status, body["error"]["code"]) == (403, "forbidden"), (headers, body)
