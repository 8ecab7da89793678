"""The JSON schema and argument validation of ``@tool`` (factorial_aws.agents.schema)."""

from __future__ import annotations

import enum
import importlib.util
import sys
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

import pytest
from pydantic import BaseModel, Field

from factorial_aws.agents.context import ToolContext
from factorial_aws.agents.schema import InvalidToolArgumentsError, build_args_model
from factorial_aws.agents.tools import tool
from factorial_aws.errors import InvalidInputError, ToolDefinitionError


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Address(BaseModel):
    street: str
    city: str = "Paris"


class Customer(BaseModel):
    name: str
    address: Address
    tags: list[str] = []
    nickname: str | None = None


def _walk(node: Any) -> list[dict[str, Any]]:
    """Every dict inside a schema (depth first)."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found.extend(_walk(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_walk(value))
    return found


def _null_count(prop: dict[str, Any]) -> int:
    return sum(1 for sub in prop.get("anyOf", []) if sub == {"type": "null"})


# --- schema per type ------------------------------------------------------------------------


def test_scalars_and_defaults_give_the_openai_parameters_shape() -> None:
    @tool
    def send_wire(amount_cents: int, iban: str, urgent: bool = False, fee: float = 0.5) -> str:
        """Send a wire."""
        return ""

    assert send_wire.parameters == {
        "type": "object",
        "properties": {
            "amount_cents": {"type": "integer"},
            "iban": {"type": "string"},
            "urgent": {"type": "boolean", "default": False},
            "fee": {"type": "number", "default": 0.5},
        },
        "required": ["amount_cents", "iban"],
        "additionalProperties": False,
    }


def test_optional_union_and_literal() -> None:
    @tool
    def search(
        query: str | None,
        limit: Optional[int] = None,  # noqa: UP045 - the typing spelling must work too
        key: Union[int, str] = 0,  # noqa: UP007
        order: Literal["asc", "desc"] = "asc",
    ) -> str:
        return ""

    props = search.parameters["properties"]
    assert props["query"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert props["limit"] == {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None}
    assert props["key"]["anyOf"] == [{"type": "integer"}, {"type": "string"}]
    assert props["order"]["enum"] == ["asc", "desc"]
    assert search.parameters["required"] == ["query"]
    assert search.parse_arguments('{"query": null, "key": "k7", "order": "desc"}') == {
        "query": None,
        "limit": None,
        "key": "k7",
        "order": "desc",
    }


def test_enum_list_and_dict() -> None:
    @tool
    def paint(color: Color, sizes: list[int], stock: dict[str, int]) -> str:
        return ""

    params = paint.parameters
    assert params["properties"]["color"] == {"$ref": "#/$defs/Color"}
    assert params["$defs"]["Color"] == {"enum": ["red", "blue"], "type": "string"}
    assert params["properties"]["sizes"] == {"type": "array", "items": {"type": "integer"}}
    assert params["properties"]["stock"] == {
        "type": "object",
        "additionalProperties": {"type": "integer"},
    }
    args = paint.parse_arguments('{"color": "blue", "sizes": [1, 2], "stock": {"a": 3}}')
    assert args == {"color": Color.BLUE, "sizes": [1, 2], "stock": {"a": 3}}
    assert args["color"] is Color.BLUE


def test_nested_models_go_through_defs_and_parse_into_instances() -> None:
    @tool
    def register(customer: Customer) -> str:
        return ""

    params = register.parameters
    assert params["properties"]["customer"] == {"$ref": "#/$defs/Customer"}
    assert params["$defs"]["Customer"]["properties"]["address"] == {"$ref": "#/$defs/Address"}
    assert params["$defs"]["Address"]["required"] == ["street"]
    assert not [d for d in _walk(params) if "title" in d]
    args = register.parse_arguments('{"customer": {"name": "Ann", "address": {"street": "Main"}}}')
    customer = args["customer"]
    assert isinstance(customer, Customer)
    assert customer.address == Address(street="Main", city="Paris")


def test_annotated_string_and_field_descriptions() -> None:
    @tool
    def transfer(
        iban: Annotated[str, "the account to credit"],
        amount: Annotated[int, Field(description="in cents", ge=1)],
        color: Annotated[Color, "paint color"] = Color.RED,
    ) -> str:
        return ""

    props = transfer.parameters["properties"]
    assert props["iban"] == {"type": "string", "description": "the account to credit"}
    assert props["amount"] == {"type": "integer", "description": "in cents", "minimum": 1}
    assert props["color"]["description"] == "paint color"
    with pytest.raises(InvalidToolArgumentsError, match="amount"):
        transfer.parse_arguments('{"iban": "FR76", "amount": 0}')


def test_a_property_named_title_is_kept_while_schema_titles_are_dropped() -> None:
    @tool
    def create_ticket(title: str, body: str = "") -> str:
        return ""

    assert set(create_ticket.parameters["properties"]) == {"title", "body"}
    assert create_ticket.parameters["required"] == ["title"]


def test_parameters_that_shadow_basemodel_methods_work() -> None:
    @tool
    def run_query(schema: str, json: bool = False) -> str:
        return ""

    assert set(run_query.parameters["properties"]) == {"schema", "json"}
    assert run_query.parse_arguments('{"schema": "public", "json": true}') == {
        "schema": "public",
        "json": True,
    }


def test_tool_context_parameter_is_not_in_the_schema_nor_the_arguments() -> None:
    @tool
    def lookup(ctx: ToolContext, ticker: str) -> str:
        return ctx.task_id + ticker

    assert lookup.context_param == "ctx"
    assert set(lookup.parameters["properties"]) == {"ticker"}
    assert lookup.parameters["required"] == ["ticker"]
    assert lookup.parse_arguments('{"ticker": "ACME"}') == {"ticker": "ACME"}
    with pytest.raises(InvalidToolArgumentsError, match="ctx"):
        lookup.parse_arguments('{"ticker": "ACME", "ctx": {}}')


# --- strict mode ----------------------------------------------------------------------------


def _strict_tool() -> Any:
    @tool(strict=True)
    def onboard(
        customer: Customer,
        backups: list[Address],
        color: Color = Color.RED,
        note: str | None = None,
        retries: Annotated[int, "how many times"] = 3,
    ) -> str:
        return ""

    return onboard


def test_strict_schema_closes_every_object_requires_everything_and_has_no_default() -> None:
    params = _strict_tool().parameters
    objects = [d for d in _walk(params) if d.get("type") == "object" or "properties" in d]
    assert len(objects) == 3  # the arguments, Customer, Address
    for obj in objects:
        assert obj["additionalProperties"] is False
        assert obj["required"] == list(obj["properties"])
    assert not [d for d in _walk(params) if "default" in d]
    assert not [d for d in _walk(params) if "title" in d]


def test_strict_schema_makes_optional_and_defaulted_fields_nullable_once() -> None:
    params = _strict_tool().parameters
    props = params["properties"]
    assert props["customer"] == {"$ref": "#/$defs/Customer"}
    assert props["color"] == {"anyOf": [{"$ref": "#/$defs/Color"}, {"type": "null"}]}
    assert props["note"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert props["retries"] == {
        "anyOf": [{"type": "integer"}, {"type": "null"}],
        "description": "how many times",
    }
    customer = params["$defs"]["Customer"]["properties"]
    assert customer["tags"] == {
        "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]
    }
    assert _null_count(customer["nickname"]) == 1
    assert params["$defs"]["Address"]["properties"]["city"] == {
        "anyOf": [{"type": "string"}, {"type": "null"}]
    }


def test_strict_null_for_a_defaulted_field_means_the_default_at_every_depth() -> None:
    onboard = _strict_tool()
    args = onboard.parse_arguments(
        '{"customer": {"name": "Ann", "address": {"street": "Main", "city": null},'
        ' "tags": null, "nickname": null},'
        ' "backups": [{"street": "Side", "city": null}],'
        ' "color": null, "note": null, "retries": null}'
    )
    assert args["color"] is Color.RED
    assert args["note"] is None
    assert args["retries"] == 3
    assert args["customer"].address.city == "Paris"
    assert args["customer"].tags == []
    assert args["backups"] == [Address(street="Side", city="Paris")]


class Card(BaseModel):
    kind: Literal["card"]
    last4: str
    save: bool = False


class Transfer(BaseModel):
    kind: Literal["transfer"]
    iban: str
    instant: bool = False


def test_strict_discriminated_union_uses_any_of_and_defaults_nulls_in_the_chosen_model() -> None:
    @tool(strict=True)
    def pay(method: Annotated[Card | Transfer, Field(discriminator="kind")]) -> str:
        return ""

    assert pay.parameters["properties"]["method"] == {
        "anyOf": [{"$ref": "#/$defs/Card"}, {"$ref": "#/$defs/Transfer"}]
    }
    assert not [d for d in _walk(pay.parameters) if "oneOf" in d or "discriminator" in d]
    args = pay.parse_arguments('{"method": {"kind": "transfer", "iban": "FR76", "instant": null}}')
    assert args == {"method": Transfer(kind="transfer", iban="FR76", instant=False)}


def test_null_for_a_required_field_is_rejected_in_strict_mode() -> None:
    with pytest.raises(InvalidToolArgumentsError, match=r"customer\.name"):
        _strict_tool().parse_arguments(
            '{"customer": {"name": null, "address": {"street": "Main", "city": null},'
            ' "tags": null, "nickname": null}, "backups": [],'
            ' "color": null, "note": null, "retries": null}'
        )


def test_null_for_a_defaulted_field_is_rejected_outside_strict_mode() -> None:
    @tool
    def retry(times: int = 3) -> str:
        return ""

    assert retry.parse_arguments("{}") == {"times": 3}
    with pytest.raises(InvalidToolArgumentsError, match="times"):
        retry.parse_arguments('{"times": null}')


def test_strict_mode_rejects_a_free_form_dict_at_definition() -> None:
    with pytest.raises(ToolDefinitionError, match=r"strict mode.*'stock'"):

        @tool(strict=True)
        def restock(stock: dict[str, int]) -> str:
            return ""


# --- definition errors ----------------------------------------------------------------------


def test_missing_annotation_names_the_tool_and_the_parameter() -> None:
    def send_wire(amount_cents: int, iban) -> str:  # type: ignore[no-untyped-def]
        return ""

    with pytest.raises(ToolDefinitionError, match="tool 'send_wire': parameter 'iban'"):
        tool(send_wire)


@pytest.mark.parametrize("signature", ["*rest: int", "**extra: int"])
def test_var_args_are_rejected_naming_the_parameter(signature: str) -> None:
    namespace: dict[str, Any] = {}
    exec(f"def bulk(a: int, {signature}) -> str:\n    return ''", namespace)
    with pytest.raises(ToolDefinitionError, match=r"tool 'bulk': parameter '(rest|extra)'"):
        tool(namespace["bulk"])


class Socket:
    """A type pydantic has no schema for."""


def test_a_type_without_a_schema_is_rejected_naming_the_parameter() -> None:
    def connect(host: str, sock: Socket) -> str:
        return ""

    with pytest.raises(ToolDefinitionError, match="tool 'net': parameter 'sock'"):
        tool(name="net")(connect)


def test_an_unresolvable_postponed_annotation_is_rejected_naming_the_parameter() -> None:
    # Through @tool the hook compiler reports it first; the schema builder must name it too.
    namespace: dict[str, Any] = {}
    source = (
        "from __future__ import annotations\ndef ship(n: int, box: Crate) -> str:\n    return ''"
    )
    exec(compile(source, "<ship>", "exec", dont_inherit=True), namespace)
    with pytest.raises(ToolDefinitionError, match=r"tool 'ship': parameter 'box'.*Crate"):
        build_args_model(namespace["ship"], "ship", exclude=set())


# --- argument errors ------------------------------------------------------------------------


@tool
def _wire(amount_cents: int, iban: str, memo: str = "") -> str:
    return ""


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"amount_cents": 1', "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"amount_cents": "ten", "iban": "FR76"}', "amount_cents: .*integer"),
        ('{"amount_cents": 1, "iban": "FR76", "currency": "EUR"}', "currency: unknown argument"),
        ('{"amount_cents": 1}', "iban: Field required"),
        ("", "amount_cents: Field required; iban: Field required"),
    ],
)
def test_bad_arguments_raise_a_short_invalid_tool_arguments_error(raw: str, expected: str) -> None:
    with pytest.raises(InvalidToolArgumentsError, match=expected) as info:
        _wire.parse_arguments(raw)
    assert isinstance(info.value, InvalidInputError)
    assert info.value.code == "invalid_tool_arguments"
    assert "Traceback" not in info.value.message
    assert len(info.value.message) < 300


def test_empty_arguments_mean_no_arguments() -> None:
    @tool
    def ping(times: int = 1) -> str:
        return ""

    assert ping.parse_arguments("") == {"times": 1}
    assert ping.parameters["required"] == []


# --- postponed annotations ------------------------------------------------------------------


def _load_future_tools() -> Any:
    path = Path(__file__).with_name("_future_tools.py")
    spec = importlib.util.spec_from_file_location("_future_tools", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_tools_in_a_module_with_postponed_annotations() -> None:
    module = _load_future_tools()
    place_order = module.place_order
    assert place_order.context_param == "ctx"
    params = place_order.parameters
    assert params["required"] == ["items", "note"]
    assert params["properties"]["items"] == {"type": "array", "items": {"$ref": "#/$defs/LineItem"}}
    assert params["properties"]["note"] == {
        "anyOf": [{"type": "string"}, {"type": "null"}],
        "description": "a note for the warehouse",
    }
    args = place_order.parse_arguments('{"items": [{"sku": "A1", "quantity": null}], "note": null}')
    assert args == {"items": [module.LineItem(sku="A1", quantity=1)], "note": None}


def test_a_plain_function_in_agent_tools_names_it_and_says_to_decorate_it() -> None:
    from factorial_aws import Agent
    from factorial_aws.errors import NotAToolError

    def lookup_order(order_id: str) -> str:
        return order_id

    @tool
    def ping() -> str:
        """Ping."""
        return "pong"

    with pytest.raises(NotAToolError) as caught:
        Agent(name="a", instructions="-", model="m", tools=[ping, lookup_order])  # type: ignore[list-item]
    assert caught.value.code == "not_a_tool"
    message = caught.value.message
    assert "tools[1]" in message and "lookup_order" in message and "@tool" in message
    with pytest.raises(NotAToolError, match=r"tools\[0\] \(str 'ping'\).*@tool"):
        Agent(name="a", instructions="-", model="m", tools=["ping"])  # type: ignore[list-item]
