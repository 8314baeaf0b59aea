"""The web site in a real browser (issue 16 item 7): headless Chromium (Debian's, installed by
.ci/run) driven by Playwright against `psn-exchange web` running in its own process, on a
database made as the README says (`psn-exchange import examples/workshop-questions.jsonl`).
Screenshots of the main pages are written under the test's temporary directory.

Skipped where there is no Chromium, unless CI_REQUIRE_BROWSER is set (CI sets it, so a
broken install fails instead of skipping).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from knowledge.config import load_settings
from knowledge.exchange import Exchange
from tests.conftest import EXPERT, REPO

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# The flags a closed network needs: no background connections, no sandbox as root.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGES = {
    "home": "/",
    "search": "/search?q=coco",
    "question": "/q/Q-2",
    "topics": "/topics",
    "waiting": "/waiting",
    "releases": "/releases",
    "release": "/releases/2",
    "notes": "/notes",
    "figures": "/figures",
}

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - the dev extra installs it
    sync_playwright = None

if sync_playwright is None or not Path(CHROMIUM).exists():
    if os.environ.get("CI_REQUIRE_BROWSER"):
        raise RuntimeError(f"CI_REQUIRE_BROWSER is set, but there is no Chromium at {CHROMIUM}")
    pytest.skip(f"no Chromium at {CHROMIUM} (or no Playwright)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`psn-exchange web` on the workshop's questions, with a second version of the CoCo
    answer (so there is a history to read); the address it serves."""
    folder = tmp_path_factory.mktemp("site")
    db = folder / "psn-exchange.db"
    cli = [sys.executable, "-m", "knowledge.cli"]
    common = ["--db", str(db), "--config", str(REPO / "config.toml")]
    examples = str(REPO / "examples" / "workshop-questions.jsonl")
    imported = subprocess.run([*cli, "import", examples, *common], capture_output=True, text=True)
    assert imported.returncode == 0, imported.stderr
    settings = load_settings(REPO / "config.toml")
    settings = settings.model_copy(
        update={"database": settings.database.model_copy(update={"path": db})}
    )
    exchange = Exchange.open(settings)
    try:
        exchange.set_authority(EXPERT, "Cabinet Office")
        exchange.answer(
            EXPERT,
            "Q-2",
            "Yes. The PSN Code of Connection reuses your GCSx CoCo evidence, so only what "
            "changed is assessed.",
            ["https://www.gov.uk/guidance/public-services-network-psn-code-of-connection"],
        )
        exchange.publish(EXPERT)
    finally:
        exchange.close()
    port = _free_port()
    server = subprocess.Popen(
        [*cli, "web", "--port", str(port), *common],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    address = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(address + "/", timeout=1):
                break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                _, err = server.communicate()
                raise RuntimeError(f"psn-exchange web did not start: {err.decode()}") from None
            time.sleep(0.1)
    yield address
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert sync_playwright is not None
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    opened = context.new_page()
    yield opened
    context.close()


def test_search_an_acronym_open_the_result_follow_its_permalink_and_read_its_history(
    page: Page, site: str
) -> None:
    page.goto(site + "/")
    page.get_by_label("Search the published answers").fill("coco")
    page.keyboard.press("Enter")
    expect(page).to_have_title("Search: coco – PSN Exchange")
    result = page.get_by_role("link", name="Code of Connection compliance be cheaper")
    expect(result).to_be_visible()  # "coco" found the long form
    result.click()
    expect(page).to_have_url(site + "/q/Q-2")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Code of Connection")
    page.get_by_role("link", name="/q/Q-2").click()  # the permalink
    expect(page).to_have_url(site + "/q/Q-2")
    expect(page.get_by_role("heading", name="History")).to_be_visible()
    older = page.locator("summary", has_text="Version 1, release 1")
    expect(older).to_be_visible()
    older.click()
    expect(page.locator("details", has=older)).to_have_attribute("open", "")
    expect(page.locator(".answer").first).to_contain_text("reuses your GCSx CoCo evidence")


def test_keyboard_alone_reaches_search_with_focus_visible(page: Page, site: str) -> None:
    page.goto(site + "/")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == "Skip to main content"
    assert page.evaluate("getComputedStyle(document.activeElement).left") == "0px"  # shown
    for _ in range(15):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "q":
            break
    else:
        pytest.fail("Tab never reached the search box")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # a visible focus
    page.keyboard.type("PSN")
    page.keyboard.press("Enter")
    expect(page).to_have_url(site + "/search?q=PSN")
    expect(page.get_by_role("heading", level=2).first).to_contain_text("found for")


def test_no_serious_accessibility_violations_and_screenshots_of_every_main_page(
    browser: Browser, site: str, tmp_path: Path
) -> None:
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    shots = tmp_path / "screenshots"
    shots.mkdir()
    found: dict[str, list[dict[str, Any]]] = {}
    # bypass_csp: the site allows no script at all; axe-core is injected only for the check.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    for name, path in PAGES.items():
        response = page.goto(site + path)
        assert response is not None, path
        assert response.status == 200, path
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        violations = axe.run(page).response["violations"]
        serious = [v for v in violations if v.get("impact") in ("serious", "critical")]
        if serious:
            found[path] = [{"id": v["id"], "help": v["help"]} for v in serious]
    context.close()
    keep = os.environ.get("KEEP_SCREENSHOTS")
    if keep:  # for a person to look at (and the README's picture)
        shutil.copytree(shots, keep, dirs_exist_ok=True)
    assert found == {}
    assert sorted(p.name for p in shots.iterdir()) == sorted(f"{n}.png" for n in PAGES)


def test_pages_fit_a_phone_screen(browser: Browser, site: str, tmp_path: Path) -> None:
    from axe_playwright_python.sync_playwright import Axe

    context = browser.new_context(
        viewport={"width": 360, "height": 740}, is_mobile=True, bypass_csp=True
    )
    page = context.new_page()
    for name in ("home", "question", "figures"):
        page.goto(site + PAGES[name])
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, (name, width)  # nothing scrolls sideways
        page.screenshot(path=str(tmp_path / f"phone-{name}.png"), full_page=True)
        violations = Axe().run(page).response["violations"]
        serious = [v["id"] for v in violations if v.get("impact") in ("serious", "critical")]
        assert serious == [], name  # the chart that scrolls in its box can be reached too
    context.close()
