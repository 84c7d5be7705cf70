"""`jdl data ...` commands: generate the synthetic national dataset and sample cohort files."""
from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer
from typer.core import TyperGroup

from jdl_core.errors import InvalidArgument
from jdl_core.schema import DEFAULT_PEOPLE, DEFAULT_SEED

from ._common import clear_errors

# typer may bundle its own copy of click, so find its UsageError through a public subclass
_UsageError: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


class _OneLineUsageErrors(TyperGroup):
    """Bad option values (not a number, not a choice, missing option) become one line, exit 2,
    instead of click's usage block."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _UsageError as e:
            typer.echo(f"error: {e.format_message()}", err=True)  # type: ignore[attr-defined]
            raise typer.Exit(2) from None


class Setting(str, Enum):
    custody = "custody"
    community = "community"


class Realism(str, Enum):
    clean = "clean"
    typical = "typical"
    hard = "hard"


_REALISM_HELP = (
    "How messy the data is (rates and sources in docs/data-realism.md): clean (nothing wrong), "
    "typical (like a real submission: about 70% of the people submitted are analysed), hard.")


class Selection(str, Enum):
    random = "random"
    higher_risk = "higher-risk"
    lower_risk = "lower-risk"
    employment = "employment"


app = typer.Typer(no_args_is_help=True, cls=_OneLineUsageErrors, add_completion=False,
                  pretty_exceptions_enable=False)

_SELECTION_HELP = (
    "How the organisation picks people: random (like the eligible population); higher-risk "
    "(weight exp(0.04*(ogrs-50) + 0.3*log(1+prev_offences)): worse than average, so a naive "
    "comparison is biased); lower-risk (the reciprocal); employment (weight "
    "exp(1.2*employed - 0.04*(age-30)): favours the employed and young).")


@app.command("generate")
@clear_errors
def generate(
    people: int = typer.Option(DEFAULT_PEOPLE, "--people", metavar="N",
                               help="Number of people (each has one or more index events)."),
    seed: int = typer.Option(DEFAULT_SEED, "--seed", metavar="S",
                             help="Random seed: same seed, same bytes."),
    out: Path = typer.Option(..., "--out", metavar="DIR",
                             help="Directory to create (must not exist, or be empty)."),
    force: bool = typer.Option(False, "--force", help="Replace a dataset already in DIR."),
    realism: Realism = typer.Option(Realism.typical, "--realism",
                                    help=_REALISM_HELP + " In the national data: double-barrelled "
                                         "surnames, surname changes and nicknames as aliases."),
) -> None:
    """Generate the synthetic national re-offending dataset (people, aliases, index events with
    one-year outcomes, the true risk model and a manifest) into DIR, atomically."""
    from jdl_core.synth.generator import generate_national, summary

    if people < 1:
        raise InvalidArgument(f"--people must be at least 1, got {people}")
    if seed < 0:
        raise InvalidArgument(f"--seed must be zero or more, got {seed}")
    started = time.perf_counter()
    manifest = generate_national(people=people, seed=seed, out_dir=out, overwrite=force,
                                 realism=realism.value)
    typer.echo(f"wrote national dataset to {out}")
    typer.echo(summary(manifest, time.perf_counter() - started))


@app.command("sample-cohort")
@clear_errors
def sample_cohort_cmd(
    data: Path = typer.Option(..., "--data", metavar="DIR",
                              help="National dataset directory (from `jdl data generate`)."),
    size: int = typer.Option(..., "--size", metavar="N",
                             help="Distinct people in the file (duplicates add rows)."),
    setting: Setting = typer.Option(..., "--setting", help="Programme setting."),
    selection: Selection = typer.Option(Selection.random, "--selection", help=_SELECTION_HELP),
    seed: int = typer.Option(0, "--seed", metavar="S", help="Random seed."),
    out: Path = typer.Option(..., "--out", metavar="FILE",
                             help="Upload file to write: .csv or .xlsx (must not exist)."),
    truth: Optional[Path] = typer.Option(
        None, "--truth", metavar="FILE",
        help="Also write the truth (row -> person_key, event_id, duplicate, noise) as .csv/.xlsx."),
    realism: Realism = typer.Option(
        Realism.typical, "--realism",
        help=_REALISM_HELP + " In the file: nicknames, misspellings, wrong dates of birth, missing "
             "identifiers, unknown people, no sentence or a sentence far from the intervention, "
             "invalid and duplicate rows."),
) -> None:
    """Write a fictional organisation's cohort file in the Data Upload Template format, drawn from
    the national data by a documented selection rule, with realistic noise."""
    from jdl_core.national import load_national
    from jdl_core.synth.cohort import check_output_path, sample_cohort, write_cohort

    if size < 1:
        raise InvalidArgument(f"--size must be at least 1, got {size}")
    if seed < 0:
        raise InvalidArgument(f"--seed must be zero or more, got {seed}")
    check_output_path(out, "--out")
    if truth is not None:
        check_output_path(truth, "--truth")
        if truth.absolute() == out.absolute():
            raise InvalidArgument("--truth must be a different file from --out")
    national = load_national(data)
    upload, truth_df = sample_cohort(national, size=size, setting=setting.value,
                                     selection=selection.value, seed=seed, realism=realism.value)
    write_cohort(upload, out)
    if truth is not None:
        write_cohort(truth_df, truth)
    dups = int(truth_df["is_duplicate"].sum())
    unknown = int(truth_df["person_key"].isna().sum())
    typer.echo(f"wrote {len(upload):,} rows to {out} ({size:,} people, {dups:,} duplicate rows, "
               f"{unknown:,} not in the national data; setting {setting.value}, "
               f"selection {selection.value}, realism {realism.value})")
    if truth is not None:
        typer.echo(f"wrote truth to {truth}")
