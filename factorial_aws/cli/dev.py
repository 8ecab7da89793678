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
from types import ModuleType
from typing import TYPE_CHECKING, Any

from factorial_aws.cli import common
from factorial_aws.cli.client import is_loopback
from factorial_aws.cli.errors import EXIT_INTERRUPTED, CliError, UsageError
from factorial_aws.errors import FactorialError

if TYPE_CHECKING:
    from factorial_aws.agents.agent import App
    from factorial_aws.cli.output import Console

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
DEFAULT_STATE_DIR = ".factorial"
_APP_REF = re.compile(rf"{_IDENT}(?:\.{_IDENT})*:{_IDENT}(?:\.{_IDENT})*")

DEV_HELP = """\
Serve the App found at MODULE:ATTR (importable from the current directory) on this machine: the
HTTP API of the deployed stack, turns run from an in-process queue by a pool of workers, an
embedded Valkey server (or $FACTORIAL_REDIS_URL), and OpenAI when $OPENAI_API_KEY is set, else a
stub model that calls one tool and finishes. Each hook's link and token are printed as it is
requested, and each task as it completes, fails or is cancelled.

Durable by default: the state (the embedded server's data, with an append-only file, and the hook
secret) lives in .factorial/ under the current directory, so stopping the server (Ctrl-C, or a
crash) and starting it again keeps every task, hook and link, and runs again a turn that was left
unfinished. --ephemeral keeps nothing. One dev server per state directory.
$FACTORIAL_HOOK_SECRET fixes the hook-token key. Runs until Ctrl-C (exit status 130) or SIGTERM (0).
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
    state = dev.add_mutually_exclusive_group()
    state.add_argument(
        "--state-dir",
        metavar="DIR",
        type=Path,
        help=f"keep the state in DIR (default: ./{DEFAULT_STATE_DIR})",
    )
    state.add_argument(
        "--ephemeral",
        action="store_true",
        help="keep nothing: the tasks, hooks and links are gone when the server stops",
    )
    dev.add_argument(
        "--workers",
        type=_workers,
        metavar="N",
        help="turns run at once (default: $FACTORIAL_DEV_WORKERS, else 4 per CPU, 2 to 32)",
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


def _workers(text: str) -> int:
    try:
        workers = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of workers") from None
    if workers < 1:
        raise argparse.ArgumentTypeError(f"{workers}: at least 1 worker")
    return workers


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
            if not hint and (inner := _submodule_with(module, attribute)):
                hint = f"; did you mean {inner}:{attribute}?"
            raise CliError(
                "attribute_not_found",
                f"module {module_name!r} has no attribute {attribute!r}{hint}",
            ) from None
    if isinstance(target, ModuleType) and isinstance(getattr(target, attribute, None), App):
        raise CliError(  # `pkg:app` where pkg/app.py holds `app`
            "not_an_app",
            f"{ref} is a module, not a factorial_aws App; did you mean "
            f"{target.__name__}:{attribute}?",
        )
    if not isinstance(target, App):
        raise CliError(
            "not_an_app",
            f"{ref} is of type {type(target).__name__}, not a factorial_aws App "
            "(make it App(agents=[...]))",
        )
    return target


def _submodule_with(package: Any, attribute: str) -> str | None:
    """``package.app`` (or another direct submodule) when it defines an App named ``attribute``:
    for ``examples.payments:app``, whose App is in ``examples/payments/app.py``."""
    import pkgutil

    from factorial_aws.agents.agent import App

    paths = getattr(package, "__path__", None)
    if paths is None:
        return None
    names = sorted(m.name for m in pkgutil.iter_modules(paths))
    names.sort(key=lambda n: n != attribute)  # the module named like the attribute first
    for name in names:
        full = f"{package.__name__}.{name}"
        try:
            submodule = importlib.import_module(full)
        except Exception:  # noqa: BLE001, S112 - a hint only: a submodule that fails is skipped
            continue
        if isinstance(getattr(submodule, attribute.split(".")[0], None), App):
            return full
    return None


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
    from factorial_aws.local.state import StateDirBusyError

    state_dir = None if args.ephemeral else (args.state_dir or Path.cwd() / DEFAULT_STATE_DIR)
    server = DevServer(
        app,
        host=args.host,
        port=args.port,
        settings=settings,
        cluster=args.cluster,
        say=console.line,
        state_dir=state_dir,
        workers=args.workers,
    )
    if not is_loopback(f"http://{args.host}"):
        console.note(
            f"warning: the local API has no authentication; anyone who can reach {args.host} "
            "can create tasks"
        )
    try:
        server.start()
    except StateDirBusyError as exc:
        server.stop()
        raise CliError("state_dir_in_use", str(exc)) from None
    except OSError as exc:
        server.stop()
        if exc.errno == errno.EADDRINUSE:
            raise CliError(
                "address_in_use",
                f"cannot serve on {args.host}:{args.port}: the port is in use (another dev "
                "server?); pick another with --port PORT, or --port 0 for any free one",
            ) from None
        raise CliError("dev_failed", f"cannot serve on {args.host}:{args.port}: {exc}") from None
    except Exception as exc:
        server.stop()
        raise CliError("dev_failed", f"{type(exc).__name__}: {exc}") from exc
    agent = sorted(app.agents)[0] if app.agents else "AGENT"
    console.line(f"try: factorial-aws run {agent} 'hello' --url {server.base_url}")
    console.line("Ctrl-C stops")
    stopping = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    status = 0
    try:
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        status = EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)
        console.line("stopping")
        server.stop()
    return status
