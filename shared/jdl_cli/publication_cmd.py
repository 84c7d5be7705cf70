"""`jdl review` (respond, accept, withdraw, show), `jdl publish summary` and `jdl template`: the
organisation's review step, the periodic summary and the Data Upload Template."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from jdl_core.errors import InvalidArgument

from ._common import clear_errors, fail

API_OPT = typer.Option(None, "--api", help="API base URL (default: $JDL_API_URL or the local `jdl up`).")
TOKEN_OPT = typer.Option(None, "--token", help="API token (default: $JDL_API_TOKEN or the local demo token).")

review = typer.Typer(no_args_is_help=True, help="Review a report before publication: respond, accept or withdraw.")
publish = typer.Typer(no_args_is_help=True, help="Publications: the periodic summary and release dates.")


def _client(api: str | None, token: str | None, org: str = "demo-org"):
    from .client import Client, default_api_url, default_token

    return Client(api or default_api_url(), token or default_token(org))


def describe(p: dict[str, Any]) -> list[str]:
    """Lines about a report's publication for `jdl status`/`jdl review show`."""
    if not p or p.get("state") is None:
        nxt = (p or {}).get("next_release_at")
        return [f"publication: report not ready yet (next release date {nxt[:10] if nxt else '-'})"]
    state = p["state"].replace("_", " ")
    lines = [f"publication: {state}"]
    for key, label in (("ready_at", "ready"), ("review_ends_at", "review ends"), ("accepted_at", "accepted"),
                       ("scheduled_at", "scheduled"), ("release_at", "release date"),
                       ("expected_release_at", "to be published"), ("published_at", "published"),
                       ("withdrawn_at", "withdrawn")):
        if p.get(key) and not (key == "expected_release_at" and p.get("release_at")):
            lines.append(f"  {label:<16} {p[key][:16].replace('T', ' ')} UTC")
    if p.get("response"):
        lines.append(f"  response added   {p['response']['added_at'][:16].replace('T', ' ')} UTC "
                     f"({len(p['response']['text'])} characters)")
    if p.get("actions"):
        cmds = ", ".join(f"jdl review {'respond' if a == 'response' else a} <id>" for a in p["actions"])
        lines.append(f"  you can: {cmds}")
    return lines


def register(app: typer.Typer) -> None:
    app.add_typer(review, name="review")
    app.add_typer(publish, name="publish")

    @app.command("template")
    @clear_errors
    def template(format: str = typer.Option("xlsx", "--format", help="csv or xlsx."),
                 out: Optional[Path] = typer.Option(None, "--out", help="File to write (default: jdl-upload-template.<format>)."),
                 ) -> None:
        """Write the Data Upload Template (headings only) and print its columns and rules."""
        from jdl_core.upload_template import template_columns, template_csv, template_rules, template_xlsx

        if format not in ("csv", "xlsx"):
            raise InvalidArgument(f"--format {format!r}: use csv or xlsx")
        path = out or Path(f"jdl-upload-template.{format}")
        path.write_bytes(template_csv() if format == "csv" else template_xlsx())
        typer.echo(f"template written to {path}")
        for c in template_columns():
            typer.echo(f"  {c.name:<19} {'required' if c.required else 'optional':<9} {c.rule}")
        for r in template_rules():
            typer.echo(f"  - {r}")


def _show(p: dict[str, Any]) -> None:
    typer.echo("\n".join(describe(p)))


@review.command("show")
@clear_errors
def show(submission_id: str = typer.Argument(..., help="Submission id (sub-...)."),
         api: Optional[str] = API_OPT, token: Optional[str] = TOKEN_OPT) -> None:
    """Where the report is in review -> scheduled -> published, with its dates."""
    c = _client(api, token)
    _show(c._check(c.http.get(f"/v1/submissions/{submission_id}/publication")))


@review.command("respond")
@clear_errors
def respond(submission_id: str = typer.Argument(..., help="Submission id (sub-...)."),
            text: Optional[str] = typer.Option(None, "--text", help="The response (plain text)."),
            file: Optional[Path] = typer.Option(None, "--file", help="Read the response from a UTF-8 text file."),
            api: Optional[str] = API_OPT, token: Optional[str] = TOKEN_OPT) -> None:
    """Add the organisation's response (printed in the report) while the report is in review."""
    if (text is None) == (file is None):
        raise fail("give the response with exactly one of --text or --file")
    if file is not None:
        if not file.is_file():
            raise fail(f"--file: {str(file)!r} does not exist")
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise fail(f"--file: {str(file)!r} is not UTF-8 text") from None
    c = _client(api, token)
    out = c._check(c.http.post(f"/v1/submissions/{submission_id}/response", json={"text": text}))
    typer.echo("response stored; the report was re-rendered with it")
    _show(out["publication"])


@review.command("accept")
@clear_errors
def accept_cmd(submission_id: str = typer.Argument(..., help="Submission id (sub-...)."),
               api: Optional[str] = API_OPT, token: Optional[str] = TOKEN_OPT) -> None:
    """Accept the report: it is published on the next release date."""
    c = _client(api, token)
    _show(c._check(c.http.post(f"/v1/submissions/{submission_id}/accept"))["publication"])


@review.command("withdraw")
@clear_errors
def withdraw_cmd(submission_id: str = typer.Argument(..., help="Submission id (sub-...)."),
                 api: Optional[str] = API_OPT, token: Optional[str] = TOKEN_OPT) -> None:
    """Withdraw the report before publication (it is then counted, without detail, as withdrawn)."""
    c = _client(api, token)
    _show(c._check(c.http.post(f"/v1/submissions/{submission_id}/withdraw"))["publication"])


@publish.command("summary")
@clear_errors
def summary(period: str = typer.Option(..., "--period", help="A quarter (2026Q4), month (2026-11) or year (2026)."),
            format: str = typer.Option("pdf", "--format", help="pdf or html."),
            out: Optional[Path] = typer.Option(None, "--out", help="File to write (default: jdl-summary-<period>.<format>)."),
            api: Optional[str] = API_OPT) -> None:
    """Fetch the summary of every report published in a period (table and forest plots)."""
    import httpx

    from jdl_report.summary import parse_period

    from .client import default_api_url

    p = parse_period(period)                # a bad period is refused before any request
    if format not in ("pdf", "html"):
        raise InvalidArgument(f"--format {format!r}: use pdf or html")
    url = (api or default_api_url()).rstrip("/")
    r = httpx.get(f"{url}/v1/summaries/{period}", params={"format": format}, timeout=120)
    if r.status_code != 200:
        try:
            msg = r.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            msg = r.text[:300]
        raise fail(f"{p.label}: {msg}")
    path = out or Path(f"jdl-summary-{period}.{format}")
    path.write_bytes(r.content)
    typer.echo(f"summary of {p.label} written to {path} ({len(r.content):,} bytes)")


@publish.command("calendar")
@clear_errors
def calendar(api: Optional[str] = API_OPT) -> None:
    """The next release dates and the public counts (published, withdrawn, refused)."""
    import httpx

    from .client import default_api_url

    r = httpx.get(f"{(api or default_api_url()).rstrip('/')}/v1/publication", timeout=30).json()
    typer.echo("next release dates: " + ", ".join(d[:16].replace("T", " ") for d in r["next_release_dates"]))
    typer.echo(f"review window: {r['review_working_days']} working days")
    typer.echo("counts: " + ", ".join(f"{k} {v}" for k, v in r["counts"].items()))
