"""The Lua payload validator does exponential work on unions of recursive models: a sub-1 KB
payload holds Redis' single thread (every task, every tenant) for seconds; 64 KiB for minutes."""

from __future__ import annotations

import json
import time
from typing import Annotated, Literal, Union

from pydantic import BaseModel

from factorial_aws import App, Hook, HookRequestContext, PendingHook, hook, tool
from factorial_aws.testing import call, tool_calls_reply
from tests.functional.apps import after_tool, agent
from tests.functional.conftest import HarnessFactory


class A(BaseModel):
    kind: Literal["a"]
    kids: list[Union["A", "B"]] = []


class B(BaseModel):
    kind: Literal["b"]
    kids: list[Union["A", "B"]] = []


class Tree(Hook):
    root: A | B


def ask_tree(ctx: HookRequestContext) -> PendingHook[Tree]:
    return Tree.pending(ctx=ctx, title="Describe the tree")


@tool
def plant(n: int, tree: Annotated[Tree, hook.requires(ask_tree)]) -> str:
    """Plant a tree."""
    return f"planted {n}"


def test_resolve_validation_time_is_bounded_for_a_small_payload(
    make_harness: HarnessFactory,
) -> None:
    h = make_harness(
        App([agent("gardener", plant)]), after_tool(tool_calls_reply(call("plant", n=1)))
    )
    task_id = h.create("gardener", "plant")
    h.run_turns()
    (pending,) = h.task(task_id)["pending_hooks"]

    node = {"kind": "a", "kids": [{"kind": "a"}] * 20}
    for _ in range(12):
        node = {"kind": "a", "kids": [node]}
    body = json.dumps({"root": node, "extra": 1})  # invalid on purpose: the hook stays open
    assert len(body) < 1024

    started = time.monotonic()
    answer = h.resolve(pending["hook_id"], None, raw_body=body)
    elapsed = time.monotonic() - started

    assert answer.status == 422
    # one Lua script holds Redis for this long; a 64 KiB payload scales it to minutes
    assert elapsed < 0.5, f"validating a {len(body)}-byte payload blocked Redis {elapsed:.1f}s"
