"""Text of a rendered report PDF through poppler's pdftotext, for the report page tests."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def pdf_text(pdf: bytes, tmp: Path) -> str:
    """The PDF's words in reading order, runs of whitespace collapsed to one space."""
    if not shutil.which("pdftotext"):
        pytest.fail("poppler-utils is not installed (pdftotext missing): run `make sysdeps`")
    f = tmp / "r.pdf"
    f.write_bytes(pdf)
    raw = subprocess.run(["pdftotext", "-raw", str(f), "-"], check=True, capture_output=True,
                         text=True, timeout=60).stdout
    return " ".join(raw.split())
