"""Cold import of each Lambda handler module, as a ratio to ``import boto3``, measured in one run.

Usage: python benchmarks/cold_start.py [--runs N] [--root DIR] [--smoke]

Each sample is a fresh interpreter (``python -c``) that times ``import handlers.<name>`` with
``time.perf_counter`` (not ``-X importtime``), with the environment a deployed function has
(docs/settings.md; dummy values, nothing reachable: AWS endpoints point at a closed loopback port,
and any connection to a host other than 127.0.0.1 is refused and recorded). Samples of the
modules alternate; the figure is the median over ``--runs`` samples, the baseline the median of
``import boto3`` in the same run. Each child also reports which heavy packages the import loaded
(``sys.modules``), every connection it attempted, and any exception, which is a finding: a handler
should do no AWS call at import.

A handler file that does not exist (yet) is reported as ``missing``; the others are still measured.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _bench import Row, print_table

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = ("api", "turn", "maintenance")
TARGET_RATIO = {"api": 1.3, "maintenance": 1.3}  # DESIGN section 9; turn has none
NO_OPENAI = ("api", "maintenance")
HEAVY = (
    "openai",
    "boto3",
    "botocore",
    "redis",
    "aws_lambda_powertools",
    "pydantic",
    "httpx",
    "croniter",
)
DEFAULT_RUNS = 9
CHILD_TIMEOUT_S = 30
AWS_PORT = 9  # discard: nothing listens there on loopback; every AWS endpoint points here
REDIS_PORT = 7  # echo: likewise closed; FACTORIAL_REDIS_URL points here
APP_MODULE = "examples.payments.app"
# What each handler leaves to its first invocation (factorial_aws/aws/wiring.py: ``container()``
# builds the boto3 clients and loads the app; the API resolver, the turn runner and the OpenAI
# client are imported on first use). Imported after the handler, in the same child, to show the
# cold start a first request pays on top of the import. Keep in step with wiring.py.
FIRST_REQUEST: dict[str, tuple[str, ...]] = {
    "api": ("boto3", APP_MODULE, "factorial_aws.aws.api"),
    "turn": (
        "boto3",
        APP_MODULE,
        "factorial_aws.runtime.runner",
        "factorial_aws.runtime.env",
        "factorial_aws.llm.openai_client",
    ),
    "maintenance": ("boto3", APP_MODULE),
}

CHILD = """
import json, socket, sys, time
attempts = []
LOCAL = ("127.0.0.1", "::1", "localhost")
_connect, _getaddrinfo = socket.socket.connect, socket.getaddrinfo
def connect(self, address):
    attempts.append(str(address))
    host = address[0] if isinstance(address, tuple) else address
    if host not in LOCAL:
        raise OSError(f"cold_start benchmark: no connection to {host} at import")
    return _connect(self, address)
def getaddrinfo(host, *args, **kwargs):
    if host not in LOCAL and host is not None:
        attempts.append(f"dns {host}")
        raise socket.gaierror(f"cold_start benchmark: no lookup of {host} at import")
    return _getaddrinfo(host, *args, **kwargs)
socket.socket.connect, socket.getaddrinfo = connect, getaddrinfo
error = then_error = None
t0 = time.perf_counter()
try:
    __import__(MODULE)
except BaseException as exc:
    error = f"{type(exc).__name__}: {exc}"
seconds = time.perf_counter() - t0
heavy = sorted(m for m in HEAVY if m in sys.modules)
connects = list(attempts)
for name in THEN:
    try:
        __import__(name)
    except BaseException as exc:
        then_error = then_error or f"{name}: {type(exc).__name__}: {exc}"
first = time.perf_counter() - t0
print(json.dumps({"s": seconds, "first": first, "error": error, "then_error": then_error,
                  "connects": connects, "heavy": heavy}))
"""


def child_env(root: Path) -> dict[str, str]:
    """A deployed function's environment (docs/settings.md), with dummy, unreachable values."""
    keep = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OPENAI_", "FACTORIAL_"))
    }
    account, region = "123456789012", "us-east-1"
    secret = f"arn:aws:secretsmanager:{region}:{account}:secret"
    pythonpath = [str(root), str(ROOT)]
    return {
        **keep,
        "PYTHONPATH": os.pathsep.join(pythonpath),
        "FACTORIAL_APP": f"{APP_MODULE}:app",
        "FACTORIAL_REDIS_URL": f"redis://127.0.0.1:{REDIS_PORT}",
        "FACTORIAL_TURN_QUEUE_URL": f"https://sqs.{region}.amazonaws.com/{account}/fa-turns",
        "FACTORIAL_TURN_QUEUE_ARN": f"arn:aws:sqs:{region}:{account}:fa-turns",
        "FACTORIAL_SCHEDULER_GROUP": "fa-wakes",
        "FACTORIAL_SCHEDULER_ROLE_ARN": f"arn:aws:iam::{account}:role/fa-scheduler",
        "FACTORIAL_HOOK_SECRET_ARN": f"{secret}:fa-hook-AbCdEf",
        "FACTORIAL_MODEL_KEY_SECRET_ARN": f"{secret}:fa-model-AbCdEf",
        "FACTORIAL_PUBLIC_BASE_URL": "https://abc123.execute-api.us-east-1.amazonaws.com",
        "FACTORIAL_REQUIRE_IAM": "true",
        "LOG_LEVEL": "INFO",
        "POWERTOOLS_SERVICE_NAME": "factorial-aws",
        "POWERTOOLS_METRICS_NAMESPACE": "factorial-aws-bench",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": "AKIABENCHMARKDUMMY00",
        "AWS_SECRET_ACCESS_KEY": "benchmark-dummy-secret-access-key-000000",
        "AWS_SESSION_TOKEN": "benchmark-dummy-session-token",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{AWS_PORT}",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_LAMBDA_FUNCTION_NAME": "factorial-aws-bench",
    }


