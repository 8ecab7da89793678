"""The hook page without JavaScript: its form posts itself (``application/x-www-form-urlencoded``,
the token in a hidden field) to the resolve route, which turns the fields into the payload by the
hook's schema and answers with a page. Through the dev server, as a browser with scripts off
would: read the page, fill its form, post it."""

from __future__ import annotations

import urllib.error
import urllib.request
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode, urljoin

import examples.payments.app as payments
import examples.payments.stub as payments_stub
from factorial_aws.aws.api_html import TOKEN_FIELD

FORM = "application/x-www-form-urlencoded"


class _Form(HTMLParser):
    """The hook form's action, method and hidden fields."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.form: dict[str, str] = {}
        self.hidden: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.form = found
        elif tag == "input" and found.get("type") == "hidden":
            self.hidden[found["name"]] = found.get("value", "")


def fetch(url: str, data: dict[str, str] | None = None, accept: str = "text/html") -> Any:
    """(status, content type, text) of a GET, or of a form POST of ``data``."""
    body = None if data is None else urlencode(data).encode()
    headers = {"Accept": accept} | ({"Content-Type": FORM} if body is not None else {})
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read().decode()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.headers["Content-Type"], err.read().decode()


def test_the_form_posted_without_javascript_resolves_the_hook(serve: Any) -> None:
    api = serve(payments.app, payments_stub.stub_reply)
    task_id = api.create("payments", "Pay 1,250.00 USD to DE89370400440532013000.")
    hook_id = api.parked_hook(task_id)["hook_id"]
    page_url = f"{api.base}/hooks/{hook_id}?token={api.token(hook_id)}"

    status, _, page = fetch(page_url)
    assert status == 200
    form = _Form()
    form.feed(page)
    assert form.form["method"] == "post"
    assert form.hidden == {TOKEN_FIELD: api.token(hook_id)}
    action = urljoin(page_url, form.form["action"])
    assert action == f"{api.base}/hooks/{hook_id}/resolve"

    # a wrong token: 404 (a hook is not revealed to who lacks its token), as a page
    status, kind, answer = fetch(action, {TOKEN_FIELD: "nope", "reviewer": "ana"})
    assert status == 404 and kind.startswith("text/html"), answer
    assert "no such request with this token" in answer and hook_id not in answer
    assert "Go back to the form" in answer
    # no token at all: 401
    status, kind, answer = fetch(action, {"reviewer": "ana"})
    assert status == 401 and kind.startswith("text/html"), answer
    assert api.task(task_id)["status"] == "waiting_hook"

    # an unchecked checkbox is not sent at all: false; the empty optional comment is left out
    status, kind, answer = fetch(action, {**form.hidden, "reviewer": "ana"})
    assert status == 200 and kind.startswith("text/html")
    assert "Submitted. Thank you." in answer
    done = api.wait(task_id)
    assert done["status"] == "completed", api.log()
    assert "rejected" in done["output"] or "not approved" in done["output"], done["output"]
    assert api.hook(hook_id)["status"] == "resolved"


def test_a_checked_box_approves_and_a_form_body_elsewhere_is_still_refused(serve: Any) -> None:
    api = serve(payments.app, payments_stub.stub_reply)
    task_id = api.create("payments", "Pay 10.00 USD to DE89370400440532013000.")
    hook_id = api.parked_hook(task_id)["hook_id"]
    token = api.token(hook_id)
    fields = {TOKEN_FIELD: token, "approved": "on", "reviewer": "ana", "comment": "ok"}
    status, _, answer = fetch(f"{api.base}/hooks/{hook_id}/resolve", fields)
    assert status == 200, answer
    done = api.wait(task_id)
    assert done["status"] == "completed" and "approved by ana" in done["output"], done
    # only the resolve route takes a form body: anywhere else it is still 415
    status, kind, _ = fetch(f"{api.base}/tasks", {"agent": "payments"}, accept="application/json")
    assert status == 415 and kind.startswith("application/json")
