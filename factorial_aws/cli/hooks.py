"""``factorial-aws hooks show|resolve|rotate``.

A hook may be named by its id or by its link (``<base>/hooks/<id>?token=...``, what the dev
server prints and what a hook builder mails): the link gives the API's URL and the token too.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from factorial_aws.cli import common
from factorial_aws.cli.client import path
from factorial_aws.cli.errors import CliError, UsageError
from factorial_aws.cli.output import fields, table, when

if TYPE_CHECKING:
    import argparse

    from factorial_aws.cli.output import Console

RESOLVE_HELP = """\
Resolve a hook (POST /hooks/{id}/resolve): the payload is a JSON object matching the hook's
schema (see `factorial-aws hooks show ID`), given with --data, --data-file or on stdin; the
token authorizes it. ID may also be the hook's link, which carries the API's URL and the token.
A wrong token is answered like an unknown hook (hook_not_found), so hook ids cannot be probed.
"""


def register(sub: Any, api: argparse.ArgumentParser, as_json: argparse.ArgumentParser) -> None:
    """Add ``hooks`` to the subcommands ``sub``."""
    hooks = sub.add_parser(
        "hooks",
        help="show, resolve or rotate the token of a hook",
        description="Read and resolve hooks (the /hooks routes).",
    )
    hsub = hooks.add_subparsers(dest="hooks_command", metavar="COMMAND", required=True)
    show = hsub.add_parser(
        "show",
        parents=[api, as_json],
        help="what a hook asks for: title, status, expiry and the payload's schema",
        description="Describe a hook (GET /hooks/{id}; never resolves anything, needs no token).",
    )
    show.add_argument("hook_id", metavar="ID", help="the hook id, or its link")
    show.set_defaults(handler=cmd_show)

    resolve = hsub.add_parser(
        "resolve",
        parents=[api, as_json],
        help="resolve a hook with its token and a JSON payload",
        description=RESOLVE_HELP,
        epilog="example: factorial-aws hooks resolve HOOK_ID --token TOKEN "
        """--data '{"approved": true, "reviewer": "ana"}'""",
    )
    resolve.add_argument("hook_id", metavar="ID", help="the hook id, or its link")
    resolve.add_argument("--token", metavar="T", help="the hook's token (else: from the link)")
    source = resolve.add_mutually_exclusive_group()
    source.add_argument("--data", metavar="JSON", help="the payload, a JSON object")
    source.add_argument(
        "--data-file", metavar="F", help="read the payload from file F ('-': stdin)"
    )
    resolve.add_argument(
        "--idempotency-key",
        metavar="K",
        help="a retry with the same key answers the first result instead of a conflict",
    )
    resolve.set_defaults(handler=cmd_resolve)

    rotate = hsub.add_parser(
        "rotate",
        parents=[api, as_json],
        help="issue a new token for an open hook (printed once)",
        description="Issue a new token for an open hook (POST /hooks/{id}/rotate).\n"
        "The previous token stops working unless --keep-previous is given.",
    )
    rotate.add_argument("hook_id", metavar="ID", help="the hook id, or its link")
    rotate.add_argument(
        "--keep-previous", action="store_true", help="keep the current token valid as well"
    )
    rotate.set_defaults(handler=cmd_rotate)


def parse_hook_ref(ref: str) -> tuple[str, str | None, str | None]:
    """``(hook_id, api_url, token)`` of a hook id or a hook link.

    Raises:
        UsageError: a URL that is not a hook link.
    """
    if "://" not in ref:
        if not ref or "/" in ref:
            raise UsageError("invalid_hook_id", f"{ref!r} is not a hook id or a hook link")
        return ref, None, None
    parts = urlsplit(ref)
    prefix, sep, rest = parts.path.partition("/hooks/")
    hook_id = unquote(rest.split("/", 1)[0]) if sep else ""
    if not hook_id or parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(
            "invalid_hook_id", f"{ref!r} is not a hook link (<api url>/hooks/<id>?token=...)"
        )
    tokens = parse_qs(parts.query).get("token")
    return hook_id, f"{parts.scheme}://{parts.netloc}{prefix}", tokens[0] if tokens else None


def cmd_show(args: argparse.Namespace, console: Console) -> int:
    """``hooks show``."""
    hook_id, url, _ = parse_hook_ref(args.hook_id)
    hook = common.client(args, url).get(path("hooks", hook_id))
    if args.json:
        console.json(hook)
        return 0
    for line in hook_lines(hook, url_flag(args, url)):
        console.line(line)
    return 0


def url_flag(args: argparse.Namespace, url: str | None) -> str:
    """`` --url URL`` for the commands the CLI suggests, when the API is not the default one."""
    chosen = args.url or url
    return f" --url {chosen}" if chosen else ""


def hook_lines(hook: dict[str, Any], url_flag: str = "") -> list[str]:
    """The readable form of ``GET /hooks/{id}``: the hook, its payload fields and an example."""
    lines = fields(
        [
            ("hook", str(hook.get("hook_id"))),
            ("task", str(hook.get("task_id"))),
            ("title", str(hook.get("title"))),
            ("status", str(hook.get("status"))),
            ("expires", when(hook.get("expires_at"))),
        ]
    )
    body = str(hook.get("body") or "").strip()
    if body:
        lines.extend(["", body])
    schema = hook.get("schema") or {}
    props: dict[str, Any] = schema.get("properties") or {}
    if props:
        required = set(schema.get("required") or [])
        defs = schema.get("$defs") or {}
        rows = [
            [
                name,
                type_name(prop, defs),
                "yes" if name in required else "no",
                json.dumps(prop["default"]) if "default" in prop else "",
                str(prop.get("description") or ""),
            ]
            for name, prop in props.items()
        ]
        lines.extend(["", "payload (a JSON object):"])
        lines.extend(
            "  " + r for r in table(["FIELD", "TYPE", "REQUIRED", "DEFAULT", "DESCRIPTION"], rows)
        )
    if hook.get("status") == "requested":
        example = json.dumps(example_payload(schema))
        lines.extend(
            [
                "",
                f"resolve: factorial-aws hooks resolve {hook.get('hook_id')} --token TOKEN "
                f"--data '{example}'{url_flag}",
            ]
        )
    return lines


def type_name(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    """A short name for a JSON Schema property's type."""
    if "$ref" in prop:
        return str(prop["$ref"]).rsplit("/", 1)[-1]
    if prop.get("enum"):
        return " | ".join(json.dumps(v) for v in prop["enum"])
    for key in ("anyOf", "oneOf"):
        if prop.get(key):
            return " | ".join(type_name(p, defs) for p in prop[key])
    kind = prop.get("type", "any")
    if kind == "array":
        return f"array of {type_name(prop.get('items') or {}, defs)}"
    return " | ".join(kind) if isinstance(kind, list) else str(kind)


