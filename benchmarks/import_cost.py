"""Import cost of the authoring API, as a ratio to an empty interpreter, measured in one run.

Usage: python benchmarks/import_cost.py [--runs N]

Each sample is a fresh interpreter (``python -c``); the figure is the median wall time of
``import factorial_aws`` over the median of ``pass``, plus the heavy modules the import pulled in.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

HEAVY = ("boto3", "botocore", "openai", "redis", "aws_lambda_powertools", "httpx", "croniter")
PROBE = (
    "import sys, json; import factorial_aws; "
    f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
)


def _time(code: str) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    return time.perf_counter() - start, out


def main() -> None:
    """Print the median times, the ratio and the heavy modules imported."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    _time(PROBE)  # warm the bytecode cache once
    base = [_time("pass")[0] for _ in range(runs)]
    ours = [_time(PROBE) for _ in range(runs)]
    b = statistics.median(base)
    o = statistics.median(t for t, _ in ours)
    heavy = json.loads(ours[-1][1])
    print(f"python -c pass            median {b * 1000:7.1f} ms  ({runs} runs)")
    print(f"import factorial_aws      median {o * 1000:7.1f} ms")
    print(f"ratio                     {o / b:7.2f}x")
    print(f"heavy modules pulled in   {heavy or 'none'}")


if __name__ == "__main__":
    main()
