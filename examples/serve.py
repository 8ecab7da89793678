"""Serve one example on 127.0.0.1 with its own stub model (no API key needed).

    python examples/serve.py two_stage            # http://127.0.0.1:8000, Ctrl-C stops
    python examples/serve.py webhook --port 8010

The same as ``factorial-aws dev examples.<name>.app:app --ephemeral``, except that the model is the
example's ``stub.stub_reply``, which plays that example convincingly (the dev server's built-in
stub only calls the first tool with placeholder arguments, or those written as JSON in the
input). With ``OPENAI_API_KEY`` set, use ``factorial-aws dev`` and a real model instead.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from factorial_aws.local.dev import DevServer

EXAMPLES = (
    "payments",
    "two_stage",
    "webhook",
    "monitor",
    "research",
    "verifier",
    "deploy_gate",
    "stripe_payment",
    "slack_approval",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("example", choices=EXAMPLES)
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    app = importlib.import_module(f"examples.{args.example}.app").app
    stub = importlib.import_module(f"examples.{args.example}.stub").stub_reply
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):  # stop cleanly: the embedded Valkey goes too
        signal.signal(sig, lambda *_: stop.set())
    with DevServer(app, port=args.port, stub_reply=stub, say=lambda m: print(m, flush=True)):
        print(f"stub model: examples/{args.example}/stub.py; Ctrl-C stops", flush=True)
        stop.wait()
        print("stopping", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
