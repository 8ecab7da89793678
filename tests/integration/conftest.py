"""A LocalStack on a real server (standalone and cluster) with a fake clock and a rule model."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from factorial_aws.agents.agent import App
from factorial_aws.core import ids
from factorial_aws.llm.base import ModelRequest, ModelResponse
from factorial_aws.local.stack import LocalStack
from factorial_aws.store.base import StoreSettings
from factorial_aws.testing import FakeClock, ScriptedModel

SECRET = b"integration-secret"
BASE = "http://127.0.0.1:9"


class RuleModel:
    """A model whose reply is a function of the request (tasks of a tree share one model)."""

    def __init__(self, rule: Callable[[ModelRequest], Any]) -> None:
        self.rule = rule
        self.requests: list[ModelRequest] = []

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        return await ScriptedModel(self.rule(request)).complete(request)


def token_for(hook_id: str) -> str:
    return ids.hook_token(SECRET, hook_id, 1)


StackFactory = Callable[..., LocalStack]


@pytest.fixture
def make_stack(redis_client: Any) -> Iterator[StackFactory]:
    stacks: list[LocalStack] = []

    def make(app: App, rule: Callable[[ModelRequest], Any], **settings: Any) -> LocalStack:
        stack = LocalStack(
            app=app,
            client=redis_client,
            model=RuleModel(rule),
            clock=FakeClock(),
            hook_secret=SECRET,
            public_base_url=BASE,
            settings=StoreSettings(**settings),
            fake_time=True,
        )
        stacks.append(stack)
        return stack

    yield make
    for s in stacks:
        s.stop()
