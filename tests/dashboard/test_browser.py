"""The dashboard in a real browser: headless Chromium driven by Playwright for Python.

After a scripted run (the demo sessions, plus an event whose user message and model answer are
an XSS payload) the sessions page lists the sessions, a session page shows the conversation in
order, the payload is shown as text and never runs, and a screenshot of a session page is saved
(as ``docs/dashboard.png``, the picture in the README, when ``VOKER_UPDATE_SCREENSHOT=1``).

Needs Debian's ``chromium`` (``make system-deps`` installs it; ``make test`` runs that first).
Playwright's own browser download (``playwright install``) is not used.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.dashboard.conftest import XSS, Send, xss_llm_event
from voker_core.testing.demo_data import DemoData

README_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
XSS_SESSION = "xss-check"


def _chromium() -> str:
    for candidate in ("chromium", "chromium-browser"):
        found = shutil.which(candidate)
        if found:
            return found
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    pytest.fail(
        "Chromium is not installed, so the dashboard browser test cannot run. "
        "Run `make system-deps` (it installs Debian's `chromium` package with apt), "
        "then run the tests again.",
        pytrace=False,
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module (launching takes about a second)."""
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(
            "Playwright for Python is missing: install the dev extra (`make install`).",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh tab, 1280x900, recording console messages in ``page.console_messages``."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    messages: list[str] = []
    tab.on("console", lambda message: messages.append(message.text))
    tab.on("pageerror", lambda error: messages.append(str(error)))
    tab.console_messages = messages
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture
def scripted_run(demo: DemoData, send: Send) -> DemoData:
    """The demo sessions plus one hostile conversation turn, as a scripted run leaves them."""
    send(session=XSS_SESSION, properties=xss_llm_event(), agent="support-bot", person="user-42")
    return demo


def test_sessions_page_lists_the_sessions(
    page: Any, voker_server: Any, scripted_run: DemoData
) -> None:
    page.goto(voker_server.base_url + "/")
    assert page.title() == "Sessions \u00b7 Voker devserver"
    listed = page.locator("tbody tr a.id").all_inner_texts()
    assert sorted(listed) == sorted([*scripted_run.sessions.values(), XSS_SESSION])
    assert listed[0] == XSS_SESSION  # most recently active first
    errors = page.locator("tr.has-err a.id").all_inner_texts()
    assert errors == [scripted_run.sessions["support_retry"]]

    # The filter form works in the browser (a plain GET form, no script).
    page.select_option("select[name=agent]", "docs-helper")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("tbody tr a.id").all_inner_texts() == [scripted_run.sessions["docs"]]
    assert "agent=docs-helper" in page.url

    # Clicking a session opens its conversation.
    page.click("tbody tr a.id")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == scripted_run.sessions["docs"]


def test_session_page_shows_the_conversation_in_order(
    page: Any, voker_server: Any, scripted_run: DemoData, tmp_path: Path
) -> None:
    session = scripted_run.sessions["support"]
    page.goto(voker_server.base_url + "/sessions/" + quote(session, safe=""))
    turns = page.locator(".msg .bubble, .card").all_inner_texts()
    assert len(turns) == 6
    assert turns[0].startswith("Hi! My order A-1042 still hasn't arrived.")
    assert turns[1].startswith("Tool call \u00b7 lookup_order") and "A-1042" in turns[1]
    assert turns[2].startswith("Tool result \u00b7 lookup_order") and "Leipzig hub" in turns[2]
    assert turns[3].startswith("Good news: order A-1042 is on its way with DHL.")
    assert turns[4] == "Yes please. And can it go to my office instead?"
    assert turns[5].startswith("I've emailed the tracking link")
    # User messages sit on the right, answers on the left, as in a chat.
    user = page.locator(".msg.user .bubble").first.bounding_box()
    answer = page.locator(".msg.assistant .bubble").first.bounding_box()
    assert user["x"] > answer["x"]

    # Raw JSON on demand: hidden until its summary is clicked.
    raw = page.locator("details.raw").first
    assert not raw.locator("pre").is_visible()
    raw.locator("summary").click()
    assert raw.locator("pre").is_visible()
    assert '"lookup_order"' in raw.locator("pre").inner_text()
    raw.locator("summary").click()  # closed again for the picture
    page.mouse.move(0, 0)  # no hover highlight in it either

    # The README's picture is refreshed only on request, so a test run leaves the tree clean.
    screenshot = (
        README_SCREENSHOT
        if os.environ.get("VOKER_UPDATE_SCREENSHOT") == "1"
        else tmp_path / "dashboard.png"
    )
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(screenshot), full_page=True)
    data = screenshot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width = int.from_bytes(data[16:20], "big")
    assert width == 1280


def test_hostile_content_renders_as_text_and_never_runs(
    page: Any, voker_server: Any, scripted_run: DemoData
) -> None:
    page.goto(voker_server.base_url + "/sessions/" + XSS_SESSION)
    assert page.evaluate("() => typeof window.__xss") == "undefined"
    # Escaped, not merely blocked: no element came from the payload ...
    assert page.locator("main script, main img").count() == 0
    # ... and the browser shows it verbatim, as text, where the user and the model wrote it.
    assert page.locator(".msg.user .bubble").inner_text() == XSS
    assert page.locator(".msg.assistant .bubble").inner_text() == XSS
    page.locator("details.raw summary").click()
    assert XSS in page.locator("details.raw pre").inner_text()
    assert page.evaluate("() => typeof window.__xss") == "undefined"
    # Nothing tried to run and was stopped by the Content-Security-Policy either.
    assert not [m for m in page.console_messages if "Content Security Policy" in m]

    page.goto(voker_server.base_url + "/")
    assert page.evaluate("() => typeof window.__xss") == "undefined"
