"""The hook page (``GET /hooks/{id}`` as HTML) in a real headless Chromium, driven by Selenium.

Needs Debian's ``chromium`` and ``chromium-driver`` packages and the ``selenium`` package; the
tests skip (saying so) when one is missing. CI installs them::

    apt-get install -y chromium chromium-driver
    pip install selenium

The browser is started with a fresh profile and everything that would call out to the network
turned off (this runs on a closed network: only 127.0.0.1 is reachable).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import examples.payments.app as payments
import examples.payments.stub as payments_stub
import examples.two_stage.app as two_stage
import examples.two_stage.stub as two_stage_stub

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


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
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
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=str(driver_bin), log_output=subprocess.DEVNULL)
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(10)
    try:
        yield driver
    finally:
        driver.quit()


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


def test_an_out_of_range_value_shows_the_422_message_and_a_fix_goes_through(
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

    _field(browser, "cleared").click()
    _field(browser, "officer").send_keys("li")
    _field(browser, "risk_score").send_keys("9")  # the page does not know the bounds; the API does
    kind, text = _submit_and_read(browser)
    assert kind == "error"
    assert text == f"payload does not match hook {hook_id}: $.risk_score: must be <= 5"
    assert browser.find_element(By.ID, "hook-form").is_displayed()
    assert api.task(task_id)["status"] == "waiting_hook"

    score = _field(browser, "risk_score")
    score.clear()
    score.send_keys("2")
    kind, text = _submit_and_read(browser)  # same page, same Idempotency-Key: accepted now
    assert (kind, text) == ("ok", "Submitted. Thank you.")
    done = api.wait(task_id)
    assert done["status"] == "completed", api.log()
    assert done["output"].endswith("approved by maria, cleared by li (risk 2/5).")
    assert _csp_violations(browser) == []
