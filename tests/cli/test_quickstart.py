"""The README's Quickstart, as written: its app.py in a fresh directory, `factorial-aws dev app:app`
with the built-in stub model, then the commands it shows, with the link the dev server printed."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

from tests.cli.test_dev_durable import LINK, Dev, env, start, wait_for

ROOT = Path(__file__).resolve().parents[2]
BIN = ".venv/bin/factorial-aws "


def quickstart() -> tuple[str, list[list[str]]]:
    """The Quickstart's app.py and its commands (after ``factorial-aws``), in order."""
    section = ROOT.joinpath("README.md").read_text().split("## Quickstart", 1)[1].split("\n## ")[0]
    app = re.search(r"```python\n# app.py\n(.*?)```", section, re.S)
    commands = re.search(r"```sh\n(.*?)```", section, re.S)
    assert app and commands
    lines = [line.split("  #")[0].strip() for line in commands.group(1).splitlines()]
    return app.group(1), [shlex.split(x[len(BIN) :]) for x in lines if x.startswith(BIN)]


def cli(dev: Dev, cwd: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "factorial_aws", *args, "--url", dev.url],
        cwd=cwd,
        env=env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_quickstart_runs_as_written_and_its_output_makes_sense(tmp_path: Path) -> None:
    source, commands = quickstart()
    (tmp_path / "app.py").write_text(source)
    serve, run, resolve, show = commands
    assert serve == ["dev", "app:app"]
    dev = start(tmp_path, "app:app")
    try:
        ran = cli(dev, tmp_path, run)
        assert ran.returncode == 0, ran.stderr
        assert "Approve 12.50 USD" in ran.stdout  # the stub took the amount from the message
        task_id = re.search(r"task (t-[a-z0-9]+) created", ran.stdout)
        assert task_id
        link = wait_for("the hook link", lambda: (m := LINK.search(dev.text())) and m.group(1))
        assert resolve[:3] == ["hooks", "resolve", "<link>"]
        resolved = cli(dev, tmp_path, [*resolve[:2], link, *resolve[3:]])
        assert resolved.returncode == 0, resolved.stderr
        assert show == ["tasks", "show", "<task-id>"]
        wait_for("completion", lambda: f"task {task_id.group(1)}: completed" in dev.text())
        shown = cli(dev, tmp_path, ["tasks", "show", task_id.group(1), "--json"])
        task = json.loads(shown.stdout)
        assert task["status"] == "completed"
        assert task["output"] == "Done. sent 1250 to DE89370400440532013000"
    finally:
        dev.stop()
