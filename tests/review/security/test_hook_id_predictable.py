"""Hook ids are derived from public inputs only (task id, turn, call position, tool name and
arguments): whoever holds one hook link (which carries the task id) can compute the ids of the
task's other hooks and read their title, body and schema through the public describe route.
api_hooks.py claims hook ids are unguessable."""

from __future__ import annotations

import hashlib
import json

from factorial_aws import App
from factorial_aws.agents.hooks import hook_type_code
from factorial_aws.core import ids
from factorial_aws.testing import call, tool_calls_reply
from tests.functional.apps import Budget, after_tool, agent, wire
from tests.functional.conftest import HarnessFactory


def _predict(
    task_id: str, turn: int, index: int, tool: str, args: dict[str, object], param: str
) -> str:
    digest = hashlib.sha256(f"{tool}\x00{json.dumps(args, sort_keys=True)}".encode()).hexdigest()[
        :8
    ]
    session = ids.hook_session_id(task_id, f"call_{turn}_{index}_{digest}", tool)
    # everything public, and a guess at the one thing that is not: the deployment secret
    return ids.hook_id(session, param, b"", hook_type_code(Budget))


def test_a_hook_holder_cannot_derive_another_hook_id_of_the_task(
    make_harness: HarnessFactory,
) -> None:
    h = make_harness(
        App([agent("wirer", wire)]), after_tool(tool_calls_reply(call("wire", amount=7)))
    )
    task_id = h.create("wirer", "wire 7")
    h.run_turns()
    (first,) = h.task(task_id)["pending_hooks"]

    # what the first approver sees: the link (hook id, so the task id) and the public describe
    described = h.http("GET", f"/hooks/{first['hook_id']}", caller_arn=None).json()
    assert described["title"] == "Approve a payment of 7"
    leaked_task = described["task_id"]
    guess = _predict(leaked_task, 1, 0, "wire", {"amount": 7}, "budget")

    assert h.resolve(first["hook_id"], {"approved": True, "reviewer": "ann"}).status == 200
    h.run_turns()
    (second,) = h.task(task_id)["pending_hooks"]
    other = h.http("GET", f"/hooks/{guess}", caller_arn=None)
    assert guess != second["hook_id"] and other.status == 404, (
        f"predicted the second hook's id; describe shows {other.json().get('title')!r}"
    )
