"""The hook page generated from a hook's JSON Schema, and content negotiation."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser
from typing import Any, Literal
from urllib.parse import urlencode

import pytest
from pydantic import Field

from factorial_aws import Hook
from factorial_aws.aws.api_html import (
    HTML_HEADERS,
    TOKEN_FIELD,
    form_payload,
    prefers_html,
    render_hook_page,
)
from factorial_aws.runtime.control import INVALID_PAYLOAD
from factorial_aws.store.hooks import HookView


class Everything(Hook):
    approved: bool
    reviewer: str
    amount: int
    ratio: float = 0.5
    level: Literal["low", "high"]
    note: str | None = None
    tags: list[str] = Field(default_factory=list)
    extra: dict[str, Any] | None = None


def view(schema: dict[str, Any], **overrides: Any) -> HookView:
    values: dict[str, Any] = {
        "hook_id": "t-abcdefghijklmnopqrstuvwxyz.h0123456789abcdef",
        "task_id": "t-abcdefghijklmnopqrstuvwxyz",
        "session_id": "s",
        "status": "requested",
        "mode": "requires",
        "hook_type": "Everything",
        "tool": "t",
        "param": "p",
        "title": "Approve",
        "body": "",
        "channel": None,
        "expires_at": datetime(2026, 1, 1, tzinfo=UTC),
        "schema": schema,
        "metadata": {},
        "payload": None,
        "created_at": None,
        "resolved_at": None,
        "token_version": 1,
    }
    values.update(overrides)
    return HookView(**values)


class _Page(HTMLParser):
    """The form's controls by name (tag and attributes), each select's options, and the texts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.controls: dict[str, tuple[str, dict[str, str | None]]] = {}
        self.options: dict[str, list[tuple[str | None, str, bool]]] = {}
        self.by_id: dict[str, tuple[str, dict[str, str | None]]] = {}
        self.inline: dict[str, str] = {}
        self._select: str | None = None
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.by_id[str(found["id"])] = (tag, found)
        if "data-kind" in found:
            self.controls[str(found["name"])] = (tag, found)
        if tag == "select":
            self._select = str(found["name"])
            self.options[self._select] = []
        if tag == "option" and self._select is not None:
            self.options[self._select].append((found.get("value"), "", "selected" in found))
        self._open = tag if tag in ("option", "script", "style") else None

    def handle_data(self, data: str) -> None:
        if self._open == "option" and self._select is not None:
            value, _, chosen = self.options[self._select][-1]
            self.options[self._select][-1] = (value, data, chosen)
        elif self._open in ("script", "style"):
            self.inline[self._open] = data

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        self._open = None


def parse(page: str) -> _Page:
    parsed = _Page()
    parsed.feed(page)
    return parsed


def control(page: str, name: str) -> tuple[str, dict[str, str | None]]:
    return parse(page).controls[name]


def test_each_field_type_gets_its_control() -> None:
    page = render_hook_page(view(Everything.model_json_schema()))
    found = parse(page)
    kinds = {
        name: (tag, a.get("type"), a["data-kind"]) for name, (tag, a) in found.controls.items()
    }
    assert kinds == {
        "approved": ("input", "checkbox", "checkbox"),
        "reviewer": ("input", "text", "text"),
        "amount": ("input", "number", "number"),
        "ratio": ("input", "number", "number"),
        "level": ("select", None, "select"),
        "note": ("input", "text", "text"),  # optional string: a text input
        "tags": ("textarea", None, "json"),
        "extra": ("textarea", None, "json"),
    }
    assert found.controls["amount"][1]["step"] == "1"
    assert found.controls["ratio"][1]["step"] == "any"
    assert found.controls["ratio"][1]["value"] == "0.5"
    assert found.options["level"] == [('"low"', "low", False), ('"high"', "high", False)]
    assert 'data-hook-id="t-abcdefghijklmnopqrstuvwxyz.h0123456789abcdef"' in page
    assert "X-Hook-Token" in page and "/resolve" in page


def test_required_fields_are_required_in_the_browser() -> None:
    page = render_hook_page(view(Everything.model_json_schema()))
    found = parse(page)
    required = {name for name, (_, attrs) in found.controls.items() if "required" in attrs}
    # a required checkbox would have to be ticked: a boolean is always sent, true or false
    assert required == {"reviewer", "amount", "level"}
    assert '<label for="f-reviewer">Reviewer *</label>' in page


