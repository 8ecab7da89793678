"""The hook page generated from a hook's JSON Schema, and content negotiation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import pytest
from pydantic import Field

from factorial_aws import Hook
from factorial_aws.aws.api_html import HTML_HEADERS, prefers_html, render_hook_page
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


def test_each_field_type_gets_its_control() -> None:
    page = render_hook_page(view(Everything.model_json_schema()))
    assert '<input type="checkbox" data-kind="checkbox" name="approved"' in page
    assert 'type="text" data-kind="text" name="reviewer" id="f-reviewer" required' in page
    assert 'type="number" step="1" data-kind="number" name="amount"' in page
    assert 'type="number" step="any" data-kind="number" name="ratio"' in page
    assert 'value="0.5"' in page
    assert '<select data-kind="select" name="level"' in page
    assert '<option value="&quot;low&quot;">low</option>' in page
    assert 'data-kind="text" name="note" id="f-note">' in page  # optional string: a text input
    assert '<textarea data-kind="json" name="tags" id="f-tags"></textarea>' in page
    assert '<textarea data-kind="json" name="extra"' in page
    assert 'data-hook-id="t-abcdefghijklmnopqrstuvwxyz.h0123456789abcdef"' in page
    assert "X-Hook-Token" in page and "/resolve" in page


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
