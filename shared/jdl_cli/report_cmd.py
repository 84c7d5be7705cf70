"""`jdl report`: render a report (PDF, HTML and JSON) offline from an AnalysisResult JSON file."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Optional

import typer

from jdl_core.errors import InvalidArgument
from jdl_events.vocab import REPORT_FORMATS

from ._common import clear_errors


def _read(path: Path) -> bytes:
    if not path.exists():
        raise InvalidArgument(f"RESULT_JSON '{path}' does not exist: give the path of an "
                              "AnalysisResult JSON file (e.g. written by `jdl analyse`)")
    if path.is_dir():
        raise InvalidArgument(f"RESULT_JSON '{path}' is a directory: give the path of an "
                              "AnalysisResult JSON file")
    return path.read_bytes()


def _write_atomic(path: Path, data: bytes) -> None:
    """Write beside the target and rename, so a reader never sees half a report."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the top-level app."""

    @app.command("report")
    @clear_errors
    def report(
        result_json: Path = typer.Argument(..., metavar="RESULT_JSON",
                                           help="AnalysisResult JSON file (aggregates only)."),
        out: Path = typer.Option(..., "--out", "-o", help="Directory to write report.pdf, "
                                 "report.html and report.json into (created if missing)."),
        threshold: int = typer.Option(5, "--threshold", help="Disclosure control: counts of fewer "
                                      "than this many people are withheld (1 to 100)."),
        response: Optional[Path] = typer.Option(None, "--response", help="Text file with the "
                                                "organisation's response, printed in its own "
                                                "section (plain text)."),
    ) -> None:
        """Render a report offline: report.pdf, report.html and report.json in --out."""
        from jdl_report import parse_result, render_all  # matplotlib/reportlab only when used

        result = parse_result(_read(result_json), f"RESULT_JSON '{result_json}'")
        if out.exists() and not out.is_dir():
            raise InvalidArgument(f"--out '{out}' is a file: give a directory")
        started = time.perf_counter()
        text = None
        if response is not None:
            try:
                text = _read(response).decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidArgument(f"--response '{response}' is not UTF-8 text") from None
        files = render_all(result, threshold, response=text)
        out.mkdir(parents=True, exist_ok=True)
        for kind in REPORT_FORMATS:
            _write_atomic(out / f"report.{kind}", files[kind])
        sizes = ", ".join(f"report.{k} ({len(files[k]) // 1024} KB)" for k in REPORT_FORMATS)
        typer.echo(f"wrote {sizes} to {out} in {time.perf_counter() - started:.1f} s "
                   f"(counts below {threshold} withheld)")
