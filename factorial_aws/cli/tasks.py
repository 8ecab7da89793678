"""``factorial-aws run`` and ``factorial-aws tasks list|show|events|cancel|steer``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from factorial_aws.cli import common
from factorial_aws.cli.client import path
from factorial_aws.cli.errors import EXIT_FAILURE, CliError
from factorial_aws.cli.follow import PAGE, PARKED, TERMINAL, Follower, FollowTimeout
from factorial_aws.cli.output import event_line, fields, long_value, short_value, table, when

if TYPE_CHECKING:
    from factorial_aws.cli.client import ApiClient
    from factorial_aws.cli.output import Console

DEFAULT_RUN_TIMEOUT_S = 300.0
#: The task statuses (``factorial_aws.core.status.TaskStatus``), for ``tasks list --status``.
STATUSES = (
    "queued",
    "running",
    "waiting_hook",
    "waiting_time",
    "waiting_children",
    "completed",
    "failed",
    "cancelled",
)
#: The largest page ``GET /tasks`` gives, and its default.
MAX_LIST_PAGE = 100
DEFAULT_LIST_PAGE = 20

RUN_HELP = """\
Create a task (POST /tasks) and follow it: every event is printed as it happens, until the task
parks (waits on a hook, a timer or child tasks) or ends. A task that waits on hooks is listed with
each hook's id and title; resolve one with `factorial-aws hooks resolve`. Exit status: 0 when
the task completed or parked, 1 when it failed or was cancelled, or when --timeout passed first
(the task keeps running). With --json: one JSON event per line, then the task as one JSON line.
"""

LIST_HELP = """\
List tasks (GET /tasks), newest first: root tasks and their children. On a deployed stack the
list is the signed caller's own tasks; the dev server needs --owner (tasks created without an
owner are in no list). One page is printed (--limit N tasks); --all follows the pages to the end.
A tree's tasks stay listed until shortly before it expires. With --json: the API's answer
{"tasks": [...], "next": cursor} (with --all: every task, and "next": null).
"""

EVENTS_HELP = """\
Print a task's events (GET /tasks/{id}/events), oldest first. With --json: one document
{"events": [...], "next": cursor}; with --follow --json: one JSON event per line.
"""


def register(sub: Any, api: argparse.ArgumentParser, as_json: argparse.ArgumentParser) -> None:
    """Add ``run`` and ``tasks`` to the subcommands ``sub``."""
    run = sub.add_parser(
        "run",
        parents=[api, as_json],
        help="create a task and follow it until it parks or ends",
        description=RUN_HELP,
        epilog="example: factorial-aws run payments 'Pay 12.50 USD to DE89370400440532013000'",
    )
    run.add_argument("agent", metavar="AGENT", help="the agent's name")
    run.add_argument("input", metavar="INPUT", help="the task's input text ('-': read stdin)")
    run.add_argument("--owner", metavar="ID", help="owner_id of the task")
    run.add_argument(
        "--idempotency-key",
        metavar="K",
        help="the same key returns the same task instead of creating another",
    )
    run.add_argument("--no-follow", action="store_true", help="print the task id and exit at once")
    run.add_argument(
        "--until-done",
        action="store_true",
        help="keep following while the task is parked, until it completes, fails or is cancelled",
    )
    run.add_argument(
        "--timeout",
        type=common.positive_float,
        default=DEFAULT_RUN_TIMEOUT_S,
        metavar="S",
        help=f"stop following after S seconds (default: {DEFAULT_RUN_TIMEOUT_S:g})",
    )
    run.set_defaults(handler=cmd_run)

    tasks = sub.add_parser(
        "tasks",
        help="list, show, follow, cancel or steer tasks",
        description="Read and control tasks (the /tasks routes).",
    )
    tsub = tasks.add_subparsers(dest="tasks_command", metavar="COMMAND", required=True)
    listing = tsub.add_parser(
        "list",
        parents=[api, as_json],
        help="tasks of an owner, newest first",
        description=LIST_HELP,
        epilog="example: factorial-aws tasks list --owner acme --status waiting_hook",
    )
    listing.add_argument(
        "--owner",
        metavar="ID",
        help="whose tasks (required by the dev server; on AWS: the signed caller, the default)",
    )
    listing.add_argument("--status", choices=STATUSES, help="only tasks in this status")
    listing.add_argument(
        "--limit",
        type=page_size,
        default=DEFAULT_LIST_PAGE,
        metavar="N",
        help=f"tasks per page, 1-{MAX_LIST_PAGE} (default: {DEFAULT_LIST_PAGE})",
    )
    listing.add_argument("--after", metavar="C", help="the page after this cursor (a page's next)")
    listing.add_argument("--all", action="store_true", help="follow the pages to the end")
    listing.set_defaults(handler=cmd_list)

    show = tsub.add_parser(
        "show",
        parents=[api, as_json],
        help="a task's status, output or error, and the hooks it waits on",
        description="Show a task (GET /tasks/{id}): status, turn, output or error, pending hooks.",
    )
    show.add_argument("task_id", metavar="ID", help="the task id (t-...)")
    show.set_defaults(handler=cmd_show)

    events = tsub.add_parser(
        "events",
        parents=[api, as_json],
        help="a task's events, oldest first (--follow: live)",
        description=EVENTS_HELP,
    )
    events.add_argument("task_id", metavar="ID", help="the task id (t-...)")
    events.add_argument("--after", metavar="C", help="only events after this cursor (an event id)")
    events.add_argument(
        "--follow",
        action="store_true",
        help="keep printing new events until the task completes, fails or is cancelled",
    )
    events.set_defaults(handler=cmd_events)

    cancel = tsub.add_parser(
        "cancel",
        parents=[api, as_json],
        help="cancel a task, its parked hooks and its child tasks",
        description="Cancel a task (POST /tasks/{id}/cancel), its parked hooks and descendants.",
    )
    cancel.add_argument("task_id", metavar="ID", help="the task id (t-...)")
    cancel.set_defaults(handler=cmd_cancel)

    steer = tsub.add_parser(
        "steer",
        parents=[api, as_json],
        help="send a user message to a task's next turn",
        description="Queue a user message for the task's next turn (POST /tasks/{id}/steer).",
    )
    steer.add_argument("task_id", metavar="ID", help="the task id (t-...)")
    steer.add_argument("text", metavar="TEXT", help="the message ('-': read stdin)")
    steer.set_defaults(handler=cmd_steer)


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    """``run``: create, then follow."""
    api = common.client(args)
    text = common.text_or_stdin(args.input, "INPUT")
    body: dict[str, Any] = {"agent": args.agent, "input": text}
    if args.owner:
        body["owner_id"] = args.owner
    headers = {"Idempotency-Key": args.idempotency_key} if args.idempotency_key else None
    created = api.post("/tasks", body, headers)
    task_id = str(created["task_id"])
    if args.json and args.no_follow:
        console.json(created)
        return 0
    if not args.json:
        console.line(f"task {task_id} created ({created.get('status')}), agent {args.agent}")
    if args.no_follow:
        console.line(f"follow it: factorial-aws tasks events {task_id} --follow{_url_flag(args)}")
        return 0
    follower = Follower(api, console, task_id, as_json=args.json)
    stop = TERMINAL if args.until_done else TERMINAL | PARKED
    try:
        task = follower.until(stop, args.timeout)
    except KeyboardInterrupt:
        console.clear_status()
        console.note(
            f"stopped following {task_id}; it keeps running "
            f"(follow it: factorial-aws tasks events {task_id} --follow{_url_flag(args)})"
        )
        raise
    except FollowTimeout as timeout:
        status = timeout.task.get("status")
        raise CliError(
            "timeout",
            f"task {task_id} is still {status} after {args.timeout:g}s; it keeps running "
            f"(follow it: factorial-aws tasks events {task_id} --follow{_url_flag(args)})",
        ) from None
    if args.json:
        console.json(task, compact=True)
        return _exit_status(task)
    return report_end(console, api, task, _url_flag(args))


def _url_flag(args: argparse.Namespace) -> str:
    return f" --url {args.url}" if args.url else ""


def _exit_status(task: dict[str, Any]) -> int:
    return EXIT_FAILURE if task.get("status") in ("failed", "cancelled") else 0


def report_end(console: Console, api: ApiClient, task: dict[str, Any], url_flag: str) -> int:
    """Say how the task stopped (its hooks, its output, its error); the exit status."""
    task_id, status, turn = task.get("task_id"), task.get("status"), task.get("turn")
    if status == "waiting_hook":
        hooks = task.get("pending_hooks") or []
        console.line(f"task {task_id} is waiting on {len(hooks)} hook(s) (turn {turn}):")
        for h in hooks:
            expires = when(h.get("expires_at"))
            console.line(f"  {h.get('hook_id')}  {h.get('title')!r}  (expires {expires})")
        ref = str(hooks[0].get("hook_id")) if len(hooks) == 1 else "HOOK_ID"
        console.line(f"see what it asks for: factorial-aws hooks show {ref}{url_flag}")
        console.line(
            f"resolve it: factorial-aws hooks resolve {ref} --token TOKEN "
            f"--data '{{...}}'{url_flag}"
        )
        if api.loopback:
            console.line("(the dev server printed each hook's link and token)")
        else:
            console.line(
                "(tokens go to whoever the hook's builder notifies; the API never shows one)"
            )
        return 0
    if status in ("waiting_time", "waiting_children"):
        what = "a timer" if status == "waiting_time" else "its child tasks"
        console.line(f"task {task_id} is waiting on {what} (turn {turn}); it wakes by itself")
        console.line(f"follow it: factorial-aws tasks events {task_id} --follow{url_flag}")
        return 0
    if status == "completed":
        console.line(f"task {task_id} completed (turn {turn}); output:")
        console.line(long_value(task.get("output")))
        return 0
    error = task.get("error") or {}
    console.line(f"task {task_id} {status} (turn {turn})")
    console.error(
        str(error.get("code") or f"task_{status}"),
        str(error.get("message") or f"task {task_id} is {status}"),
    )
    return EXIT_FAILURE


def page_size(text: str) -> int:
    """An argparse type: a whole number 1..``MAX_LIST_PAGE``."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= MAX_LIST_PAGE:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1..{MAX_LIST_PAGE}")
    return value


