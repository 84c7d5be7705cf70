"""`jdl plan`: before submitting, how precise will the answer be for a group of this size?"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ._common import clear_errors


def register(app: typer.Typer) -> None:
    @app.command("plan")
    @clear_errors
    def plan_command(
        size: int = typer.Option(..., "--size", "-n", help="Expected number of people analysed."),
        setting: str = typer.Option(..., "--setting", help="custody or community."),
        rate: Optional[float] = typer.Option(
            None, "--rate", help="Expected one-year re-offending rate, 0-1 (default: the "
                                 "national rate for the setting)."),
        comparison_ratio: float = typer.Option(
            4.0, "--comparison-ratio",
            help="Effective size of the comparison group per treated person."),
        data: Optional[Path] = typer.Option(
            None, "--data", help="National dataset directory: take the setting's rate from its "
                                 "manifest (default: the generator's national rates)."),
        as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
    ) -> None:
        """Expected width of the rate interval and the smallest detectable difference (no
        personal data needed)."""
        from jdl_core.national import read_manifest
        from jdl_core.plan import manifest_rates, plan, plan_text

        rates = manifest_rates(read_manifest(data)) if data is not None else None
        p = plan(size, setting, rate, comparison_ratio=comparison_ratio, national_rates=rates)
        typer.echo(json.dumps(p.to_dict(), indent=2) if as_json else plan_text(p))
