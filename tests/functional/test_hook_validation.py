"""One validator: a resolve is validated by the hook's own pydantic type (patterns, multiples,
custom validators included) before anything is written; a hook type the deployment no longer
has is a clear 409; a resolve that comes before the commit registering its hook (the builder
POSTs it itself) is accepted (202) and applied when the hook registers."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Any

from pydantic import Field, field_validator

import handlers.api
from factorial_aws import App, Hook, HookRequestContext, PendingHook, hook, tool
from factorial_aws.agents.hooks import hook_type_code
from factorial_aws.aws.api import build_api
from factorial_aws.core import ids
from factorial_aws.testing import call, tool_calls_reply
from tests.functional.apps import Approval, after_tool, agent, nap, pay, pay_rule
from tests.functional.conftest import HarnessFactory
from tests.functional.harness import Answer, LambdaContext, http_event

RAN: list[dict[str, Any]] = []
EARLY: list[Answer] = []


class Code(Hook):
    code: str = Field(pattern="^[A-Z]{3}$")
    step: int = Field(default=5, multiple_of=5)

    @field_validator("code")
    @classmethod
    def not_reserved(cls, value: str) -> str:
        if value == "XXX":
            raise ValueError("XXX is reserved")
        return value


def ask_code(ctx: HookRequestContext) -> PendingHook[Code]:
    return Code.pending(ctx=ctx, title="Pick a code")


@tool
def book(n: int, code: Annotated[Code, hook.requires(ask_code)]) -> str:
    """Book with a code."""
    RAN.append(code.model_dump())
    return f"booked {n} as {code.code}"


def ask_and_answer(ctx: HookRequestContext) -> PendingHook[Code]:
    """A builder that resolves its own hook at once, over HTTP, before its turn commits."""
    pending = Code.pending(ctx=ctx, title="Pick a code")
    event = http_event(
        "POST",
        f"/hooks/{ctx.hook_id}/resolve",
        {"code": "ABC", "step": 10},
        headers={"X-Hook-Token": pending.token, "Idempotency-Key": "first"},
        caller_arn=None,
    )
    result = handlers.api.handler(event, LambdaContext())
    EARLY.append(Answer(int(result["statusCode"]), {}, result.get("body") or ""))
    return pending


@tool
def quick_book(n: int, code: Annotated[Code, hook.requires(ask_and_answer)]) -> str:
    """Book with a code its builder supplies itself."""
    RAN.append(code.model_dump())
    return f"booked {n} as {code.code}"


def _parked(make_harness: HarnessFactory) -> tuple[Any, str, str]:
    RAN.clear()
    h = make_harness(App([agent("booker", book)]), after_tool(tool_calls_reply(call("book", n=1))))
    task_id = h.create("booker", "book one")
    h.run_turns()
    (pending,) = h.task(task_id)["pending_hooks"]
    return h, task_id, pending["hook_id"]


def test_a_payload_the_hook_type_refuses_is_a_422_naming_the_field(
    make_harness: HarnessFactory,
) -> None:
    h, task_id, hook_id = _parked(make_harness)
    before = h.http("GET", f"/hooks/{hook_id}", caller_arn=None).json()
    for payload, problem in [
        ({"code": "nope"}, "$.code: String should match pattern '^[A-Z]{3}$'"),
        ({"code": "XXX"}, "$.code: Value error, XXX is reserved"),
        ({"code": "ABC", "step": 7}, "$.step: Input should be a multiple of 5"),
        ({"code": "ABC", "other": 1}, "$.other: Extra inputs are not permitted"),
        ([{"code": "ABC"}], "$: Input should be a valid dictionary or instance of Code"),
    ]:
        answer = h.resolve(hook_id, payload, caller_arn=None)
        assert (answer.status, answer.code) == (422, "hook_payload_invalid"), answer.text
        message = answer.json()["error"]["message"]
        assert message == f"payload does not match hook {hook_id}: {problem}"
    # nothing was written: the hook is open, the task parked, the tool never ran
    assert h.http("GET", f"/hooks/{hook_id}", caller_arn=None).json() == before
    assert h.task(task_id)["status"] == "waiting_hook" and RAN == []
    ok = h.resolve(hook_id, {"code": "ABC", "step": 10}, caller_arn=None)
    assert (ok.status, ok.json()["status"], ok.json()["task_resumed"]) == (200, "resolved", True)
    h.run_turns()
    assert h.task(task_id)["status"] == "completed" and RAN == [{"code": "ABC", "step": 10}]


def test_a_hook_type_the_deployment_removed_is_a_409_not_a_500(
    make_harness: HarnessFactory,
) -> None:
    h, task_id, hook_id = _parked(make_harness)
    control = dataclasses.replace(h.wiring.control, app=App([agent("napper", nap)]))
    api = build_api(control, require_iam=False)

    def post(token: str) -> Answer:
        event = http_event(
            "POST",
            f"/hooks/{hook_id}/resolve",
            {"code": "ABC"},
            headers={"X-Hook-Token": token},
            caller_arn=None,
        )
        result = api.resolve(event, LambdaContext())
        return Answer(int(result["statusCode"]), {}, result["body"])

    answer = post(h.token(hook_id))
    assert (answer.status, answer.code) == (409, "hook_type_unknown")
    assert (post("wrong").status, post("wrong").code) == (404, "hook_not_found")
    assert h.task(task_id)["status"] == "waiting_hook"
    (pending,) = h.task(task_id)["pending_hooks"]
    assert pending["status"] == "requested"
    # its description still answers: the schema comes from the type, which is gone, so it is {}
    described = api.resolve(
        http_event("GET", f"/hooks/{hook_id}", caller_arn=None), LambdaContext()
    )
    assert described["statusCode"] == 200 and json.loads(described["body"])["schema"] == {}
    shown = h.wiring.control.describe_hook(hook_id)  # this deployment still has the type
    assert set(shown.schema["properties"]) == {"code", "step"}


def test_a_builder_that_resolves_its_own_hook_over_http_completes_the_task(
    make_harness: HarnessFactory,
) -> None:
    RAN.clear()
    EARLY.clear()
    h = make_harness(
        App([agent("booker", quick_book)]),
        after_tool(tool_calls_reply(call("quick_book", n=2))),
    )
    task_id = h.create("booker", "book two")
    h.run_turns()
    (early,) = EARLY
    assert early.status == 202, early.text
    hook_id = early.json()["hook_id"]
    assert early.json() == {"hook_id": hook_id, "task_id": task_id, "status": "accepted"}
    task = h.task(task_id)
    assert (task["status"], task["output"]) == ("completed", "done: booked 2 as ABC")
    assert RAN == [{"code": "ABC", "step": 10}]  # the tool ran once, with the early payload
    # late duplicates answer as for any resolved hook: same key replays, another conflicts
    again = h.resolve(
        hook_id, {"code": "ABC", "step": 10}, headers={"Idempotency-Key": "first"}, caller_arn=None
    )
    assert (again.status, again.json()["status"]) == (200, "idempotent")
    other = h.resolve(hook_id, {"code": "XYZ"}, caller_arn=None)
    assert (other.status, other.code) == (409, "hook_already_resolved")
    assert h.http("GET", f"/hooks/{hook_id}", caller_arn=None).json()["status"] == "resolved"


def test_an_early_resolve_with_a_wrong_token_is_a_404_and_writes_nothing(
    make_harness: HarnessFactory,
) -> None:
    h = make_harness(App([agent("payments", pay)]), pay_rule)
    task_id = h.create("payments", "pay 42")  # no turn ran: no hook is registered
    session = ids.hook_session_id(task_id, "call-x", "pay")
    hook_id = ids.hook_id(session, "approval", h.secret, hook_type_code(Approval))
    payload = {"approved": True, "reviewer": "eve"}
    wrong = h.resolve(hook_id, payload, token=h.token(hook_id, 2), caller_arn=None)
    assert (wrong.status, wrong.code) == (404, "hook_not_found")
    assert h.http("GET", f"/hooks/{hook_id}", caller_arn=None).status == 404
    early = h.resolve(hook_id, payload, caller_arn=None)
    assert early.status == 202 and early.json()["status"] == "accepted"
    invalid = h.resolve(hook_id, {"approved": "maybe"}, caller_arn=None)
    assert invalid.status == 422  # validated by the type even before the hook registers
    assert h.resolve(hook_id, payload, caller_arn=None).code == "hook_already_resolved"


def test_the_openapi_document_describes_the_resolve_answers(make_harness: HarnessFactory) -> None:
    h = make_harness(App([agent("payments", pay)]), pay_rule)
    doc = h.http("GET", "/openapi.json", caller_arn=None).json()
    answers = doc["paths"]["/hooks/{hook_id}/resolve"]["post"]["responses"]
    ref = answers["202"]["content"]["application/json"]["schema"]["$ref"]
    accepted = doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert accepted["properties"]["status"]["const"] == "accepted"
    ok = answers["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert set(doc["components"]["schemas"][ok]["properties"]) == {
        "hook_id",
        "task_id",
        "status",
        "task_resumed",
    }
    assert {"400", "401", "404", "409", "410", "413", "422", "503"} <= set(answers)
    assert "hook_type_unknown" in answers["409"]["description"]