def cmd_list(args: argparse.Namespace, console: Console) -> int:
    """``tasks list``."""
    api = common.client(args)
    query: dict[str, str | int | None] = {
        "owner_id": args.owner,
        "status": args.status,
        "limit": args.limit,
        "after": args.after,
    }
    tasks: list[dict[str, Any]] = []
    while True:
        page = api.get("/tasks", query)
        tasks.extend(page.get("tasks") or [])
        cursor = page.get("next")
        if not args.all or not cursor:
            break
        query["after"] = cursor
    if args.json:
        console.json({"tasks": tasks, "next": cursor})
        return 0
    if tasks:
        for line in task_table(tasks):
            console.line(line)
    else:
        console.note("no tasks" + (f" with status {args.status}" if args.status else ""))
    if cursor:
        console.note(f"more: add --after {cursor} (or --all)")
    return 0


def task_table(tasks: list[dict[str, Any]]) -> list[str]:
    """The readable form of the tasks of ``GET /tasks``."""
    rows = [
        [
            str(t.get("task_id")),
            str(t.get("agent")),
            str(t.get("status")),
            str(t.get("turn")),
            when(t.get("created_at")),
            str(t.get("parent_id") or "-"),
        ]
        for t in tasks
    ]
    return table(["TASK ID", "AGENT", "STATUS", "TURN", "CREATED", "PARENT"], rows)


