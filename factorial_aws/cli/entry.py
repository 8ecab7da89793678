"""The ``factorial-aws`` command line: the parser and :func:`main`."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, NoReturn

from factorial_aws.cli import common, dev, hooks, scaffold, tasks
from factorial_aws.cli.errors import EXIT_INTERRUPTED, EXIT_USAGE, CliError
from factorial_aws.cli.output import Console

if TYPE_CHECKING:
    from collections.abc import Sequence

PROG = "factorial-aws"
DESCRIPTION = """\
Durable AI agents on AWS serverless. `dev` serves an App on this machine; `run`, `tasks` and
`hooks` call the HTTP API (--url, else $FACTORIAL_API_URL, else http://127.0.0.1:8000); `init`
scaffolds a project. Errors are printed as `error: <code>: <message>` on stderr (exit status 1;
2 for a wrong command line).
"""


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors in the CLI's ``error: <code>: <message>`` form, and
    descriptions and examples printed as written."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        """Print the usage and ``error: usage: <message>``; exit 2."""
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"error: usage: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = Parser(prog=PROG, description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    api, as_json = common.api_parent(), common.json_parent()
    dev.register(sub)
    tasks.register(sub, api, as_json)
    hooks.register(sub, api, as_json)
    scaffold.register(sub)
    return parser


def main(argv: Sequence[str] | None = None, console: Console | None = None) -> int:
    """Run one command; its exit status."""
    console = console or Console()
    args = build_parser().parse_args(argv)
    try:
        status: int = args.handler(args, console)
    except CliError as exc:
        console.error(exc.code, exc.message)
        return exc.exit_code
    except KeyboardInterrupt:
        console.clear_status()
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `factorial-aws tasks events ID | head`
        return 0
    return status
