"""The API commands against a real dev server: one `factorial-aws dev` subprocess for the module
(the payments example, stub model, embedded Valkey, a known hook secret), the CLI as subprocesses.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from factorial_aws.core.ids import hook_token

ROOT = Path(__file__).resolve().parents[2]
SECRET = b"test-secret"
HOOK_ID = re.compile(r"\bt-[a-z0-9]+\.h[0-9a-f]+\b")
APPROVE = {"approved": True, "reviewer": "ana", "comment": "ok"}


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a subprocess: ours, minus anything that would change the setup."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "FACTORIAL_REDIS_URL", "FACTORIAL_API_URL")
        and not k.endswith("_PROXY")
        and not k.endswith("_proxy")
    }
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


@dataclass
class Dev:
    url: str
    log: Path

    def cli(
        self, *args: str, stdin: str | None = None, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """`python -m factorial_aws ARGS --url <dev server>`."""
        return subprocess.run(
            [sys.executable, "-m", "factorial_aws", *args, "--url", self.url],
            cwd=ROOT,
            env=cli_env(),
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    where = tmp_path_factory.mktemp("dev")
    log = where / "dev.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "factorial_aws",
                "dev",
                "examples.payments.app:app",
                "--port",
                "0",
                "--state-dir",
                str(where / "state"),
            ],
            cwd=ROOT,
            env=cli_env(FACTORIAL_HOOK_SECRET=SECRET.decode()),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield Dev(_wait_until_serving(proc, log), log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, log.read_text()  # SIGTERM stops it cleanly
    assert "stopping" in log.read_text()


def _wait_until_serving(proc: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + 20
    url = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the dev server exited ({proc.returncode}):\n{log.read_text()}")
        if url is None:
            found = re.search(r"--url (http://127\.0\.0\.1:\d+)", log.read_text())
            url = found.group(1) if found else None
        if url is not None:
            try:
                with urllib.request.urlopen(f"{url}/openapi.json", timeout=2) as resp:
                    if resp.status == 200:
                        return url
            except OSError:
                pass
        time.sleep(0.05)
    pytest.fail(f"the dev server did not answer in time:\n{log.read_text()}")


@pytest.fixture(scope="module")
def parked(dev: Dev) -> dict[str, str]:
    """A payments task parked on its approval hook (created with `run`)."""
    done = dev.cli("run", "payments", "Pay 12.50 USD to DE89370400440532013000")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    task_id = re.search(r"task (t-[a-z0-9]+) created", out)
    hook_ids = set(HOOK_ID.findall(out))
    assert task_id and len(hook_ids) == 1, out
    (hook_id,) = hook_ids
    return {"task_id": task_id.group(1), "hook_id": hook_id, "stdout": out, "stderr": done.stderr}


def test_run_follows_the_task_until_it_parks_on_its_hook_and_shows_no_token(
    parked: dict[str, str],
) -> None:
    out = parked["stdout"]
    assert "created (agent payments)" in out
    assert "turn 1: the model asked for 1 tool call" in out
    assert f"task {parked['task_id']} is waiting on 1 hook(s)" in out
    assert "'Approve a transfer of 0.01 USD'" in out
    assert f"factorial-aws hooks show {parked['hook_id']}" in out
    token = hook_token(SECRET, parked["hook_id"], 1)
    assert token not in out and token not in parked["stderr"]


def test_hooks_show_json_has_the_payload_schema(dev: Dev, parked: dict[str, str]) -> None:
    shown = dev.cli("hooks", "show", parked["hook_id"], "--json")
    assert shown.returncode == 0, shown.stderr
    hook = json.loads(shown.stdout)
    assert (hook["hook_id"], hook["task_id"]) == (parked["hook_id"], parked["task_id"])
    assert hook["status"] == "requested"
    assert set(hook["schema"]["properties"]) == {"approved", "reviewer", "comment"}
    assert set(hook["schema"]["required"]) == {"approved", "reviewer"}
    readable = dev.cli("hooks", "show", parked["hook_id"])
    assert re.search(r"approved\s+boolean\s+yes", readable.stdout), readable.stdout


def test_resolving_with_the_right_token_completes_the_task(
    dev: Dev, parked: dict[str, str]
) -> None:
    hook_id, task_id = parked["hook_id"], parked["task_id"]
    wrong = dev.cli(
        "hooks", "resolve", hook_id, "--token", "not-the-token", "--data", json.dumps(APPROVE)
    )
    assert wrong.returncode == 1
    assert wrong.stderr.startswith("error: hook_not_found: ")

    token = hook_token(SECRET, hook_id, 1)
    resolved = dev.cli("hooks", "resolve", hook_id, "--token", token, "--data", json.dumps(APPROVE))
    assert resolved.returncode == 0, resolved.stderr
    assert f"resolved hook {hook_id} of task {task_id}" in resolved.stdout
    assert "the task resumed" in resolved.stdout

    followed = dev.cli("tasks", "events", task_id, "--follow")  # returns once the task has ended
    assert followed.returncode == 0, followed.stderr
    assert "tool send_wire -> ok: sent 1 cents to example, approved by ana" in followed.stdout
    shown = dev.cli("tasks", "show", task_id, "--json")
    assert shown.returncode == 0, shown.stderr
    task = json.loads(shown.stdout)
    assert task["status"] == "completed" and task["pending_hooks"] == []
    assert "approved by ana" in task["output"]

    again = dev.cli("hooks", "resolve", hook_id, "--token", token, "--data", json.dumps(APPROVE))
    assert again.returncode == 1 and again.stderr.startswith("error: hook_already_resolved: ")


def test_a_hook_link_carries_the_url_and_the_token_and_the_payload_can_come_on_stdin(
    dev: Dev,
) -> None:
    run = dev.cli("run", "payments", "Pay again", "--json")
    assert run.returncode == 0, run.stderr
    *events, last = [json.loads(line) for line in run.stdout.splitlines()]
    assert [e["kind"] for e in events] == ["created", "model_replied", "hook_requested"]
    assert last["status"] == "waiting_hook"
    hook_id = last["pending_hooks"][0]["hook_id"]
    link = re.search(rf"open:\s+(\S+/hooks/{re.escape(hook_id)}\?token=\S+)", dev.log.read_text())
    assert link, dev.log.read_text()

    resolved = subprocess.run(
        [sys.executable, "-m", "factorial_aws", "hooks", "resolve", link.group(1), "--json"],
        cwd=ROOT,
        env=cli_env(),
        input=json.dumps({"approved": False, "reviewer": "bo", "comment": "no"}),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert resolved.returncode == 0, resolved.stderr
    assert json.loads(resolved.stdout)["status"] == "resolved"
    followed = dev.cli("tasks", "events", last["task_id"], "--follow", "--json")
    kinds = [json.loads(line)["kind"] for line in followed.stdout.splitlines()]
    assert kinds[-1] == "completed", followed.stdout
    tool = next(
        json.loads(line) for line in followed.stdout.splitlines() if '"tool_result"' in line
    )
    assert tool["data"]["status"] == "fail" and "rejected by bo: no" in json.dumps(tool["data"])


def test_cancel_a_parked_task(dev: Dev) -> None:
    run = dev.cli(
        "run", "payments", "Pay later", "--no-follow", "--json", "--idempotency-key", "k-1"
    )
    assert run.returncode == 0, run.stderr
    task_id = json.loads(run.stdout)["task_id"]
    replay = dev.cli(
        "run", "payments", "Pay later", "--no-follow", "--json", "--idempotency-key", "k-1"
    )
    assert json.loads(replay.stdout)["task_id"] == task_id
    cancelled = dev.cli("tasks", "cancel", task_id)
    assert cancelled.returncode == 0, cancelled.stderr
    assert f"cancelled {task_id}" in cancelled.stdout
    assert f"task {task_id}: cancelled" in dev.log.read_text()  # the dev server says so too
    shown = dev.cli("tasks", "show", task_id, "--json")
    assert json.loads(shown.stdout)["status"] == "cancelled"
    steer = dev.cli("tasks", "steer", task_id, "hello?")
    assert steer.returncode == 1 and steer.stderr.startswith("error: task_finished: ")


def test_an_unknown_task_is_an_error_with_its_code(dev: Dev) -> None:
    shown = dev.cli("tasks", "show", "t-doesnotexist")
    assert shown.returncode == 1
    assert shown.stderr.startswith("error: task_not_found: ")
    assert shown.stdout == ""
    unknown_agent = dev.cli("run", "nobody", "hi")
    assert unknown_agent.returncode == 1
    assert unknown_agent.stderr.startswith("error: unknown_agent: ")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ('{"approved": tru', "error: invalid_json: --data is not JSON: "),
        ("[1, 2]", "error: invalid_json: --data: the hook payload must be a JSON object"),
    ],
    ids=["not-json", "not-an-object"],
)
def test_a_bad_payload_is_refused_before_anything_is_sent(
    dev: Dev, data: str, message: str
) -> None:
    done = dev.cli("hooks", "resolve", "t-x.h0", "--token", "t", "--data", data)
    assert done.returncode == 2
    assert done.stderr.startswith(message), done.stderr


def test_tasks_list_pages_an_owners_tasks_newest_first(dev: Dev) -> None:
    owner = "list-owner"
    ids = []
    for text in ("Pay 1", "Pay 2"):
        run = dev.cli("run", "payments", text, "--owner", owner, "--json")  # until it parks
        assert run.returncode == 0, run.stderr
        ids.append(json.loads(run.stdout.splitlines()[-1])["task_id"])
    run = dev.cli("run", "payments", "Pay 3", "--owner", owner, "--no-follow", "--json")
    ids.append(json.loads(run.stdout)["task_id"])
    assert dev.cli("tasks", "cancel", ids[2]).returncode == 0
    newest_first = ids[::-1]

    every = dev.cli("tasks", "list", "--owner", owner, "--json")
    assert every.returncode == 0, every.stderr
    page = json.loads(every.stdout)
    assert [t["task_id"] for t in page["tasks"]] == newest_first and page["next"] is None
    assert [t["status"] for t in page["tasks"]] == ["cancelled", "waiting_hook", "waiting_hook"]

    first = dev.cli("tasks", "list", "--owner", owner, "--limit", "2")
    assert first.returncode == 0, first.stderr
    header, *rows = first.stdout.splitlines()
    assert header.split() == ["TASK", "ID", "AGENT", "STATUS", "TURN", "CREATED", "PARENT"]
    assert [r.split()[0] for r in rows] == newest_first[:2]
    assert rows[1].split()[1:4] == ["payments", "waiting_hook", "1"]
    more = re.search(r"more: add --after (\S+) \(or --all\)", first.stderr)
    assert more, first.stderr
    rest = dev.cli("tasks", "list", "--owner", owner, "--limit", "2", "--after", more.group(1))
    assert [r.split()[0] for r in rest.stdout.splitlines()[1:]] == newest_first[2:]
    assert "more:" not in rest.stderr

    paged = dev.cli("tasks", "list", "--owner", owner, "--limit", "1", "--all", "--json")
    assert json.loads(paged.stdout) == {"tasks": page["tasks"], "next": None}
    parked = dev.cli("tasks", "list", "--owner", owner, "--status", "waiting_hook", "--json")
    assert [t["task_id"] for t in json.loads(parked.stdout)["tasks"]] == newest_first[1:]
    none = dev.cli("tasks", "list", "--owner", owner, "--status", "completed")
    assert none.returncode == 0 and none.stdout == ""
    assert none.stderr.strip() == "no tasks with status completed"
    assert json.loads(dev.cli("tasks", "list", "--owner", "nobody", "--json").stdout) == {
        "tasks": [],
        "next": None,
    }


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        ((), 1, "error: invalid_input: owner_id is required"),
        (("--owner", "o", "--after", "yesterday"), 1, "error: invalid_input: after="),
        (("--owner", "o", "--limit", "0"), 2, "error: usage: argument --limit: '0' must be"),
        (("--owner", "o", "--status", "done"), 2, "error: usage: argument --status: invalid"),
    ],
    ids=["no-owner", "bad-cursor", "bad-limit", "bad-status"],
)
def test_tasks_list_errors(dev: Dev, args: tuple[str, ...], status: int, message: str) -> None:
    done = dev.cli("tasks", "list", *args)
    assert done.returncode == status
    assert message in done.stderr, done.stderr
