"""The web pages in a real headless Chromium (Debian's, driven by Playwright): upload a sample
cohort through the upload page, watch it complete on the status page, open the report, and see
that it stays out of the public catalogue while in review, adding a response on the status page;
download the upload template."""
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
    # the report is in review: dates shown, a response can be added from the page
    assert page.get_attribute("#pub-state", "data-state") == "in_review"
    assert "UTC" in page.inner_text("#pub-review_ends_at") and "UTC" in page.inner_text("#pub-expected_release_at")
    page.fill("#response-text", "We thank the Justice Data Lab. <b>not bold</b>")
    page.click("#send-response")
    page.wait_for_selector("#pub-message", timeout=60_000)
    assert "Response saved" in page.inner_text("#pub-message")
    assert page.inner_text("#pub-response") == "We thank the Justice Data Lab. <b>not bold</b>"
    page.click("#open-html")
    page.wait_for_load_state()
    page.wait_for_function("document.body && document.body.innerText.includes('re-offending')", timeout=30_000)
    text = page.inner_text("body")
    assert "comparison" in text.lower()
    assert "We <b>listen</b> first." in text and PROGRAMME["selection"] in text
    assert "We thank the Justice Data Lab. <b>not bold</b>" in text     # printed, escaped
    page.screenshot(path=str(tmp_path / "report.png"))

    # not public before its release date: neither in the catalogue nor at its public address
    page.goto(rt.api_url + "/catalogue")
    assert sid not in page.content()
    r = page.request.get(f"{rt.api_url}/v1/reports/{sid}?format=html")
    assert r.status == 404


def test_upload_page_offers_the_template_with_its_columns(rt, browser, tmp_path):
    page = browser.new_page()
    page.goto(rt.api_url + "/")
    page.wait_for_function("document.querySelectorAll('#template-columns tbody tr').length >= 10", timeout=30_000)
    first = page.inner_text("#template-columns tbody tr:first-child")
    assert "forename" in first and "required" in first
    assert "At least" in page.inner_text("#template-rules")
    with page.expect_download() as d:
        page.click("#template-xlsx")
    path = tmp_path / "template.xlsx"
    d.value.save_as(str(path))
    assert path.read_bytes()[:2] == b"PK"


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