def example_payload(schema: dict[str, Any]) -> Any:
    """A small payload that matches ``schema`` (required fields and fields without a default)."""
    from factorial_aws.testing.stub_agent import example_value

    return example_value(schema, schema.get("$defs") or {})


def read_payload(args: argparse.Namespace) -> dict[str, Any]:
    """The payload of ``--data``, ``--data-file`` or stdin: a JSON object.

    Raises:
        UsageError: no payload, an unreadable file, text that is not JSON, or not an object.
    """
    if args.data is not None:
        text, where = args.data, "--data"
    elif args.data_file is not None and args.data_file != "-":
        try:
            text = Path(args.data_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError("unreadable_file", f"--data-file {args.data_file}: {exc}") from None
        where = f"--data-file {args.data_file}"
    else:
        if args.data_file is None and sys.stdin.isatty():
            raise UsageError(
                "missing_payload", "give the payload with --data JSON, --data-file F or on stdin"
            )
        text, where = sys.stdin.read(), "stdin"
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError("invalid_json", f"{where} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UsageError(
            "invalid_json", f"{where}: the hook payload must be a JSON object, not {text.strip()!r}"
        )
    return value


def cmd_resolve(args: argparse.Namespace, console: Console) -> int:
    """``hooks resolve``."""
    hook_id, url, link_token = parse_hook_ref(args.hook_id)
    token = args.token or link_token
    if not token:
        raise UsageError("missing_token", "give --token T (the hook's token, from its link)")
    payload = read_payload(args)
    headers = {"X-Hook-Token": token}
    if args.idempotency_key:
        headers["Idempotency-Key"] = args.idempotency_key
    try:
        answer = common.client(args, url).post(path("hooks", hook_id, "resolve"), payload, headers)
    except CliError as exc:
        if exc.code == "hook_not_found" and "token" not in exc.message:
            exc.message += " (a wrong token is answered the same way)"
        raise
    if args.json:
        console.json(answer)
        return 0
    task_id = answer.get("task_id")
    if answer.get("status") == "accepted":
        console.line(
            f"accepted for hook {hook_id} of task {task_id}: it is not registered yet, and the "
            "payload is applied when it is"
        )
        return 0
    if answer.get("status") == "idempotent":
        console.line(f"hook {hook_id} was already resolved with this Idempotency-Key (no change)")
    else:
        console.line(f"resolved hook {hook_id} of task {task_id}")
    if answer.get("task_resumed"):
        console.line(
            f"the task resumed; follow it: factorial-aws tasks events {task_id} --follow"
            f"{url_flag(args, url)}"
        )
    else:
        console.line("the task did not resume yet (it still waits on other hooks)")
    return 0


def cmd_rotate(args: argparse.Namespace, console: Console) -> int:
    """``hooks rotate``."""
    hook_id, url, _ = parse_hook_ref(args.hook_id)
    answer = common.client(args, url).post(
        path("hooks", hook_id, "rotate"), {"revoke_previous": not args.keep_previous}
    )
    if args.json:
        console.json(answer)
        return 0
    console.line(f"new token for hook {hook_id} (version {answer.get('version')}), shown once:")
    for line in fields([("token", str(answer.get("token"))), ("link", str(answer.get("link")))]):
        console.line("  " + line)
    kept = "still works" if args.keep_previous else "no longer works"
    console.line(f"the previous token {kept}")
    return 0
