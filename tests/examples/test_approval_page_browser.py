"""The hook page (``GET /hooks/{id}`` as HTML) in a real headless Chromium, driven by Selenium.

Needs Debian's ``chromium`` and ``chromium-driver`` packages and the ``selenium`` package; the
tests skip (saying so) when one is missing. CI installs them::

    apt-get install -y chromium chromium-driver
    pip install selenium

The browser is started with a fresh profile and everything that would call out to the network
turned off (this runs on a closed network: only 127.0.0.1 is reachable).
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import Field

import examples.payments.app as payments
import examples.payments.stub as payments_stub
import examples.two_stage.app as two_stage
import examples.two_stage.stub as two_stage_stub
from factorial_aws import Hook
from factorial_aws.aws.api_html import HTML, HTML_HEADERS, render_hook_page
from factorial_aws.store.hooks import HookView

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

APT = "apt-get install -y chromium chromium-driver"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1000,900",
)


def _find(name: str) -> str | None:
    found = shutil.which(name)
    if found is None and Path(f"/usr/bin/{name}").exists():
        found = f"/usr/bin/{name}"
    return found


@contextlib.contextmanager
def _chromium(profile: Path, *, javascript: bool = True) -> Iterator[WebDriver]:
    chromium, driver_bin = _find("chromium"), _find("chromedriver")
    missing = [n for n, p in (("chromium", chromium), ("chromedriver", driver_bin)) if not p]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed; install them with `{APT}`")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed; `pip install selenium`")
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    if not javascript:
        options.add_experimental_option(
            "prefs", {"profile.managed_default_content_settings.javascript": 2}
        )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=str(driver_bin), log_output=subprocess.DEVNULL)
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(10)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    with _chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver


@pytest.fixture(scope="module")
def browser_without_js(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    with _chromium(tmp_path_factory.mktemp("chromium-nojs"), javascript=False) as driver:
        yield driver


def _wait(driver: WebDriver, check: Any, what: str, timeout_s: float = 5.0) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout_s, poll_frequency=0.05).until(check, f"no {what}")


def _field(driver: WebDriver, name: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, f"f-{name}")


def _submit_and_read(driver: WebDriver) -> tuple[str, str]:
    """Click Submit; the ``#result`` line's class and text once the answer is shown."""
    from selenium.webdriver.common.by import By

    result = driver.find_element(By.ID, "result")
    driver.execute_script("arguments[0].className = ''; arguments[0].textContent = ''", result)
    driver.find_element(By.CSS_SELECTOR, "#hook-form button[type=submit]").click()
    _wait(driver, lambda d: result.text.strip(), "answer on the page")
    return str(result.get_attribute("class")), str(result.text)


def _csp_violations(driver: WebDriver) -> list[str]:
    return [
        str(e.get("message"))
        for e in driver.get_log("browser")
        if "Content Security Policy" in str(e.get("message"))
    ]


