"""The web pages in a real headless Chromium (Debian's, driven by Playwright): upload a sample
cohort through the upload page, watch it complete on the status page, open the report, and see
it in the public catalogue."""
from __future__ import annotations

import shutil

import pytest

from .conftest import PROGRAMME

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if not shutil.which("chromium"):
        if shutil.which("apt-get"):
            pytest.fail("chromium is missing: run `make sysdeps` (apt-get install chromium)")
        pytest.skip("chromium is not installed and apt-get is unavailable")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def test_upload_page_to_finished_report(rt, cohort, browser, tmp_path):
    path, _ = cohort
    page = browser.new_page()
    page.goto(rt.api_url + "/")
    page.fill("#token", rt.tokens["demo-org"])
    for field in ("organisation", "name", "targets", "delivers", "selection", "contact_email"):
        page.fill(f"#{field}", PROGRAMME[field])
    page.fill("#own_words", "We <b>listen</b> first.")     # printed as typed, never as markup
    page.select_option("#setting", "custody")
    page.set_input_files("#file", str(path))
    page.click("#submit")
    page.wait_for_selector("#accepted", timeout=60_000)
    sid = page.inner_text("#sid")
    assert sid.startswith("sub-")
    page.click("#status-link")
    page.wait_for_function("document.querySelector('#state') && document.querySelector('#state').innerText === 'done'",
                           timeout=240_000)
    page.wait_for_selector("#purged", timeout=120_000)
    page.click("#open-html")
    page.wait_for_load_state()
    page.wait_for_function("document.body && document.body.innerText.includes('re-offending')", timeout=30_000)
    text = page.inner_text("body")
    assert "comparison" in text.lower()
    assert "We <b>listen</b> first." in text and PROGRAMME["selection"] in text
    page.screenshot(path=str(tmp_path / "report.png"))

    page.goto(rt.api_url + "/catalogue")
    assert sid in page.content() or PROGRAMME["organisation"] in page.inner_text("body")


def test_upload_page_shows_validation_errors(rt, browser, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("forename,surname\nA,B\n")
    page = browser.new_page()
    page.goto(rt.api_url + "/")
    page.fill("#token", rt.tokens["demo-org"])
    for field in ("organisation", "name", "targets", "delivers", "selection", "contact_email"):
        page.fill(f"#{field}", PROGRAMME[field])
    page.set_input_files("#file", str(bad))
    page.click("#submit")
    page.wait_for_selector("#refused", timeout=30_000)
    assert "missing_columns" in page.inner_text("#refused")
