"""The `jdl` command line. Each area registers its own sub-commands from its own module."""
from __future__ import annotations

import typer

from . import analyse_cmd, audit_cmd, data_cmd, pipeline_cmd, plan_cmd, publication_cmd, report_cmd

app = typer.Typer(
    help="Justice Data Lab: re-offending analysis for organisations that work with offenders.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

app.add_typer(data_cmd.app, name="data", help="Generate the synthetic national dataset and sample cohorts.")
app.add_typer(audit_cmd.app, name="audit", help="Verify the deletion audit log and show certificates.")
analyse_cmd.register(app)
report_cmd.register(app)
pipeline_cmd.register(app)
publication_cmd.register(app)
plan_cmd.register(app)

if __name__ == "__main__":  # pragma: no cover
    app()
