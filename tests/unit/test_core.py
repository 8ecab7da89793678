"""Core: ids carry their root, derivations are deterministic, tokens are never stored in clear,
the status table is consistent, and every error has its own stable code."""

import re

import pytest

from factorial_aws import errors
from factorial_aws.core import codec, ids
from factorial_aws.core.records import Message, TaskContext, ToolCall
from factorial_aws.core.status import TERMINAL, TRANSITIONS, WAITING, TaskStatus, can_transition

CODE = ids.hook_type_code("app.hooks.Approval")


def test_every_derived_id_carries_its_root_and_is_deterministic() -> None:
    root = ids.new_root_task_id()
    child = ids.child_task_id(root, "k1")
    grandchild = ids.child_task_id(child, "k1")
    session = ids.hook_session_id(child, "call_1", "send_wire")
    hook = ids.hook_id(session, "approval", b"s", CODE)
    wait = ids.wait_id(grandchild, "call_2")
    for derived in (child, grandchild, session, hook, wait):
        assert ids.root_of(derived) == root
        assert ids.is_valid_id(derived)
    # a hook, session or wait names its task: the store finds the task's keys without a read
    assert ids.task_of(hook) == ids.task_of(session) == child
    assert ids.task_of(wait) == grandchild and ids.task_of(child) == child
    assert ids.is_task_id(grandchild) and not ids.is_task_id(hook)
    assert ids.child_task_id(root, "k1") == child
    assert grandchild != child  # same key, different parent
    assert ids.hook_id(session, "approval", b"s", CODE) == hook
    assert ids.hook_id(session, "other", b"s", CODE) != hook
    # a hook id ends with its type's code: the API picks the validator without a lookup
    other = ids.hook_type_code("app.hooks.Budget")
    assert ids.type_code_of(hook) == CODE and len(CODE) == 8 and other != CODE
    assert ids.type_code_of(ids.hook_id(session, "approval", b"s", other)) == other
    assert (
        ids.is_hook_id(hook) and not ids.is_hook_id(session) and ids.type_code_of(session) is None
    )
    with pytest.raises(ValueError, match="not a hook type code"):
        ids.hook_id(session, "approval", b"s", "xyz")
    assert ids.new_root_task_id() != root


@pytest.mark.parametrize(
    "bad", ["", "t-short", "x-" + "a" * 26, "t-" + "a" * 26 + ".h123", "../etc"]
)
def test_root_of_rejects_foreign_ids(bad: str) -> None:
    with pytest.raises(ValueError, match="not a factorial_aws id"):
        ids.root_of(bad)


def test_hook_tokens_are_256_bit_derived_and_versioned() -> None:
    hid = ids.hook_id(ids.hook_session_id(ids.new_root_task_id(), "c", "t"), "p", b"s", CODE)
    t1 = ids.hook_token(b"secret", hid, 1)
    assert ids.hook_token(b"secret", hid, 1) == t1  # a replayed builder sends the same link
    assert ids.hook_token(b"secret", hid, 2) != t1  # rotation changes it
    assert ids.hook_token(b"other", hid, 1) != t1
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", t1)  # 32 bytes, url-safe
    assert ids.token_hash(t1) != t1 and len(ids.token_hash(t1)) == 64


def test_status_table_terminal_states_have_no_exit_and_waits_only_wake_or_cancel() -> None:
    assert set(TRANSITIONS) == set(TaskStatus)
    for status in TERMINAL:
        assert TRANSITIONS[status] == frozenset()
        assert status.terminal
    for status in WAITING:
        assert TRANSITIONS[status] == {TaskStatus.QUEUED, TaskStatus.CANCELLED}
    assert can_transition(TaskStatus.RUNNING, TaskStatus.WAITING_HOOK)
    assert not can_transition(TaskStatus.QUEUED, TaskStatus.COMPLETED)
    assert {s.value for s in TERMINAL} == {"completed", "failed", "cancelled"}


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


def test_error_codes_are_unique_and_snake_case() -> None:
    classes = [errors.FactorialError, *_subclasses(errors.FactorialError)]
    codes = [c.code for c in classes]  # type: ignore[attr-defined]
    assert len(codes) == len(set(codes)), sorted(codes)
    assert all(re.fullmatch(r"[a-z][a-z_]*", c) for c in codes)
    assert errors.ModelRetryableError.retryable and not errors.ModelError.retryable


def test_context_round_trips_through_the_codec() -> None:
    ctx = TaskContext(
        task_id=ids.new_root_task_id(),
        agent="a",
        messages=[
            Message.user("hi"),
            Message(role="assistant", tool_calls=(ToolCall(id="c1", name="x", arguments="{}"),)),
            Message.tool("c1", "ok"),
        ],
    )
    data = codec.encode(ctx)
    assert b'"v":1' in data
    assert codec.decode(TaskContext, data) == ctx
    assert codec.to_jsonable(ctx)["messages"][1]["tool_calls"][0]["id"] == "c1"