def cmd_show(args: argparse.Namespace, console: Console) -> int:
    """``tasks show``."""
    task = common.client(args).get(path("tasks", args.task_id))
    if args.json:
        console.json(task)
        return 0
    for line in task_lines(task):
        console.line(line)
    return 0


def task_lines(task: dict[str, Any]) -> list[str]:
    """The readable form of ``GET /tasks/{id}``."""
    pairs = [
        ("task", str(task.get("task_id"))),
        ("agent", str(task.get("agent"))),
        ("status", str(task.get("status"))),
        ("turn", str(task.get("turn"))),
        ("created", when(task.get("created_at"))),
        ("updated", when(task.get("updated_at"))),
    ]
    if task.get("parent_id"):
        pairs.append(("parent", str(task["parent_id"])))
    if task.get("children"):
        pairs.append(("children", ", ".join(task["children"])))
    error = task.get("error")
    if error:
        pairs.append(("error", f"{error.get('code')}: {error.get('message')}"))
    if task.get("output") is not None:
        pairs.append(("output", short_value(task["output"])))
    lines = fields(pairs)
    hooks = task.get("pending_hooks") or []
    if hooks:
        lines.append("pending hooks:")
        rows = [
            [str(h.get("hook_id")), str(h.get("status")), when(h.get("expires_at")), h.get("title")]
            for h in hooks
        ]
        lines.extend("  " + r for r in table(["HOOK ID", "STATUS", "EXPIRES", "TITLE"], rows))
    return lines


def cmd_events(args: argparse.Namespace, console: Console) -> int:
    """``tasks events``."""
    api = common.client(args)
    if args.follow:
        follower = Follower(api, console, args.task_id, cursor=args.after, as_json=args.json)
        task = follower.until(TERMINAL, None)
        if not args.json:
            console.note(f"task {args.task_id} {task.get('status')} (turn {task.get('turn')})")
        return 0
    events: list[dict[str, Any]] = []
    cursor = args.after
    while True:
        page = api.get(path("tasks", args.task_id, "events"), {"after": cursor, "limit": PAGE})
        batch = page.get("events") or []
        events.extend(batch)
        if len(batch) < PAGE:
            break
        cursor = batch[-1]["id"]
    if args.json:
        console.json({"events": events, "next": events[-1]["id"] if events else args.after})
        return 0
    for event in events:
        console.line(event_line(event))
    if not events:
        console.note(f"no events{' after ' + args.after if args.after else ''}")
    return 0


def cmd_cancel(args: argparse.Namespace, console: Console) -> int:
    """``tasks cancel``."""
    answer = common.client(args).post(path("tasks", args.task_id, "cancel"))
    if args.json:
        console.json(answer)
        return 0
    others = [t for t in answer.get("cancelled") or [] if t != args.task_id]
    extra = f" and {len(others)} descendant task(s): {', '.join(others)}" if others else ""
    console.line(f"cancelled {args.task_id}{extra}")
    return 0


def cmd_steer(args: argparse.Namespace, console: Console) -> int:
    """``tasks steer``."""
    text = common.text_or_stdin(args.text, "TEXT")
    answer = common.client(args).post(path("tasks", args.task_id, "steer"), {"text": text})
    if args.json:
        console.json(answer)
        return 0
    console.line(f"queued for the next turn of {args.task_id}")
    return 0
