"""The files ``factorial-aws init`` writes (``string.Template``: ``$name``, ``$stack``...)."""

from __future__ import annotations

APP_PY = '''\
"""$name: an agent whose refunds wait for a person's approval (a typed hook).

Locally:  factorial-aws dev app:app
Then:     factorial-aws run $name "Refund 12.50 USD on order A-1001"
"""

from __future__ import annotations

from typing import Annotated

from factorial_aws import (
    Agent,
    App,
    Hook,
    HookRequestContext,
    PendingHook,
    ToolResult,
    hook,
    tool,
)


class Approval(Hook):
    """What the approver sends back (the resolve payload is validated against it)."""

    approved: bool
    reviewer: str
    comment: str = ""


def ask_approver(
    ctx: HookRequestContext, order_id: str, amount_cents: int
) -> PendingHook[Approval]:
    """Describe the request. A real app would send ``pending.link`` to the approver here."""
    return Approval.pending(
        ctx=ctx,
        title=f"Refund {amount_cents / 100:.2f} USD on order {order_id}?",
        body="Reply with approved=true or false, and your name as reviewer.",
        timeout_s=86_400,
    )


@tool
def issue_refund(
    order_id: str,
    amount_cents: int,
    approval: Annotated[Approval, hook.requires(ask_approver)],
) -> str | ToolResult:
    """Refund an order once a person approves it."""
    if not approval.approved:
        return tool.fail(f"rejected by {approval.reviewer}: {approval.comment}")
    # Call your payment system here; pass ToolContext.idempotency_key on to it.
    return f"refunded {amount_cents} cents on order {order_id}, approved by {approval.reviewer}"


agent = Agent(
    name="$name",
    instructions="You handle refund requests. Use issue_refund to refund an order.",
    model="gpt-4.1-mini",
    tools=[issue_refund],
)

app = App(agents=[agent])
'''

TEST_APP_PY = '''\
"""The agent, driven turn by turn through the pure engine with a scripted model: no server,
no store, no network. Each ``run_turn`` returns what the runtime would commit."""

from __future__ import annotations

import asyncio

from factorial_aws.core import ids
from factorial_aws.core.outcomes import Complete, ParkHooks, TurnOutcome
from factorial_aws.core.records import HookStatus, HookUpdate, Message, TaskContext, TurnInput
from factorial_aws.runtime.env import TurnEnv
from factorial_aws.runtime.turn import run_turn
from factorial_aws.testing import FakeClock, ScriptedModel

from app import agent

call = ScriptedModel.call


def turn(model: ScriptedModel, context: TaskContext, inp: TurnInput | None = None) -> TurnOutcome:
    env = TurnEnv(
        model=model,
        clock=FakeClock(),
        hook_secret=b"test-secret",
        public_base_url="https://agents.example",
    )
    return asyncio.run(run_turn(agent, context, inp or TurnInput(), env))


def resolved(hook_id: str, **payload: object) -> TurnInput:
    update = HookUpdate(hook_id=hook_id, status=HookStatus.RESOLVED, payload=payload)
    return TurnInput(hook_updates=(update,))


def new_task(text: str) -> TaskContext:
    return TaskContext(
        task_id=ids.new_root_task_id(), agent=agent.name, messages=[Message.user(text)]
    )


def test_the_refund_waits_for_approval_then_the_task_completes() -> None:
    model = ScriptedModel(
        [call("issue_refund", order_id="A-1001", amount_cents=1250)], "Refunded A-1001."
    )
    parked = turn(model, new_task("Refund 12.50 USD on order A-1001"))
    assert isinstance(parked, ParkHooks)
    (request,) = parked.requests
    assert request.title == "Refund 12.50 USD on order A-1001?"
    assert set(request.schema_["required"]) == {"approved", "reviewer"}

    done = turn(model, parked.context, resolved(request.hook_id, approved=True, reviewer="ana"))
    assert isinstance(done, Complete)
    assert done.output == "Refunded A-1001."
    tool_messages = [m.content for m in done.context.messages if m.role == "tool"]
    assert tool_messages == ["refunded 1250 cents on order A-1001, approved by ana"]


def test_a_rejection_reaches_the_model_as_a_tool_failure() -> None:
    model = ScriptedModel([call("issue_refund", order_id="A-2", amount_cents=99)], "Not refunded.")
    parked = turn(model, new_task("Refund order A-2"))
    assert isinstance(parked, ParkHooks)
    no = resolved(parked.requests[0].hook_id, approved=False, reviewer="bo", comment="duplicate")
    done = turn(model, parked.context, no)
    assert isinstance(done, Complete)
    (tool_message,) = [m.content or "" for m in done.context.messages if m.role == "tool"]
    assert "rejected by bo: duplicate" in tool_message
'''

