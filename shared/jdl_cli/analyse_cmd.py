"""`jdl analyse`: the whole statistical core on one cohort file, offline, with a readable summary."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Optional

import typer

from jdl_core.errors import InvalidArgument

from ._common import clear_errors

SETTINGS = ("custody", "community")


def _read_file(path: Path, what: str) -> bytes:
    if not path.exists():
        raise InvalidArgument(f"{what} '{path}' does not exist")
    if path.is_dir():
        raise InvalidArgument(f"{what} '{path}' is a directory: give a file")
    return path.read_bytes()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def summary_text(result, threshold: int | None = None) -> str:
    """A few screens of plain text: who, how many, the headline table, balance, and the same
    sentences as the report (made by jdl_report.wording from the disclosure-controlled result)."""
    from jdl_report import _format as fmt
    from jdl_report.content import build_content
    from jdl_report.disclosure import DEFAULT_THRESHOLD, apply_disclosure

    c = build_content(apply_disclosure(result, threshold or DEFAULT_THRESHOLD))
    p = result.programme
    lines = [f"{p.programme} ({p.organisation}), {p.setting}",
             f"People: {result.attrition.submitted:,} submitted, {result.n_treated:,} analysed; "
             f"comparison group {result.n_comparison:,} records chosen from {result.n_pool:,}",
             *c.summary_facts, c.overall]
    for s in result.attrition.steps:
        lines.append(f"  - {s.label}: {s.removed:,} (leaves {s.remaining:,})")
    lines.append("")
    ci_head = c.headline_table.columns[4]
    head = f"{'Measure':<52}{'Treatment':>10}{'Comparison':>11}  {'Difference (' + ci_head + ')':<40}{'p':>7}"
    lines += [head, "-" * len(head)]
    for row in c.headline_table.rows:
        label, tv, cv, diff, ci, pv, badge = row
        dci = f"{diff} ({ci})" if ci not in ("-", "*") else diff
        lines.append(f"{label:<52}{tv:>10}{cv:>11}  {dci:<40}{pv:>7}  {badge}")
    lines += [f"  {n}" for n in c.headline_table.notes[1:]]
    flags = [b.flag for b in result.balance]
    lines += ["", f"Balance after matching: {flags.count('good')} good, {flags.count('acceptable')} "
                  f"acceptable, {flags.count('poor')} poor of {len(flags)} (|SMD| <5%, 5-10%, >10%)"]
    if result.dropped_treated:
        lines.append(f"Dropped by matching (no comparable person): {fmt.count(result.dropped_treated)}")
    lines += ["", c.summary_lead] + [f"  * {s}" for s in c.estimates]
    lines += ["", "What you can say:"] + [f"  * {s}" for s in c.can_say]
    lines += ["What you cannot say:"] + [f"  * {s}" for s in c.cannot_say]
    if result.warnings:
        lines += ["", "Warnings:"] + [f"  * {w}" for w in result.warnings]
    return "\n".join(lines)


def with_report_statements(result, threshold: int | None = None):
    """The result with its ``statements`` replaced by the report's (one source of the words)."""
    from jdl_core.result import Statements
    from jdl_report.content import build_content
    from jdl_report.disclosure import DEFAULT_THRESHOLD, apply_disclosure

    c = build_content(apply_disclosure(result, threshold or DEFAULT_THRESHOLD))
    return result.model_copy(update={"statements": Statements(can_say=list(c.can_say),
                                                              cannot_say=list(c.cannot_say))})


def register(app: typer.Typer) -> None:
    """Add this area's commands to the top-level app."""

    @app.command("analyse")
    @clear_errors
    def analyse_command(
        cohort_file: Path = typer.Argument(..., metavar="COHORT_FILE",
                                           help="The cohort (CSV or XLSX, Data Upload Template)."),
        data: Path = typer.Option(..., "--data", help="Directory of the national dataset "
                                  "(written by `jdl data generate`)."),
        setting: Optional[str] = typer.Option(None, "--setting", help="custody or community "
                                              "(taken from --programme when omitted)."),
        programme_file: Optional[Path] = typer.Option(None, "--programme", help="Programme "
                                                      "description JSON (see jdl_core.programme)."),
        spec_file: Optional[Path] = typer.Option(None, "--spec", help="MatchSpec JSON to change "
                                                 "the method's settings (defaults otherwise)."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the AnalysisResult "
                                           "JSON here (aggregates only)."),
    ) -> None:
        """Validate, link, choose index events, match and compare re-offending; print a summary."""
        from jdl_core.analysis import analyse
        from jdl_core.cohort import read_upload
        from jdl_core.matching import MatchSpec
        from jdl_core.national import load_national
        from jdl_core.programme import load_programme
        from jdl_core.result import ProgrammeInfo

        if setting is not None and setting not in SETTINGS:
            raise InvalidArgument(f"--setting is {setting!r}; allowed: custody, community")
        if programme_file is not None:
            programme = load_programme(_read_file(programme_file, "--programme"))
            if setting is not None and setting != programme.setting:
                raise InvalidArgument(f"--setting is {setting} but the programme's setting is "
                                      f"{programme.setting}; give one or make them agree")
            info = programme.info()
        elif setting is None:
            raise InvalidArgument("--setting is required (custody or community) unless "
                                  "--programme gives it")
        else:
            info = ProgrammeInfo(organisation="(not given)", programme=cohort_file.stem,
                                 setting=setting)  # type: ignore[arg-type]
        spec = (MatchSpec.from_json(_read_file(spec_file, "--spec").decode("utf-8", "replace"))
                if spec_file is not None else MatchSpec())
        if out is not None and out.is_dir():
            raise InvalidArgument(f"--out '{out}' is a directory: give a file name for the JSON")

        started = time.perf_counter()
        upload = read_upload(_read_file(cohort_file, "COHORT_FILE"), cohort_file.name)
        national = load_national(data)
        result = with_report_statements(analyse(upload, national, spec, info))
        typer.echo(summary_text(result))
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            _write_atomic(out, result.model_dump_json(indent=1).encode())
            typer.echo(f"\nwrote {out}")
        typer.echo(f"finished in {time.perf_counter() - started:.1f} s")
