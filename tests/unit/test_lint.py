"""`make lint` holds the style: each check is shown catching a planted fault with the project's
own configuration, and `make test` runs lint first."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

PLANTED = '''"""A module with one fault of each kind the linter must catch."""
import json


def unused_argument(a: int, b: int) -> int:
    return a


def blind(f) -> None:
    try:
        f()
    except Exception:
        pass


def needless_noqa() -> int:
    return 1  # noqa: BLE001


def too_complex(x: int) -> int:
''' + "".join(f"    if x == {i}:\n        return {i}\n" for i in range(16)) + "    return -1\n"


def test_make_test_runs_lint_first_and_lint_runs_the_three_tools():
    make = (ROOT / "Makefile").read_text()
    test_deps = re.search(r"^test:(.*)$", make, re.M).group(1).split()
    assert "lint" in test_deps
    lint_body = re.search(r"^lint:.*\n((?:\t.*\n)+)", make, re.M).group(1)
    for tool in ("ruff check", "mypy", "lint-imports"):
        assert tool in lint_body


def test_ruff_catches_each_planted_fault(tmp_path):
    f = tmp_path / "planted.py"
    f.write_text(PLANTED)
    r = subprocess.run([str(BIN / "ruff"), "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"),
                        "--output-format", "concise", str(f)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    found = set(re.findall(r" ([A-Z]+[0-9]+) ", r.stdout))
    # unused import, unused argument, blind except, a noqa that silences nothing, complexity
    assert {"F401", "ARG001", "BLE001", "RUF100", "C901"} <= found, r.stdout


def test_mypy_rejects_a_type_ignore_it_does_not_need(tmp_path):
    f = tmp_path / "planted.py"
    f.write_text("x: int = 1  # type: ignore[assignment]\n")
    r = subprocess.run([str(BIN / "mypy"), "--config-file", str(ROOT / "pyproject.toml"),
                        "--cache-dir", str(tmp_path / "cache"), str(f)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "unused-ignore" in r.stdout