def test_a_manager_approves_in_the_browser_and_the_task_completes(
    serve: Any, browser: WebDriver, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    api = serve(payments.app, payments_stub.stub_reply)
    task_id = api.create("payments", "Pay 1,250.00 USD to DE89370400440532013000.")
    hook_id = api.parked_hook(task_id)["hook_id"]

    browser.get(f"{api.base}/hooks/{hook_id}?token={api.token(hook_id)}")
    assert browser.title == "Approve a transfer of 1250.00 USD"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Approve a transfer of 1250.00 USD"
    assert "Reply with approved=true or false." in browser.page_source
    assert api.task(task_id)["status"] == "waiting_hook"  # opening the link resolves nothing

    _field(browser, "approved").click()
    _field(browser, "reviewer").send_keys("ana")
    _field(browser, "comment").send_keys("ok for Q4")
    browser.save_screenshot(str(tmp_path / "approval.png"))
    kind, text = _submit_and_read(browser)
    assert (kind, text) == ("ok", "Submitted. Thank you.")
    assert not browser.find_element(By.ID, "hook-form").is_displayed()

    done = api.wait(task_id)
    assert done["status"] == "completed", api.log()
    assert done["output"].endswith("sent 125000 cents to DE89370400440532013000, approved by ana")
    assert api.hook(hook_id)["status"] == "resolved"
    browser.refresh()
    assert "This request is resolved; nothing more to do." in browser.page_source
    assert _csp_violations(browser) == []


def test_with_javascript_off_the_form_posts_itself_and_the_task_completes(
    serve: Any, browser_without_js: WebDriver
) -> None:
    from selenium.webdriver.common.by import By

    browser = browser_without_js
    api = serve(payments.app, payments_stub.stub_reply)
    task_id = api.create("payments", "Pay 40.00 USD to DE89370400440532013000.")
    hook_id = api.parked_hook(task_id)["hook_id"]
    browser.get(f"{api.base}/hooks/{hook_id}?token={api.token(hook_id)}")
    _field(browser, "approved").click()
    _field(browser, "reviewer").send_keys("ana")
    browser.find_element(By.CSS_SELECTOR, "#hook-form button[type=submit]").click()
    _wait(browser, lambda d: "Submitted. Thank you." in d.page_source, "the answer page")
    # the browser itself posted the form and shows the answer page (the script, when it runs,
    # posts JSON and stays on the hook page)
    assert browser.current_url == f"{api.base}/hooks/{hook_id}/resolve"
    done = api.wait(task_id)
    assert done["status"] == "completed", api.log()
    assert done["output"].endswith("sent 4000 cents to DE89370400440532013000, approved by ana")
    assert _csp_violations(browser) == []


def _note(driver: WebDriver, name: str) -> str:
    """The problem shown next to a field (``""`` when none)."""
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.ID, f"e-{name}").text)


def _valid(driver: WebDriver, name: str) -> bool:
    return bool(driver.execute_script("return arguments[0].validity.valid", _field(driver, name)))


def _click_submit(driver: WebDriver) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, "#hook-form button[type=submit]").click()


def test_the_browser_checks_the_limits_and_a_422_names_the_field_by_its_label(
    serve: Any, browser: WebDriver
) -> None:
    from selenium.webdriver.common.by import By

    api = serve(two_stage.app, two_stage_stub.stub_reply)
    task_id = api.create("procurement", "Buy 3 standing desks from Acme Office for 2,400.00 USD.")
    manager = api.parked_hook(task_id, "Approve")["hook_id"]
    status, _ = api.resolve(manager, {"approved": True, "reviewer": "maria", "comment": "fine"})
    assert status == 200
    hook_id = api.parked_hook(task_id, "Compliance")["hook_id"]

    browser.get(f"{api.base}/hooks/{hook_id}?token={api.token(hook_id)}")
    assert browser.title == "Compliance review: Acme Office, 2,400.00 USD"
    body = browser.find_element(By.CSS_SELECTOR, "h1 + p").text
    assert body == "Approved by maria. Manager's comment: fine"
    assert "1 (low) to 5 (high)" in browser.page_source  # the field's description
    meta = browser.find_element(By.CSS_SELECTOR, "p.meta").text
    assert re.fullmatch(r"Status: requested\. Expires at \d{4}-\d\d-\d\d \d\d:\d\d UTC\.", meta)
    score = _field(browser, "risk_score")
    assert (score.get_attribute("min"), score.get_attribute("max")) == ("1", "5")

    _field(browser, "cleared").click()
    _field(browser, "officer").send_keys("li")
    score.send_keys("9")
    _click_submit(browser)  # the browser knows the bounds now: nothing is sent
    assert not _valid(browser, "risk_score")
    _wait(browser, lambda d: _note(d, "risk_score"), "browser's message next to the field")
    assert browser.find_element(By.ID, "result").text == ""
    assert api.task(task_id)["status"] == "waiting_hook"
    assert api.hook(hook_id)["status"] == "requested"

    # past the browser's checks (as an old browser would be), the API's 422 is shown by label
    browser.execute_script("document.getElementById('hook-form').noValidate = true")
    kind, text = _submit_and_read(browser)
    problem = "Input should be less than or equal to 5"  # pydantic's words: the type validates
    assert (kind, text) == ("error", f"Not submitted. Risk Score: {problem}")
    assert hook_id not in text and "$." not in text
    assert _note(browser, "risk_score") == problem
    assert score.get_attribute("aria-invalid") == "true"
    assert browser.find_element(By.ID, "hook-form").is_displayed()
    assert api.task(task_id)["status"] == "waiting_hook"

    # the next attempt clears the old messages, even when the browser itself blocks it
    browser.execute_script("document.getElementById('hook-form').noValidate = false")
    browser.execute_script("arguments[0].value = '2'", score)  # no input event: note stays
    browser.execute_script("arguments[0].value = ''", _field(browser, "officer"))
    assert _note(browser, "risk_score") == problem
    _click_submit(browser)
    _wait(browser, lambda d: _note(d, "officer"), "the officer's field marked")
    assert _note(browser, "risk_score") == "" and score.get_attribute("aria-invalid") is None
    assert browser.find_element(By.ID, "result").text == ""
    _field(browser, "officer").send_keys("li")  # typing clears the field's own note
    assert _note(browser, "officer") == ""

    kind, text = _submit_and_read(browser)  # same page, same Idempotency-Key: accepted now
    assert (kind, text) == ("ok", "Submitted. Thank you.")
    done = api.wait(task_id)
    assert done["status"] == "completed", api.log()
    assert done["output"].endswith("approved by maria, cleared by li (risk 2/5).")
    assert _csp_violations(browser) == []


