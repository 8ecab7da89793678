"""The commands that need no server: `init`, `dev` refusing a bad app reference, help and usage
errors, URL and settings resolution, and SigV4 signing (fake credentials, no network)."""

from __future__ import annotations

import io
import os
import re
import shlex
import socket
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from factorial_aws.aws import sigv4
from factorial_aws.aws.settings import DevSettings, SettingsError
from factorial_aws.cli import main, scaffold
from factorial_aws.cli.client import ApiClient
from factorial_aws.cli.dev import load_app
from factorial_aws.cli.errors import CliError
from factorial_aws.cli.output import Console

ROOT = Path(__file__).resolve().parents[2]
EXECUTE_API = "https://abc123defg.execute-api.eu-west-1.amazonaws.com/prod"


def cli(*args: str, cwd: Path = ROOT, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "factorial_aws", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_main(*args: str) -> tuple[int, str, str]:
    """`main(args)` in process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    status = main(list(args), Console(out=out, err=err, live=False))
    return status, out.getvalue(), err.getvalue()


# --- init ---


def test_init_scaffolds_a_project_whose_own_test_passes(tmp_path: Path) -> None:
    project = tmp_path / "refunds"
    made = cli("init", str(project), "--name", "refunds")
    assert made.returncode == 0, made.stderr
    for name in (
        "app.py",
        "tests/test_app.py",
        "template.yaml",
        "samconfig.toml",
        "README.md",
        "requirements.txt",
        "handlers/api.py",
        "handlers/turn.py",
    ):
        assert (project / name).is_file(), name
    assert 'name="refunds"' in (project / "app.py").read_text()
    template = (project / "template.yaml").read_text()
    assert "    Default: app:app\n" in template and "examples.payments" not in template
    assert 'stack_name = "refunds-dev"' in (project / "samconfig.toml").read_text()

    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "2 passed" in tested.stdout


def test_the_scaffold_installs_the_framework_into_a_fresh_venv(tmp_path: Path) -> None:
    """The install command of the scaffold's README, in a new venv: it installs factorial_aws
    (not on PyPI) from this source tree. Offline: the venv borrows this venv's packages (pip and
    the dependencies) through a path file, and pip installs with --no-deps."""
    project = tmp_path / "refunds"
    assert cli("init", str(project)).returncode == 0
    assert f"factorial-aws @ {ROOT.as_uri()}" in (project / "requirements.txt").read_text()
    readme = (project / "README.md").read_text()
    (line,) = [x for x in readme.splitlines() if x.startswith("pip install ")]
    args = shlex.split(line)[2:]
    assert args[-1] == "pytest" and args[:-1] == ["-e", str(ROOT)], line
    assert "pip install factorial-aws" not in readme

    fresh = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(fresh)], check=True)
    python = str(fresh / "bin" / "python")
    env = {"PATH": f"{fresh / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    env.update({k: v for k, v in os.environ.items() if k.startswith("PIP_")})
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True, env=env,
    ).stdout.strip()  # fmt: skip
    Path(site, "_borrowed.pth").write_text(sysconfig.get_path("purelib") + "\n")
    probe = [python, "-c", "import factorial_aws; print(factorial_aws.__file__)"]
    assert subprocess.run(probe, cwd=tmp_path, env=env, capture_output=True).returncode != 0

    installed = subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "--quiet", *args[:-1]],
        cwd=project, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr
    found = subprocess.run(probe, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert found.stdout.strip() == str(ROOT / "factorial_aws" / "__init__.py"), found.stderr
    assert (fresh / "bin" / "factorial-aws").is_file()
    tested = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "2 passed" in tested.stdout


def test_init_from_a_vcs_url_names_it_in_the_readme_and_requirements(tmp_path: Path) -> None:
    url = "git+https://example.org/factorial_aws@v0.1.0"
    status, out, _ = run_main("init", str(tmp_path / "p"), "--from", url)
    assert status == 0 and f"factorial_aws installs from {url}" in out
    assert f"pip install 'factorial-aws @ {url}' pytest" in (tmp_path / "p/README.md").read_text()
    assert f"factorial-aws @ {url}" in (tmp_path / "p/requirements.txt").read_text()


def test_init_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    status, _, err = run_main("init", str(tmp_path))
    assert status == 1
    assert err.startswith("error: dir_not_empty: ")
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    status, _, err = run_main("init", str(tmp_path / "notes.txt"))
    assert status == 1 and err.startswith("error: not_a_directory: ")


def test_init_without_the_repository_says_where_the_template_comes_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scaffold, "source_checkout", lambda: None)
    status, out, _ = run_main("init", str(tmp_path / "My Project!"))
    assert status == 0
    project = tmp_path / "My Project!"
    assert not (project / "template.yaml").exists()
    assert "## template.yaml and handlers/" in (project / "README.md").read_text()
    assert "agent 'My_Project'" in out
    assert run_main("init", str(tmp_path / "x"), "--name", "bad name")[0] == 2


# --- dev: the app reference ---


@pytest.mark.parametrize(
    ("ref", "status", "expected"),
    [
        ("no_such_module:app", 1, "error: module_not_found: no module named 'no_such_module'"),
        (
            "examples.payments.app:nope",
            1,
            "error: attribute_not_found: module 'examples.payments.app' "
            "has no attribute 'nope'; it has App examples.payments.app:app",
        ),
        (
            "examples.payments.app:payments",
            1,
            "error: not_an_app: examples.payments.app:payments is "
            "of type Agent, not a factorial_aws App",
        ),
        (
            "broken:app",
            1,
            "error: app_import_failed: importing 'broken' failed: RuntimeError: boom",
        ),
        ("not a ref", 2, "error: invalid_app_ref: 'not a ref' is not MODULE:ATTR"),
        (
            "examples.payments:app",
            1,
            "error: attribute_not_found: module 'examples.payments' has no attribute 'app'; "
            "did you mean examples.payments.app:app?",
        ),
    ],
    ids=["no-module", "no-attribute", "not-an-app", "import-fails", "malformed", "package"],
)
def test_dev_explains_a_bad_app_reference(
    tmp_path: Path, ref: str, status: int, expected: str
) -> None:
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    done = cli("dev", ref, "--port", "0", cwd=tmp_path)
    assert done.returncode == status
    assert done.stderr.startswith(expected), done.stderr
    assert "Traceback" not in done.stderr


def test_a_package_whose_app_module_is_loaded_gets_the_same_hint() -> None:
    import examples.payments.app  # noqa: F401 - now `examples.payments.app` is the module

    with pytest.raises(CliError) as raised:
        load_app("examples.payments:app", ROOT)
    assert raised.value.code == "not_an_app"
    assert raised.value.message.endswith("did you mean examples.payments.app:app?")


def test_dev_on_a_port_in_use_suggests_another(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (tmp_path / "examples").symlink_to(ROOT / "examples")
        done = cli("dev", "examples.payments.app:app", "--port", str(port), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: address_in_use: cannot serve on 127.0.0.1:{port}: ")
    assert "--port" in done.stderr and "Traceback" not in done.stderr


# --- hooks resolve: the payload is checked before anything is sent ---


def test_a_payload_file_must_exist_and_hold_a_json_object(tmp_path: Path) -> None:
    resolve = ("hooks", "resolve", "t-x.h0", "--token", "t", "--url", "http://127.0.0.1:9")
    bad = tmp_path / "payload.json"
    bad.write_text("approved: yes")
    status, _, err = run_main(*resolve, "--data-file", str(bad))
    assert status == 2 and err.startswith(f"error: invalid_json: --data-file {bad} is not JSON: ")
    status, _, err = run_main(*resolve, "--data-file", str(tmp_path / "missing.json"))
    assert status == 2 and err.startswith("error: unreadable_file: --data-file ")
    status, _, err = run_main("hooks", "resolve", "t-x.h0", "--data", "{}")
    assert status == 2 and err.startswith("error: missing_token: ")
    status, _, err = run_main("hooks", "resolve", "http://127.0.0.1:9/tasks/x", "--data", "{}")
    assert status == 2 and err.startswith("error: invalid_hook_id: ")


# --- help, usage, where requests go ---


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["dev"],
        ["run"],
        ["tasks"],
        ["tasks", "list"],
        ["tasks", "show"],
        ["tasks", "events"],
        ["tasks", "cancel"],
        ["tasks", "steer"],
        ["hooks"],
        ["hooks", "show"],
        ["hooks", "resolve"],
        ["hooks", "rotate"],
        ["init"],
    ],
    ids=lambda c: " ".join(c) or "top",
)
def test_every_command_has_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: factorial-aws {' '.join(command)}".rstrip())


def test_a_wrong_command_line_exits_2_with_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["tasks", "show"])
    assert exit_.value.code == 2
    assert "error: usage: the following arguments are required: ID" in capsys.readouterr().err


def test_tasks_list_knows_the_api_s_statuses_and_page_size() -> None:
    from factorial_aws.cli import tasks
    from factorial_aws.core.status import TaskStatus
    from factorial_aws.store import views

    assert tuple(s.value for s in TaskStatus) == tasks.STATUSES
    assert tasks.MAX_LIST_PAGE == views.MAX_TASKS_PAGE
    assert tasks.DEFAULT_LIST_PAGE == views.DEFAULT_TASKS_PAGE


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_api_url_comes_from_the_option_else_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from_env = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("FACTORIAL_API_URL", from_env)
    status, _, err = run_main("tasks", "show", "t-x")
    assert status == 1
    assert err.startswith(f"error: connection_failed: cannot reach {from_env}: ")
    assert "factorial-aws dev" in err
    given = f"http://127.0.0.1:{_closed_port()}"
    assert given in run_main("tasks", "show", "t-x", "--url", given)[2]
    monkeypatch.setenv("FACTORIAL_API_URL", "ftp://nope")
    status, _, err = run_main("tasks", "show", "t-x")
    assert status == 1 and err.startswith("error: invalid_settings: FACTORIAL_API_URL")


def test_dev_settings_read_the_api_url() -> None:
    assert DevSettings.from_env({"FACTORIAL_API_URL": EXECUTE_API}).api_url == EXECUTE_API
    assert DevSettings.from_env({}).api_url is None
    with pytest.raises(SettingsError, match="FACTORIAL_API_URL"):
        DevSettings.from_env({"FACTORIAL_API_URL": "127.0.0.1:8000"})


def test_the_turn_pool_size_comes_from_the_flag_else_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert DevSettings.from_env({"FACTORIAL_DEV_WORKERS": "3"}).workers == 3
    assert DevSettings.from_env({}).workers is None
    with pytest.raises(SettingsError, match="FACTORIAL_DEV_WORKERS must be positive"):
        DevSettings.from_env({"FACTORIAL_DEV_WORKERS": "0"})
    with pytest.raises(SystemExit) as exit_:
        main(["dev", "app:app", "--workers", "0"])
    assert exit_.value.code == 2 and "at least 1 worker" in capsys.readouterr().err
    monkeypatch.setenv("FACTORIAL_DEV_WORKERS", "many")
    status, _, err = run_main("dev", "examples.payments.app:app", "--ephemeral")
    assert status == 1 and err.startswith("error: invalid_settings: FACTORIAL_DEV_WORKERS")


def test_only_a_non_loopback_https_api_is_signed() -> None:
    assert ApiClient(EXECUTE_API).signed
    assert not ApiClient("http://127.0.0.1:8000").signed
    assert not ApiClient("https://localhost:8443").signed
    assert not ApiClient("http://agents.internal:8000").signed


# --- SigV4 ---


def _fake_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_sign_adds_a_sigv4_execute_api_signature(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fake_aws(monkeypatch, tmp_path)
    url = f"{EXECUTE_API}/tasks/t-1/events?after=1-0"
    signed = sigv4.sign("GET", url, {"Accept": "application/json"}, None, "eu-west-1")
    assert re.fullmatch(r"\d{8}T\d{6}Z", signed["X-Amz-Date"])
    auth = signed["Authorization"]
    assert re.match(
        rf"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{signed['X-Amz-Date'][:8]}/eu-west-1/"
        r"execute-api/aws4_request, SignedHeaders=[a-z;-]*host[a-z;-]*, Signature=[0-9a-f]{64}$",
        auth,
    ), auth
    assert signed["Accept"] == "application/json"
    assert "X-Amz-Security-Token" not in signed

    from botocore.credentials import Credentials

    temporary = Credentials("ASIAEXAMPLE", "secret", "session-token")
    body = b'{"agent": "payments", "input": "hi"}'
    posted = sigv4.sign(
        "POST", f"{EXECUTE_API}/tasks", {}, body, "eu-west-1", credentials=temporary
    )
    assert posted["X-Amz-Security-Token"] == "session-token"
    assert "Credential=ASIAEXAMPLE/" in posted["Authorization"]
    other = sigv4.sign(
        "POST", f"{EXECUTE_API}/tasks", {}, b"{}", "eu-west-1", credentials=temporary
    )
    assert other["Authorization"] != posted["Authorization"]  # the body is signed


def test_the_region_comes_from_the_execute_api_host_else_the_option(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fake_aws(monkeypatch, tmp_path)
    assert sigv4.region_from_url(EXECUTE_API) == "eu-west-1"
    assert sigv4.region_from_url("https://agents.example.com") is None
    headers = ApiClient(EXECUTE_API)._sign("GET", f"{EXECUTE_API}/tasks/t-1", {}, None)
    assert "/eu-west-1/execute-api/" in headers["Authorization"]
    custom = ApiClient("https://agents.example.com", region="ap-south-1")
    assert (
        "/ap-south-1/"
        in custom._sign("GET", "https://agents.example.com/x", {}, None)["Authorization"]
    )
    status, _, err = run_main("tasks", "show", "t-1", "--url", "https://agents.example.com")
    assert status == 2 and err.startswith("error: region_unknown: ")


def test_sign_without_credentials_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_aws(monkeypatch, tmp_path)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setattr(sigv4, "default_credentials", lambda: None)
    with pytest.raises(sigv4.SigningError, match="no AWS credentials"):
        sigv4.sign("GET", EXECUTE_API, {}, None, "eu-west-1")


# --- following a task ---


class ScriptedApi:
    """Answers GET /tasks/{id} with the next status of a script, and events after a cursor."""

    def __init__(self, statuses: list[str], events: list[dict[str, object]]) -> None:
        self.statuses = statuses
        self.events = events

    def get(self, route: str, query: dict[str, object] | None = None) -> dict[str, object]:
        if route.endswith("/events"):
            ids = [e["id"] for e in self.events]
            after = (query or {}).get("after")
            return {"events": self.events[ids.index(after) + 1 if after in ids else 0 :]}
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return {"task_id": "t-1", "status": status, "turn": 1}


def test_the_follower_prints_each_event_once_and_stops_when_the_task_parks() -> None:
    from factorial_aws.cli.follow import PARKED, TERMINAL, Follower

    events: list[dict[str, object]] = [
        {"id": "1-0", "kind": "created", "data": {"agent": "a"}, "at": "2026-01-01T00:00:00Z"}
    ]

    def a_turn_happens(seconds: float) -> None:  # instead of sleeping between polls
        events.append(
            {
                "id": f"2-{len(events)}",
                "kind": "model_replied",
                "at": "2026-01-01T00:00:01Z",
                "data": {"turn": len(events), "tool_calls": 0},
            }
        )

    out, err = io.StringIO(), io.StringIO()
    api = ScriptedApi(["queued", "running", "waiting_hook"], events)
    follower = Follower(api, Console(out=out, err=err, live=True), "t-1", sleep=a_turn_happens)
    task = follower.until(TERMINAL | PARKED, timeout_s=10)
    assert task["status"] == "waiting_hook"
    assert out.getvalue().splitlines() == [
        "00:00:00.000  created (agent a)",
        "00:00:01.000  turn 1: the model replied",
        "00:00:01.000  turn 2: the model replied",
    ]
    assert follower.cursor == "2-2"
    assert "t-1: running (turn 1)" in err.getvalue()  # the live line, on a terminal only
    assert err.getvalue().endswith("\r")  # and erased once the follow ends


def test_the_follower_gives_up_at_its_deadline() -> None:
    from factorial_aws.cli.follow import TERMINAL, Follower, FollowTimeout

    api = ScriptedApi(["running"], [])
    follower = Follower(api, Console(out=io.StringIO(), err=io.StringIO(), live=False), "t-1")
    with pytest.raises(FollowTimeout) as timeout:
        follower.until(TERMINAL, timeout_s=0.05)
    assert timeout.value.task["status"] == "running"