PYPROJECT_TOML = """\
# Tool settings only: the Lambda functions' dependencies are in requirements.txt.
[tool.pytest.ini_options]
pythonpath = ["."]
testpaths = ["tests"]

[tool.ruff]
line-length = 100

[tool.ruff.lint.isort]
known-first-party = ["app"]
"""

REQUIREMENTS_TXT = """\
# For development (pytest, factorial-aws dev). sam build does not read this file: each function's
# dependencies are infra/lambda/requirements-<function>.txt, and the package itself is installed
# from FACTORIAL_PACKAGE. factorial-aws is not on PyPI: the line below is where
# `factorial-aws init` found it (a source tree or a VCS URL); use it for FACTORIAL_PACKAGE too.
$requirement
"""

SAMCONFIG_TOML = """\
# SAM CLI configuration: `sam build && sam deploy --guided` (see README.md).
version = 0.1

[default.global.parameters]
# <= 52 characters: Scheduler names are <stack>-wakes and <stack>-maintenance (<= 64).
stack_name = "$stack"
# Placeholder: the region you deploy to.
region = "us-east-1"

[default.build.parameters]
template_file = "template.yaml"
# No manifest and no cache: infra/lambda/Makefile builds each function (see README.md).

[default.validate.parameters]
template_file = "template.yaml"
lint = true

[default.deploy.parameters]
capabilities = "CAPABILITY_IAM"
confirm_changeset = true
resolve_s3 = true
parameter_overrides = "Stage=\\"dev\\" AppImport=\\"app:app\\""
"""

GITIGNORE = """\
.venv/
__pycache__/
.pytest_cache/
.aws-sam/
.factorial/
"""

README_MD = """\
# $name

An agent built with factorial_aws (the `factorial-aws` package): durable AI agents on
AWS serverless. `app.py` holds one agent whose `issue_refund` tool waits for a person's approval
(a typed hook): the task parks at zero cost until the hook is resolved over HTTPS.

## Files

| file | what |
|---|---|
| `app.py` | the agent, its hook-gated tool, and `app = App(...)` |
| `tests/test_app.py` | the agent driven by a scripted model through the one-turn engine |
| `template.yaml`, `handlers/` | the SAM stack and its Lambda entry points$deploy_note |
| `infra/lambda/` | the functions' build: Makefile, script, requirement sets (Python 3.12) |
| `samconfig.toml`, `requirements.txt` | SAM settings; what development needs |

## Develop

```sh
python -m venv .venv && . .venv/bin/activate
pip install $install pytest
pytest                                   # parks on the hook, resolves it, completes
factorial-aws dev app:app                # the whole stack on 127.0.0.1:8000
factorial-aws run $name "Refund 12.50 USD on order A-1001"
```

$source_note`factorial-aws dev` uses OpenAI when `OPENAI_API_KEY` is set, else a stub model that
calls one tool (with the arguments written as JSON in your message) and finishes. It keeps its
state in `.factorial/` (`--ephemeral`: nothing) and prints each hook's link; resolve one with

```sh
factorial-aws hooks show '<link>'
factorial-aws hooks resolve '<link>' --data '{"approved": true, "reviewer": "ana"}'
```

## Deploy

```sh
export FACTORIAL_PACKAGE=/path/to/factorial_aws   # where the functions install it from (not PyPI)
sam build                                # needs python3.12 on PATH, or LAMBDA_PYTHON=/path/to/it
sam deploy --guided
export FACTORIAL_API_URL=https://<api id>.execute-api.<region>.amazonaws.com
factorial-aws run $name "Refund order A-1001"
```

Requests to a deployed API are signed with SigV4 using your AWS credentials (the task routes
need IAM; hook links do not). `--url URL` overrides `FACTORIAL_API_URL`.
"""

NO_SOURCE_REQUIREMENT = (
    "# factorial-aws @ <path or VCS URL, e.g. git+https://host/factorial_aws@v0.1.0>"
)

NO_SOURCE_NOTE = """\
`FACTORIAL_AWS` above stands for where you got factorial_aws (it is not on PyPI): a source
tree's path (`-e /path/to/factorial_aws`) or a VCS URL (`'factorial-aws @ git+https://...'`); put
the same in requirements.txt, and the path or URL in `FACTORIAL_PACKAGE` for `sam build`.

"""

NO_TEMPLATE_NOTE = """\

## template.yaml and handlers/

This copy of factorial_aws is installed without its repository, which holds the SAM template
(`template.yaml`), the Lambda entry points (`handlers/`) and their build (`infra/lambda/`). Copy
the three from the factorial_aws repository into this directory before `sam build`
(docs/deploy.md there explains every parameter; set `AppImport` to `app:app`).
"""
