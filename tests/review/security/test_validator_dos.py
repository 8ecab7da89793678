"""A hook payload is validated by the hook's own pydantic type, in the process serving the
resolve (no longer by a Lua validator holding Redis' single thread). pydantic validates a plain
union by trying every member and collecting every member's errors, so a union whose members nest
into it again takes time exponential in the payload's depth (a 645-byte payload: 0.5 s; a few KiB:
minutes of a resolver's CPU). Such a hook type is refused when the App is built; a discriminated
union validates in linear time and still answers 422 naming the field."""

from __future__ import annotations

import json
from typing import Annotated, Literal, Union

import pytest
from pydantic import BaseModel, Field

from factorial_aws import App, Hook, HookRequestContext, PendingHook, hook, tool
from factorial_aws.agents.hooks import hook_type_code
from factorial_aws.errors import AgentDefinitionError
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


class C(BaseModel):
    kind: Literal["a"]
    kids: list[Annotated[Union["C", "D"], Field(discriminator="kind")]] = []


class D(BaseModel):
    kind: Literal["b"]
    kids: list[Annotated[Union["C", "D"], Field(discriminator="kind")]] = []


class SafeTree(Hook):
    root: Annotated[C | D, Field(discriminator="kind")]


def ask_safe_tree(ctx: HookRequestContext) -> PendingHook[SafeTree]:
    return SafeTree.pending(ctx=ctx, title="Describe the tree")


@tool
def plant_safely(n: int, tree: Annotated[SafeTree, hook.requires(ask_safe_tree)]) -> str:
    """Plant a tree."""
    return f"planted {n} with {len(tree.root.kids)} branches"


def _payload(depth: int, **extra: object) -> str:
    node: dict[str, object] = {"kind": "a", "kids": [{"kind": "a"}] * 20}
    for _ in range(depth):
        node = {"kind": "a", "kids": [node]}
    return json.dumps({"root": node, **extra})


def test_a_hook_type_whose_undiscriminated_union_recurses_is_refused() -> None:
    with pytest.raises(
        AgentDefinitionError, match=r"hook type Tree .*A\.kids\.items.*discriminator"
    ):
        App([agent("gardener", plant)])


def test_a_discriminated_recursive_union_answers_422_by_field_and_resolves(
    make_harness: HarnessFactory,
) -> None:
    h = make_harness(
        App([agent("gardener", plant_safely)]),
        after_tool(tool_calls_reply(call("plant_safely", n=1))),
    )
    task_id = h.create("gardener", "plant")
    h.run_turns()
    (pending,) = h.task(task_id)["pending_hooks"]

    body = _payload(12, extra=1)  # the shape that took the undiscriminated union 0.5 s
    assert len(body) < 1024
    answer = h.resolve(pending["hook_id"], None, raw_body=body)
    assert (answer.status, answer.code) == (422, "hook_payload_invalid")
    assert "$.extra: Extra inputs are not permitted" in answer.json()["error"]["message"]
    deep = _payload(60).replace('"a"}', '"c"}', 1)  # one bad leaf, 60 levels down
    answer = h.resolve(pending["hook_id"], None, raw_body=deep)
    message = answer.json()["error"]["message"]
    assert answer.status == 422 and "$.root." in message and "tag 'c'" in message
    assert h.task(task_id)["status"] == "waiting_hook"  # nothing written
    assert h.resolve(pending["hook_id"], None, raw_body=_payload(12)).status == 200
    h.run_turns()
    assert h.task(task_id)["status"] == "completed"


class Node(BaseModel):
    value: int | str
    next: Node | None = None


class Chain(Hook):
    head: Node
    kind: Literal["x"] | int = "x"


def ask_chain(ctx: HookRequestContext) -> PendingHook[Chain]:
    return Chain.pending(ctx=ctx, title="A chain")


@tool
def link(chain: Annotated[Chain, hook.requires(ask_chain)]) -> str:
    """Link."""
    return "linked"


def test_recursion_through_an_optional_and_plain_unions_are_accepted() -> None:
    # `Node | None` recurses through one member only, and `int | str` does not recurse:
    # both validate in linear time
    app = App([agent("linker", link)])
    assert app.hook_type(f"t-{'a' * 26}.h{'0' * 16}{hook_type_code(Chain)}") is Chain
