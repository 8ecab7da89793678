"""A builder that POSTs its own resolve to the dev server, over HTTP, while its turn is still
running: the resolve comes before the commit that registers the hook, is accepted (202) and
applied when the hook registers, and the task completes without anyone resolving it again."""

from __future__ import annotations

import json
import threading
import urllib.request
from typing import Annotated

from factorial_aws import App, Hook, HookRequestContext, PendingHook, hook, tool
from factorial_aws.testing import call, tool_calls_reply
from tests.functional.apps import after_tool, agent

ANSWERS: list[tuple[int, dict[str, object]]] = []
POSTED = threading.Event()


class Receipt(Hook):
    reference: str


def register_and_test(ctx: HookRequestContext) -> PendingHook[Receipt]:
    """Like a provider firing a test delivery the moment its webhook is registered."""
    pending = Receipt.pending(ctx=ctx, title="Wait for the receipt")
    request = urllib.request.Request(
        pending.submit_url,
        data=json.dumps({"reference": "R-1"}).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "X-Hook-Token": pending.token},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        ANSWERS.append((answer.status, json.loads(answer.read())))
    POSTED.set()
    return pending


@tool
def charge(amount: int, receipt: Annotated[Receipt, hook.awaits(register_and_test)]) -> str:
    """Charge once the provider sends its receipt."""
    return f"charged {amount}, receipt {receipt.reference}"


def test_a_builders_own_resolve_over_http_completes_the_task(serve) -> None:
    ANSWERS.clear()
    POSTED.clear()
    api = serve(
        App([agent("biller", charge)]), after_tool(tool_calls_reply(call("charge", amount=5)))
    )
    task_id = api.create("biller", "charge 5")
    # no other request while the builder's is served: the dev server's resolvers do not yet
    # isolate concurrent requests (issue 10, item 5)
    assert POSTED.wait(timeout=30), api.log()
    done = api.wait(task_id)
    assert done["status"] == "completed", api.log()
    assert done["output"] == "done: charged 5, receipt R-1"
    ((status, body),) = ANSWERS
    assert (status, body["status"], body["task_id"]) == (202, "accepted", task_id)
    assert api.hook(str(body["hook_id"]))["status"] == "resolved"