def sample(
    module: str, root: Path, env: dict[str, str], then: tuple[str, ...] = ()
) -> tuple[float, dict[str, object]]:
    """One fresh interpreter importing ``module`` (timed), then ``then`` (timed with it): process
    wall seconds and the child's report."""
    code = f"MODULE = {module!r}; THEN = {then!r}; HEAVY = {HEAVY!r}\n{CHILD}"
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        check=False,
    )
    wall = time.perf_counter() - start
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return wall, {
            "s": wall,
            "first": wall,
            "error": f"exit {proc.returncode}: {tail}",
            "connects": [],
            "heavy": [],
        }
    report: dict[str, object] = json.loads(lines[-1])
    return wall, report


def handler_rows(
    name: str,
    imports: list[float],
    walls: list[float],
    firsts: list[float],
    last: dict[str, object],
    base: float,
    base_wall: float,
) -> list[Row]:
    module = f"handlers.{name}"
    error = last.get("error")
    heavy = list(last.get("heavy") or [])
    connects = [str(c) for c in last.get("connects") or []]
    aws = [c for c in connects if f", {AWS_PORT})" in c or "amazonaws" in c]
    to_redis = [c for c in connects if f", {REDIS_PORT})" in c]
    other = [c for c in connects if c not in aws and c not in to_redis]
    ratio = statistics.median(imports) / base
    target = TARGET_RATIO.get(name)
    rows = [
        Row(
            f"import {module} / import boto3 ({statistics.median(imports) * 1000:.0f} ms)",
            f"{ratio:.2f}x",
            f"<= {target}x" if target else "",
            None if target is None else ratio <= target,
        ),
        Row(
            f"  + first-request imports ({statistics.median(firsts) * 1000:.0f} ms), in boto3s",
            "failed" if last.get("then_error") else f"{statistics.median(firsts) / base:.2f}x",
        ),
        Row(
            "  process wall (python -c, with them), in boto3's",
            f"{statistics.median(walls) / base_wall:.2f}x",
        ),
    ]
    if name in NO_OPENAI:
        rows.append(
            Row(
                f"  {module} imports openai",
                "yes" if "openai" in heavy else "no",
                "no",
                "openai" not in heavy,
            )
        )
    else:
        rows.append(Row(f"  {module} imports openai", "yes" if "openai" in heavy else "no"))
    rows.append(Row(f"  {module} AWS calls at import", str(len(aws)), "0", not aws))
    rows.append(Row(f"  {module} Redis connections at import", str(len(to_redis))))
    if other:
        rows.append(Row(f"  {module} other connections at import", str(len(other)), "0", False))
    rows.append(Row(f"  {module} import raised", "yes" if error else "no", "no", not error))
    return rows


def main() -> None:
    """Time the imports and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--runs",
        type=int,
        default=DEFAULT_RUNS,
        help="fresh interpreters per module (default %(default)s)",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=ROOT,
        help="directory holding handlers/ (default: the repository)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="one run per module and no warm-up pass: checks that the script works (the tests); "
        "its figures mean nothing",
    )
    args = parser.parse_args()
    runs, root = (1 if args.smoke else max(1, args.runs)), args.root.resolve()
    started = time.perf_counter()
    env = child_env(root)
    present = [h for h in HANDLERS if (root / "handlers" / f"{h}.py").is_file()]
    modules = ["boto3", *(f"handlers.{h}" for h in present)]
    for module in [] if args.smoke else modules:  # warm the bytecode caches once
        sample(module, root, env)
    imports: dict[str, list[float]] = {m: [] for m in modules}
    firsts: dict[str, list[float]] = {m: [] for m in modules}
    walls: dict[str, list[float]] = {m: [] for m in modules}
    last: dict[str, dict[str, object]] = {}
    for _ in range(runs):
        for module in modules:  # interleaved, so drift hits every module alike
            then = FIRST_REQUEST.get(module.removeprefix("handlers."), ())
            wall, report = sample(module, root, env, then)
            imports[module].append(float(report["s"]))
            firsts[module].append(float(report["first"]))
            walls[module].append(wall)
            last[module] = report
    base = statistics.median(imports["boto3"])
    base_wall = statistics.median(walls["boto3"])
    rows = [
        Row("import boto3 (baseline), in-process p50", f"{base * 1000:.0f} ms"),
        Row("  boto3 process wall p50 (python -c)", f"{base_wall * 1000:.0f} ms"),
    ]
    details: list[str] = []
    for name in HANDLERS:
        module = f"handlers.{name}"
        if name not in present:
            rows.append(Row(f"import {module}", "missing", "", status="missing"))
            continue
        rows += handler_rows(
            name, imports[module], walls[module], firsts[module], last[module], base, base_wall
        )
        report = last[module]
        details.append(
            f"{module}: loaded {', '.join(report.get('heavy') or []) or 'no heavy module'}"
        )
        if report.get("then_error"):
            details.append(f"{module}: first-request imports failed: {report['then_error']}")
        if report.get("error") or report.get("connects"):
            details.append(
                f"{module}: FINDING: raised {report.get('error')!r}; "
                f"connections attempted {report.get('connects')}"
            )
    print_table(
        f"cold_start: {runs} runs per module, Python {sys.version.split()[0]}, "
        f"root {root}, {time.perf_counter() - started:.1f} s",
        rows,
    )
    if details:
        print()
        print(
            f"heavy packages loaded (of {', '.join(HEAVY)}); work at import that needs the network:"
        )
        for line in details:
            print(f"  {line}")


if __name__ == "__main__":
    main()
