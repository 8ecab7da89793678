"""Build the three functions' artifacts and print what each ships: files, unzipped and zipped size.

Modes (one run builds all three functions into a temporary directory, removed afterwards):

- default: ``sam build`` of template.yaml (``BuildMethod: makefile``: infra/lambda/Makefile runs
  infra/lambda/build.py with ``LAMBDA_PYTHON``), exactly what a deploy uploads;
- ``--make``: the same Makefile targets run directly (no SAM CLI);
- ``--smoke``: build.py with ``--no-deps --no-compile`` under this interpreter (offline, seconds):
  the package, handlers and app only, for tests/benchmarks.

``--python PATH`` (else ``$LAMBDA_PYTHON``, else ``python3.12`` on PATH) is the Lambda runtime's
Python the build needs. Zipped sizes use ``zipfile`` deflate (level 6), as ``sam package`` does.
Checks: the API and maintenance artifacts hold no ``openai``; no artifact holds tests/, docs/,
benchmarks/ or examples other than the app; sizes within Lambda's limits (250 MB unzipped).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from _bench import Row, print_table

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = {"ApiFunction": "api", "TurnFunction": "turn", "MaintenanceFunction": "maintenance"}
FORBIDDEN_TOP = ("tests", "docs", "benchmarks", "infra", ".venv", ".git")
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
MB = 1024 * 1024


def _python(arg: str | None) -> str:
    found = arg or os.environ.get("LAMBDA_PYTHON") or shutil.which("python3.12")
    if not found:
        raise SystemExit(
            "artifacts.py: no Python 3.12 (the Lambda runtime's): pass --python PATH, set "
            "LAMBDA_PYTHON, or put python3.12 on PATH (pyenv: $(pyenv prefix 3.12.1)/bin)"
        )
    return found


def _run(argv: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=900
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"artifacts.py: {argv[0]} failed ({proc.returncode})")


def build_all(mode: str, python: str | None, out: Path) -> dict[str, Path]:
    """Build every function into ``out``; ``{logical id: its artifact directory}``."""
    env = dict(os.environ, SAM_CLI_TELEMETRY="0")
    dirs = {name: out / name for name in FUNCTIONS}
    if mode == "smoke":
        for name, short in FUNCTIONS.items():
            argv = [sys.executable, str(ROOT / "infra" / "lambda" / "build.py"), short]
            _run([*argv, str(dirs[name]), "--no-deps", "--no-compile"], env)
        return dirs
    env["LAMBDA_PYTHON"] = _python(python)
    if mode == "make":
        for name in FUNCTIONS:
            makefile = str(ROOT / "infra" / "lambda" / "Makefile")
            _run(
                ["make", "-s", "-f", makefile, f"build-{name}", f"ARTIFACTS_DIR={dirs[name]}"], env
            )
        return dirs
    sam = Path(sys.executable).parent / "sam"
    argv = [str(sam) if sam.exists() else "sam", "build", "--template", str(ROOT / "template.yaml")]
    _run([*argv, "--build-dir", str(out), "--base-dir", str(ROOT)], env)
    return dirs


def measure(directory: Path, *, pyc: bool = True) -> tuple[int, int, int]:
    """(files, bytes unzipped, bytes zipped) of ``directory`` (``pyc=False``: without .pyc)."""
    files = unzipped = 0
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and (pyc or path.suffix != ".pyc"):
                files += 1
                unzipped += path.stat().st_size
                archive.write(path, path.relative_to(directory))
    return files, unzipped, buffer.tell()


def top_level(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--make", action="store_const", const="make", dest="mode")
    mode.add_argument("--smoke", action="store_const", const="smoke", dest="mode")
    parser.add_argument("--python", help="the Lambda runtime's Python (3.12)")
    args = parser.parse_args(argv)
    how = args.mode or "sam"

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="fa-artifacts-") as tmp:
        started = time.perf_counter()
        dirs = build_all(how, args.python, Path(tmp) / "build")
        elapsed = time.perf_counter() - started
        rows.append(Row(f"build ({how}), all three functions", f"{elapsed:.1f} s"))
        sizes: dict[str, tuple[int, int, int]] = {}
        for name, directory in dirs.items():
            files, unzipped, zipped = measure(directory)
            sizes[name] = (files, unzipped, zipped)
            names = top_level(directory)
            has_openai = "openai" in names
            leftovers = sorted(names & set(FORBIDDEN_TOP))
            rows.append(Row(f"{name}: files", str(files)))
            rows.append(
                Row(
                    f"{name}: unzipped",
                    f"{unzipped / MB:.2f} MB",
                    "<= 250 MB",
                    unzipped <= LAMBDA_UNZIPPED_LIMIT,
                )
            )
            rows.append(Row(f"{name}: zipped", f"{zipped / MB:.2f} MB"))
            if how != "smoke":
                _, bare, bare_zipped = measure(directory, pyc=False)
                rows.append(
                    Row(
                        "  of which without the .pyc files: unzipped / zipped",
                        f"{bare / MB:.1f} / {bare_zipped / MB:.1f} MB",
                    )
                )
            wants_openai = name == "TurnFunction"
            rows.append(
                Row(
                    f"{name}: carries openai",
                    "yes" if has_openai else "no",
                    "yes" if wants_openai else "no",
                    has_openai == wants_openai or how == "smoke",
                    status="info" if how == "smoke" else "",
                )
            )
            rows.append(
                Row(
                    f"{name}: tests/docs/benchmarks/infra in it",
                    ", ".join(leftovers) or "none",
                    "none",
                    not leftovers,
                )
            )
        api, turn = sizes["ApiFunction"], sizes["TurnFunction"]
        rows.append(Row("API zipped / turn zipped (same run)", f"{api[2] / max(turn[2], 1):.2f}x"))
    print_table(f"artifacts: per-function contents ({how})", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