class Limits(Hook):
    score: int = Field(ge=1, le=5, description="1 (low) to 5 (high)")
    count: int = Field(gt=0, lt=10)
    ratio: float = Field(gt=0, lt=1, default=0.5)
    share: float = Field(ge=0.25, le=0.75)
    cap: int | None = Field(default=None, ge=0, le=100)
    code: str = Field(min_length=2, max_length=5)
    memo: str | None = Field(default=None, max_length=200)


def test_schema_limits_become_input_attributes() -> None:
    found = parse(render_hook_page(view(Limits.model_json_schema()))).controls

    def limits(name: str) -> dict[str, str | None]:
        keys = ("step", "min", "max", "minlength", "maxlength", "title", "required")
        return {k: v for k, v in found[name][1].items() if k in keys}

    assert limits("score") == {"step": "1", "min": "1", "max": "5", "required": None}
    assert limits("count") == {"step": "1", "min": "1", "max": "9", "required": None}  # gt 0, lt 10
    assert limits("ratio") == {  # a number keeps an exclusive bound, and says so
        "step": "any",
        "min": "0",
        "max": "1",
        "title": "must be greater than 0 and less than 1",
    }
    assert limits("share") == {"step": "any", "min": "0.25", "max": "0.75", "required": None}
    assert limits("cap") == {"step": "1", "min": "0", "max": "100"}  # optional: limits kept
    assert limits("code") == {"minlength": "2", "maxlength": "5", "required": None}
    assert limits("memo") == {"maxlength": "200"}


@pytest.mark.parametrize(
    ("prop", "expected"),
    [
        ({"type": "integer", "exclusiveMinimum": 0.5, "exclusiveMaximum": 7.5}, ("1", "7")),
        ({"type": "integer", "minimum": 0.5, "maximum": 7.5}, ("1", "7")),
        ({"type": "integer", "minimum": 3, "exclusiveMinimum": 0}, ("3", None)),  # the stricter
        ({"type": "integer", "maximum": 3, "exclusiveMaximum": 10}, (None, "3")),
        ({"type": "number", "minimum": 1e-05, "maximum": 2.0}, ("1e-05", "2")),
        ({"type": "number", "exclusiveMinimum": True, "minimum": 0}, ("0", None)),  # draft 4: no
        ({"type": "integer", "minimum": "1", "maximum": None}, (None, None)),  # not numbers
        ({"type": "integer", "minimum": False}, (None, None)),
        ({"type": ["integer", "null"], "minimum": 2}, ("2", None)),
    ],
)
def test_bounds_from_raw_schemas(prop: dict[str, Any], expected: tuple[Any, Any]) -> None:
    schema = {"type": "object", "properties": {"x": prop}}
    _, attrs = control(render_hook_page(view(schema)), "x")
    assert (attrs.get("min"), attrs.get("max")) == expected


def test_a_number_title_names_only_the_bound_that_is_exclusive() -> None:
    schema = {
        "type": "object",
        "properties": {"x": {"type": "number", "exclusiveMinimum": 0, "maximum": 5}},
    }
    _, attrs = control(render_hook_page(view(schema)), "x")
    assert (attrs["min"], attrs["max"], attrs["title"]) == ("0", "5", "must be greater than 0")


class Maybe(Hook):
    approved: bool
    urgent: bool | None = None
    escalate: bool | None = True
    answer: bool | None
    level: Literal["low", "high"] | None = None


def test_an_optional_boolean_is_a_select_that_can_send_null() -> None:
    found = parse(render_hook_page(view(Maybe.model_json_schema())))
    assert found.controls["approved"][1]["type"] == "checkbox"  # a plain bool: true or false
    for name in ("urgent", "escalate", "answer"):
        tag, attrs = found.controls[name]
        assert (tag, attrs["data-kind"]) == ("select", "select")
        assert [(v, t) for v, t, _ in found.options[name]] == [
            ("null", "\u2014"),
            ("true", "yes"),
            ("false", "no"),
        ]
    assert [chosen for *_, chosen in found.options["urgent"]] == [False, False, False]  # "—"
    assert [chosen for *_, chosen in found.options["escalate"]] == [False, True, False]
    assert "required" in found.controls["answer"][1]  # "—" is an answer (null): still allowed
    assert found.options["level"][0] == ("null", "\u2014", False)


