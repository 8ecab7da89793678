"""Options and helpers the API commands share: ``--url``, ``--region``, ``--json``, reading an
argument from stdin, and the settings the CLI reads from the environment."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from factorial_aws.cli.client import DEFAULT_TIMEOUT_S, DEFAULT_URL, ApiClient
from factorial_aws.cli.errors import CliError, UsageError

if TYPE_CHECKING:
    from factorial_aws.aws.settings import DevSettings


def settings() -> DevSettings:
    """The ``FACTORIAL_*`` settings of the environment (read in :mod:`factorial_aws.aws.settings`).

    Raises:
        CliError: a malformed value (the message names the variable).
    """
    from factorial_aws.aws.settings import DevSettings, SettingsError

    try:
        return DevSettings.from_env()
    except SettingsError as exc:
        raise CliError(exc.code, exc.message) from None


def api_parent() -> argparse.ArgumentParser:
    """The options of every command that calls the API."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("API options")
    group.add_argument(
        "--url",
        metavar="URL",
        help=f"the API's base URL (default: $FACTORIAL_API_URL, else {DEFAULT_URL}); "
        "a non-loopback https:// URL is called with SigV4-signed requests",
    )
    group.add_argument(
        "--region",
        metavar="REGION",
        help="AWS region for SigV4 signing (default: from a *.execute-api.<region>.amazonaws.com "
        "URL, else the AWS profile's region)",
    )
    group.add_argument(
        "--http-timeout",
        type=positive_float,
        default=DEFAULT_TIMEOUT_S,
        metavar="S",
        help=f"seconds to wait for each HTTP answer (default: {DEFAULT_TIMEOUT_S:g})",
    )
    return parent


def json_parent() -> argparse.ArgumentParser:
    """The ``--json`` option of the commands that show something."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--json", action="store_true", help="print the API's JSON answer instead of text"
    )
    return parent


def client(args: argparse.Namespace, url: str | None = None) -> ApiClient:
    """The API client for the parsed ``--url``/``--region`` (``url`` when the command found one
    elsewhere, e.g. in a hook link)."""
    base = args.url or url or settings().api_url or DEFAULT_URL
    return ApiClient(base, region=args.region, timeout_s=args.http_timeout)


def positive_float(text: str) -> float:
    """An argparse type: a number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def text_or_stdin(value: str, what: str) -> str:
    """``value``, or all of stdin when ``value`` is ``-``.

    Raises:
        UsageError: ``-`` with a terminal on stdin, or nothing read.
    """
    if value != "-":
        return value
    if sys.stdin.isatty():
        raise UsageError("missing_input", f"{what} is '-' but stdin is a terminal; pipe it in")
    text = sys.stdin.read()
    if not text.strip():
        raise UsageError("missing_input", f"{what}: stdin was empty")
    return text