# --- the page for any schema, against a stand-in for the API ---------------------------------

HOOK_ID = "t-abcdefghijklmnopqrstuvwxyz.h0123456789abcdef"


class Review(Hook):
    """A schema with one of each: limits, an optional boolean, a JSON field."""

    approved: bool
    urgent: bool | None = None
    level: int = Field(ge=1, le=5, title="Severity")
    ratio: float = Field(default=0.5, gt=0, lt=1)
    code: str = Field(min_length=2, max_length=4)
    tags: list[str] = Field(default_factory=list)


@dataclass
class FakeApi:
    """Serves the page for ``Review`` and answers ``POST .../resolve`` from ``replies``."""

    base: str
    posted: list[Any] = field(default_factory=list)
    replies: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{self.base}/hooks/{HOOK_ID}?token=tok"


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    view = HookView(
        hook_id=HOOK_ID,
        task_id=HOOK_ID.partition(".")[0],
        session_id="s",
        status="requested",
        mode="requires",
        hook_type="Review",
        tool="t",
        param="p",
        title="Review",
        body="",
        channel=None,
        expires_at=datetime(2026, 11, 26, 13, 6, 7, 891011, tzinfo=UTC),
        schema=Review.model_json_schema(),
        metadata={},
        payload=None,
        created_at=None,
        resolved_at=None,
        token_version=1,
    )
    page = render_hook_page(view).encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, kind: str, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._send(200, HTML, page, HTML_HEADERS)

        def do_POST(self) -> None:
            assert self.path == f"/hooks/{HOOK_ID}/resolve"
            assert self.headers["X-Hook-Token"] == "tok"
            api.posted.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            status, answer = api.replies.pop(0) if api.replies else (200, {})
            self._send(status, "application/json", json.dumps(answer).encode(), {})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    api = FakeApi(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _invalid(message: str) -> tuple[int, dict[str, Any]]:
    return 422, {"error": {"code": "hook_payload_invalid", "message": message}}


def test_an_optional_boolean_can_send_null_yes_or_no(fake_api: FakeApi, browser: WebDriver) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select

    browser.get(fake_api.url)
    assert (
        "Expires at 2026-11-26 13:06 UTC." in browser.find_element(By.CSS_SELECTOR, "p.meta").text
    )
    urgent = Select(_field(browser, "urgent"))
    assert [o.text for o in urgent.options] == ["\u2014", "yes", "no"]
    assert urgent.first_selected_option.text == "\u2014"
    _field(browser, "approved").click()
    _field(browser, "level").send_keys("3")
    _field(browser, "code").send_keys("ab")
    fake_api.replies.append(_invalid("hook t-x is somewhere else"))  # any 422: try again
    assert _submit_and_read(browser)[0] == "error"
    urgent.select_by_visible_text("no")
    assert _submit_and_read(browser) == ("ok", "Submitted. Thank you.")
    assert fake_api.posted == [
        {"approved": True, "urgent": None, "level": 3, "ratio": 0.5, "code": "ab"},
        {"approved": True, "urgent": False, "level": 3, "ratio": 0.5, "code": "ab"},
    ]
    assert _csp_violations(browser) == []


def test_the_browser_enforces_the_schema_limits(fake_api: FakeApi, browser: WebDriver) -> None:
    browser.get(fake_api.url)
    code, level, ratio = _field(browser, "code"), _field(browser, "level"), _field(browser, "ratio")
    assert ratio.get_attribute("title") == "must be greater than 0 and less than 1"
    assert (level.get_attribute("step"), ratio.get_attribute("step")) == ("1", "any")
    code.send_keys("abcdef")
    assert code.get_attribute("value") == "abcd"  # maxlength: the browser stops typing
    _click_submit(browser)  # nothing filled in: required fields block the submit
    assert not _valid(browser, "level") and _note(browser, "level")
    code.clear()
    code.send_keys("a")  # minlength
    level.send_keys("2.5")  # step=1
    _click_submit(browser)
    assert not _valid(browser, "code") and not _valid(browser, "level")
    level.clear()
    level.send_keys("0")  # min=1
    ratio.clear()
    ratio.send_keys("1.5")  # max=1
    _click_submit(browser)
    assert not _valid(browser, "level") and not _valid(browser, "ratio")
    assert fake_api.posted == []  # nothing reached the API
    assert _csp_violations(browser) == []


def test_a_422_is_shown_next_to_each_field_by_its_label(
    fake_api: FakeApi, browser: WebDriver
) -> None:
    from selenium.webdriver.common.by import By

    browser.get(fake_api.url)
    _field(browser, "level").send_keys("2")
    _field(browser, "code").send_keys("abc")
    fake_api.replies.append(
        _invalid(
            f"payload does not match hook {HOOK_ID}: $.code: must have at least 4 characters; "
            "$.level: must be <= 1; $.level: must be one of [1]; "
            "$.tags[1]: expected string, got integer; $.bogus: extra field not permitted"
        )
    )
    kind, text = _submit_and_read(browser)
    assert kind == "error"
    assert text == (
        "Not submitted. Code: must have at least 4 characters; Severity: must be <= 1; "
        "Severity: must be one of [1]; Tags ([1]): expected string, got integer; "
        "$.bogus: extra field not permitted"
    )
    assert HOOK_ID not in browser.find_element(By.ID, "hook-form").text
    assert _note(browser, "code") == "must have at least 4 characters"
    assert _note(browser, "level") == "must be <= 1; must be one of [1]"
    assert _note(browser, "tags") == "[1]: expected string, got integer"
    assert _note(browser, "approved") == ""

    # another answer: the old notes go, a broken JSON field is caught before sending
    tags = _field(browser, "tags")
    browser.execute_script("arguments[0].value = '[1,'", tags)
    kind, text = _submit_and_read(browser)
    assert (kind, text) == ("error", "Not submitted: not valid JSON in Tags")
    assert _note(browser, "tags").startswith("not valid JSON: ")
    assert _note(browser, "code") == "" and _note(browser, "level") == ""
    assert len(fake_api.posted) == 1

    # other errors do not show the hook id either
    tags.clear()
    fake_api.replies.append((409, {"error": {"message": f"hook {HOOK_ID} was resolved before"}}))
    assert _submit_and_read(browser) == ("error", "this request was resolved before")
    assert _csp_violations(browser) == []
