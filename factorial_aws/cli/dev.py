"""``factorial-aws dev MODULE:ATTR``: serve an App on this machine until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import errno
import importlib
import re
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from factorial_aws.cli import common
from factorial_aws.cli.client import is_loopback
from factorial_aws.cli.errors import CliError, UsageError
from factorial_aws.errors import FactorialError

if TYPE_CHECKING:
    from factorial_aws.agents.agent import App
    from factorial_aws.cli.output import Console

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_APP_REF = re.compile(rf"{_IDENT}(?:\.{_IDENT})*:{_IDENT}(?:\.{_IDENT})*")

DEV_HELP = """\
Serve the App found at MODULE:ATTR (importable from the current directory) on this machine: the
HTTP API of the deployed stack, turns run from an in-process queue, an embedded Valkey server
(or $FACTORIAL_REDIS_URL), and OpenAI when $OPENAI_API_KEY is set, else a stub model that calls
one tool and finishes. Each hook's link and token are printed as it is requested.
$FACTORIAL_HOOK_SECRET fixes the hook-token key (else a random one per run). Runs until Ctrl-C.
"""


def register(sub: Any) -> None:
    """Add ``dev`` to the subcommands ``sub``."""
    dev = sub.add_parser(
        "dev",
        help="serve an App locally (API, turns, store, stub model)",
        description=DEV_HELP,
        epilog="example: factorial-aws dev examples.payments.app:app --port 8000",
    )
    dev.add_argument("app", metavar="MODULE:ATTR", help="where the App is, e.g. app:app")
    dev.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    dev.add_argument(
        "--port",
        type=_port,
        default=8000,
        help="port to listen on, 0 for any (default: %(default)s)",
    )
    dev.add_argument(
        "--cluster",
        action="store_true",
        help="run the embedded Valkey in cluster mode (like ElastiCache Serverless)",
    )
    dev.set_defaults(handler=cmd_dev)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0-65535)")
    return port


def load_app(ref: str, search_dir: Path) -> App:
    """The :class:`App` at ``MODULE:ATTR``, with ``search_dir`` first on ``sys.path``.

    Raises:
        CliError: a malformed reference (exit 2), a module that cannot be found or imported, a
            missing attribute, or an object that is not an App; the message says which.
    """
    from factorial_aws.agents.agent import App

    if not _APP_REF.fullmatch(ref):
        raise UsageError(
            "invalid_app_ref",
            f"{ref!r} is not MODULE:ATTR (e.g. app:app or examples.payments.app:app)",
        )
    module_name, _, attribute = ref.partition(":")
    if str(search_dir) not in sys.path:
        sys.path.insert(0, str(search_dir))
    module = _import(module_name, search_dir)
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            found = sorted(n for n, v in vars(module).items() if isinstance(v, App))
            hint = f"; it has App {', '.join(f'{module_name}:{n}' for n in found)}" if found else ""
            raise CliError(
                "attribute_not_found",
                f"module {module_name!r} has no attribute {attribute!r}{hint}",
            ) from None
    if not isinstance(target, App):
        raise CliError(
            "not_an_app",
            f"{ref} is of type {type(target).__name__}, not a factorial_aws App "
            "(make it App(agents=[...]))",
        )
    return target


def _import(module_name: str, search_dir: Path) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            raise CliError(
                "module_not_found",
                f"no module named {module_name!r} (looked in {search_dir} and on sys.path)",
            ) from None
        raise CliError("app_import_failed", f"importing {module_name!r} failed: {exc}") from None
    except FactorialError as exc:
        raise CliError(
            "app_import_failed", f"importing {module_name!r} failed: {exc.code}: {exc.message}"
        ) from None
    except Exception as exc:
        raise CliError(
            "app_import_failed", f"importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from exc


def cmd_dev(args: argparse.Namespace, console: Console) -> int:
    """``dev``: start, print where, wait for Ctrl-C or SIGTERM, stop."""
    app = load_app(args.app, Path.cwd())
    settings = common.settings()
    from factorial_aws.local.dev import DevServer

    server = DevServer(
        app,
        host=args.host,
        port=args.port,
        settings=settings,
        cluster=args.cluster,
        say=console.line,
    )
    if not is_loopback(f"http://{args.host}"):
        console.note(
            f"warning: the local API has no authentication; anyone who can reach {args.host} "
            "can create tasks"
        )
    try:
        server.start()
    except OSError as exc:
        server.stop()
        code = "address_in_use" if exc.errno == errno.EADDRINUSE else "dev_failed"
        raise CliError(code, f"cannot serve on {args.host}:{args.port}: {exc}") from None
    except Exception as exc:
        server.stop()
        raise CliError("dev_failed", f"{type(exc).__name__}: {exc}") from exc
    agent = sorted(app.agents)[0] if app.agents else "AGENT"
    console.line(f"try: factorial-aws run {agent} 'hello' --url {server.base_url}")
    console.line("Ctrl-C stops")
    stopping = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        console.line("stopping")
        server.stop()
    return 0