def test_the_expiry_is_a_readable_utc_time() -> None:
    cet = timezone(timedelta(hours=1))
    moment = datetime(2026, 11, 26, 14, 6, 59, 123456, tzinfo=cet)
    page = render_hook_page(view(Everything.model_json_schema(), expires_at=moment))
    assert (
        'Expires at <time datetime="2026-11-26T13:06:59.123456Z">2026-11-26 13:06 UTC</time>.'
        in page
    )
    assert "+01:00" not in page and "14:06" not in page
    naive = render_hook_page(view({}, expires_at=datetime(2026, 1, 2, 3, 4)))  # noqa: DTZ001
    assert ">2026-01-02 03:04 UTC</time>" in naive


def test_each_field_has_a_slot_for_its_problem() -> None:
    found = parse(render_hook_page(view(Limits.model_json_schema())))
    for name, (_, attrs) in found.controls.items():
        assert attrs["aria-describedby"] == f"e-{name}"
        assert found.by_id[f"e-{name}"][1]["class"] == "field-error"
    assert found.controls["score"][1]["data-label"] == "Score"


def test_the_csp_allows_exactly_the_inline_script_and_style() -> None:
    found = parse(render_hook_page(view(Everything.model_json_schema())))
    csp = HTML_HEADERS["Content-Security-Policy"]

    def digest(text: str) -> str:
        return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    assert f"script-src '{digest(found.inline['script'])}';" in csp
    assert f"style-src '{digest(found.inline['style'])}';" in csp


def test_the_script_reads_the_422_message_the_control_plane_writes() -> None:
    """The page maps ``$.<field>`` problems to labels by the 422 message's prefix."""
    page = render_hook_page(view(Everything.model_json_schema()))
    assert INVALID_PAYLOAD == "payload does not match hook {hook_id}: {problems}"
    assert re.search(r'"payload does not match hook " \+ hookId \+ ": "', page)


def test_everything_from_the_hook_is_escaped() -> None:
    schema = {
        "type": "object",
        "properties": {'x"><script>alert(1)</script>': {"type": "string", "title": "<i>t</i>"}},
    }
    page = render_hook_page(view(schema, title="<script>evil()</script>", body="a & <b>"))
    assert "<script>evil()" not in page and "&lt;script&gt;evil()" in page
    assert "a &amp; &lt;b&gt;" in page and "<i>t</i>" not in page
    assert "<script>alert(1)" not in page
    assert page.count("<script>") == 1  # only the page's own, allowed by its hash
    assert "script-src 'sha256-" in HTML_HEADERS["Content-Security-Policy"]


def test_a_closed_hook_has_no_form() -> None:
    page = render_hook_page(view(Everything.model_json_schema(), status="resolved"))
    assert "<form" not in page and "resolved" in page


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (None, False),
        ("", False),
        ("*/*", False),
        ("application/json", False),
        ("text/html", True),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),
        ("application/json, text/html;q=0.5", False),
        ("text/html;q=0.9, application/json", False),
        ("text/html;q=0", False),
        ("TEXT/HTML", True),
    ],
)
def test_prefers_html(accept: str | None, html: bool) -> None:
    assert prefers_html(accept) is html


def test_without_javascript_the_form_posts_itself_with_the_token() -> None:
    page = render_hook_page(view(Everything.model_json_schema()), token='a"b<c')
    assert 'method="post" action="./t-abcdefghijklmnopqrstuvwxyz.h0123456789abcdef/resolve"' in page
    assert f'<input type="hidden" name="{TOKEN_FIELD}" value="a&quot;b&lt;c">' in page
    assert "form-action 'self'" in HTML_HEADERS["Content-Security-Policy"]


def test_a_posted_form_becomes_the_payload_the_script_would_send() -> None:
    schema = Everything.model_json_schema()
    body = urlencode(
        {
            TOKEN_FIELD: "tok",
            "reviewer": "ana",
            "amount": "12",
            "ratio": "0.25",
            "level": '"high"',
            "note": "",
            "tags": '["a", "b"]',
            "extra": "",
        }
    )
    payload, token = form_payload(body, schema)
    assert token == "tok"
    # the unchecked box (not sent) is false; empty optional fields are left out
    assert payload == {
        "approved": False,
        "reviewer": "ana",
        "amount": 12,
        "ratio": 0.25,
        "level": "high",
        "tags": ["a", "b"],
    }
    assert form_payload(urlencode({"approved": "on", "amount": "x"}), schema)[0] == {
        "approved": True,
        "reviewer": "",  # a required text left empty is sent, as the script does
        "amount": "x",  # not a number: left for the schema to refuse (422)
    }
    with pytest.raises(ValueError, match="Tags: not valid JSON"):
        form_payload(urlencode({"tags": "[oops"}), schema)
