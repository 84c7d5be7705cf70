"""The profile table's group headings ("Nationality") never end a page: each is kept with its
first rows when the table splits across pages."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from jdl_core.result import AnalysisResult, ProfileRow
from jdl_report import render_pdf
from jdl_report.examples import significant_reduction

T = 5


def _pages(pdf: bytes, tmp: Path) -> list[str]:
    if not shutil.which("pdftotext"):
        pytest.fail("poppler-utils is not installed (pdftotext missing): run `make sysdeps`")
    f = tmp / "r.pdf"
    f.write_bytes(pdf)
    raw = subprocess.run(["pdftotext", "-layout", str(f), "-"], check=True, capture_output=True,
                         text=True, timeout=60).stdout
    return raw.split("\f")


def _padded(k: int) -> AnalysisResult:
    """The reduction example with a first characteristic of k categories, which moves every later
    row down by k, so that page breaks fall at different places in the table."""
    r = significant_reduction()
    n = r.n_treated or 0
    each = n // (k + 1)
    extra = [ProfileRow(characteristic="Region", category=f"Region {i + 1}", treated_n=each,
                        treated_pct=100.0 * each / n, comparison_pct=100.0 * each / n)
             for i in range(k)]
    return r.model_copy(update={"profile": extra + list(r.profile)})


def _last_table_line(page: str) -> str:
    lines = [x for x in page.splitlines() if x.strip()]
    foot = next((i for i, x in enumerate(lines) if x.strip().startswith("Reference ")), len(lines))
    return lines[foot - 1] if foot else ""


@pytest.mark.parametrize("k", range(0, 24, 2))
def test_no_page_ends_with_a_profile_group_heading(tmp_path, k):
    r = _padded(k)
    headings = {p.characteristic for p in r.profile}
    pages = _pages(render_pdf(r, T), tmp_path)
    split_pages = []
    for i, page in enumerate(pages[:-1]):
        # the profile table continues on the next page (its repeated header comes first, under
        # the running page header)
        top = [x.split() for x in pages[i + 1].splitlines() if x.strip()][:5]
        if not any(x[:2] == ["Group", "Number"] for x in top):
            continue
        split_pages.append(i + 1)
        last = _last_table_line(page)
        for h in headings:
            # a heading in the left half (followed by no figure) or alone at the end of the right half
            left = re.match(r"\s*" + re.escape(h) + r"(\s{2,}\D|\s*$)", last)
            right = re.search(r"\d%\s{2,}" + re.escape(h) + r"\s*$", last)
            assert not left and not right, (k, i + 1, h, last)
    assert split_pages, k      # the table did split across pages (so the check above ran)
