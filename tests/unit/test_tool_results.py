"""Normalization of tool returns into ``ToolResult`` (factorial_aws.agents.results)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Annotated

import pytest
from pydantic import BaseModel

from factorial_aws.agents.results import (
    Hidden,
    ToolResult,
    error_result,
    normalize_return,
    normalize_value,
    timeout_result,
)
from factorial_aws.agents.tools import tool
from factorial_aws.agents.waits import wait
from factorial_aws.errors import InvalidInputError


class Credentials(BaseModel):
    user: str
    password: Annotated[str, Hidden]


class Server(BaseModel):
    host: str
    credentials: Credentials
    api_key: Annotated[str | None, Hidden()] = None


class Fleet(BaseModel):
    servers: list[Server]
    by_region: dict[str, Credentials]
    owner: Credentials | None = None


@dataclasses.dataclass
class Point:
    x: int
    label: str


def _content(result: ToolResult) -> object:
    return json.loads(result.content)


@pytest.mark.parametrize(
    ("value", "content", "expected_value"),
    [
        ("sent 100 to FR76", "sent 100 to FR76", "sent 100 to FR76"),
        ("", "", ""),
        (None, "null", None),
        ({"b": 1, "a": "é"}, '{"b":1,"a":"é"}', {"b": 1, "a": "é"}),
        ([1, "two", None], '[1,"two",null]', [1, "two", None]),
        (42, "42", 42),
        (True, "true", True),
        (Point(1, "p"), '{"x":1,"label":"p"}', {"x": 1, "label": "p"}),
    ],
)
def test_plain_values(value: object, content: str, expected_value: object) -> None:
    result = normalize_value(value)
    assert result == ToolResult(status="ok", content=content, value=expected_value)


def test_unserializable_values_inside_a_dict_fall_back_to_str() -> None:
    when = datetime(2024, 5, 1, tzinfo=UTC)
    marker = object()
    result = normalize_value({"when": when, "what": marker})
    assert result.value == {"when": "2024-05-01T00:00:00Z", "what": str(marker)}
    assert _content(result) == result.value


def test_other_objects_become_their_str() -> None:
    class Ticket:
        def __str__(self) -> str:
            return "ticket #7"

    assert normalize_value(Ticket()) == ToolResult(
        status="ok", content="ticket #7", value="ticket #7"
    )


def test_hidden_field_at_depth_two_is_in_value_but_not_in_content() -> None:
    server = Server(host="db1", credentials=Credentials(user="ann", password="s3cret"), api_key="k")
    result = normalize_value(server)
    assert result.value == {
        "host": "db1",
        "credentials": {"user": "ann", "password": "s3cret"},
        "api_key": "k",
    }
    assert _content(result) == {"host": "db1", "credentials": {"user": "ann"}}
    assert "s3cret" not in result.content
    assert "password" not in result.content


def test_hidden_fields_inside_lists_dicts_and_optionals_of_models() -> None:
    creds = Credentials(user="ann", password="pw1")
    fleet = Fleet(
        servers=[
            Server(host="a", credentials=creds),
            Server(host="b", credentials=Credentials(user="bob", password="pw2"), api_key="k2"),
        ],
        by_region={"eu": Credentials(user="eve", password="pw3")},
        owner=Credentials(user="own", password="pw4"),
    )
    result = normalize_value(fleet)
    assert _content(result) == {
        "servers": [
            {"host": "a", "credentials": {"user": "ann"}},
            {"host": "b", "credentials": {"user": "bob"}},
        ],
        "by_region": {"eu": {"user": "eve"}},
        "owner": {"user": "own"},
    }
    assert result.value["servers"][1] == {
        "host": "b",
        "credentials": {"user": "bob", "password": "pw2"},
        "api_key": "k2",
    }
    for secret in ("pw1", "pw2", "pw3", "pw4", "k2"):
        assert secret not in result.content
        assert secret in json.dumps(result.value)


def test_a_returned_list_of_models_hides_fields_in_every_item() -> None:
    result = normalize_value(
        [Credentials(user="a", password="x"), Credentials(user="b", password="y")]
    )
    assert _content(result) == [{"user": "a"}, {"user": "b"}]
    assert result.value == [{"user": "a", "password": "x"}, {"user": "b", "password": "y"}]


def test_tool_result_passes_through_unchanged() -> None:
    original = ToolResult(status="fail", content="nope", value={"k": 1})
    assert normalize_return(original) is original


@pytest.mark.parametrize(
    "instruction",
    [
        wait.sleep(seconds=5),
        wait.cron("0 9 * * 1", tz="Europe/Paris", data={"ticker": "ACME"}),
        wait.children(["t-1", "t-2"], join="any"),
    ],
)
def test_wait_instructions_pass_through_unchanged(instruction: object) -> None:
    assert normalize_return(instruction) is instruction


def test_other_returns_are_normalized_as_values() -> None:
    assert normalize_return({"a": 1}) == ToolResult(status="ok", content='{"a":1}', value={"a": 1})


def test_an_exception_becomes_an_error_without_traceback() -> None:
    try:
        raise ValueError("bad iban")
    except ValueError as exc:
        result = error_result(exc)
    assert result == ToolResult(
        status="error",
        content="error: ValueError: bad iban",
        value={"error": {"type": "ValueError", "message": "bad iban"}},
    )
    assert "Traceback" not in result.content


def test_a_framework_error_reports_its_code() -> None:
    result = error_result(InvalidInputError("amount must be positive"))
    assert result.content == "error: invalid_input: amount must be positive"
    assert result.value == {
        "error": {"code": "invalid_input", "message": "amount must be positive"}
    }


def test_an_error_message_string() -> None:
    result = error_result("ledger unavailable")
    assert result.status == "error"
    assert result.content == "error: ledger unavailable"
    assert result.value["error"]["message"] == "ledger unavailable"


def test_an_exception_without_message_still_names_its_type() -> None:
    assert error_result(KeyError()).content == "error: KeyError"


def test_timeout_result_names_the_tool_and_the_limit() -> None:
    result = timeout_result("send_wire", 30.0)
    assert result.status == "error"
    assert "send_wire" in result.content
    assert "timed out after 30 s" in result.content


def test_tool_ok_fail_and_error_builders() -> None:
    ok = tool.ok(Credentials(user="ann", password="pw"))
    assert ok.status == "ok"
    assert ok.is_ok
    assert _content(ok) == {"user": "ann"}
    assert ok.value == {"user": "ann", "password": "pw"}
    assert tool.ok() == ToolResult(status="ok", content="null", value=None)

    fail = tool.fail("rejected by bob")
    assert fail.status == "fail"
    assert fail.content == "rejected by bob"
    assert not fail.is_ok

    err = tool.error(RuntimeError("ledger down"))
    assert err == error_result(RuntimeError("ledger down"))
    assert err.content == "error: RuntimeError: ledger down"
    assert tool.error("boom").content == "error: boom"
