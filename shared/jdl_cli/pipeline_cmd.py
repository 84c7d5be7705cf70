"""`jdl up`, `jdl demo`, `jdl submit`, `jdl status`, `jdl queue`: the running service."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer

from jdl_core.schema import DEFAULT_PEOPLE
from jdl_events.status import StatusView
from jdl_events.vocab import REPORT_FORMATS

from ._common import clear_errors, fail
from .publication_cmd import describe

API_OPT = typer.Option(None, "--api", help="API base URL (default: $JDL_API_URL or the local `jdl up`).")
TOKEN_OPT = typer.Option(None, "--token", help="API token (default: $JDL_API_TOKEN or the local demo token).")


def _client(api: str | None, token: str | None, org: str = "demo-org"):
    from .client import Client, default_api_url, default_token

    return Client(api or default_api_url(), token or default_token(org))


def _ended(st: StatusView) -> str:
    """How a submission ended, for an error message."""
    why = f" - {st.error.reason_code}: {st.error.reason}" if st.error else ""
    return f"{st.state}{why}"


def _print_status(st: StatusView) -> None:
    extra = f" - {st.error.reason_code}: {st.error.reason}" if st.error else ""
    typer.echo(f"  {time.strftime('%H:%M:%S')}  {st.state:<10} (age {st.age_seconds:.0f} s){extra}")


def _f(v: float | None, fmt: str) -> str:
    return "*" if v is None else format(v, fmt)   # "*": withheld by disclosure control


def headline(result: dict) -> list[str]:
    """The headline figures of a report.json, with the JDL's rounding, then the report's own
    estimate sentences (made by jdl_report.wording, so they match the PDF)."""
    from jdl_report import _format as fmt

    lines = []
    for m in result.get("measures", []):
        if not m.get("estimable", True):
            lines.append(f"  {m['label']}: not estimated ({m.get('reason')})")
            continue
        if m.get("withheld"):
            lines.append(f"  {m['label']}: withheld (disclosure control)")
            continue
        name, d = m["name"], fmt.decimals(m["name"])
        sig = "significant" if m.get("significant") else "not significant"
        p = fmt.p_value(m["p_value"])
        lines.append(f"  {m['label']}: treated {fmt.value(name, m['treated_value'], m['unit'], withheld=True)}"
                     f" vs comparison {fmt.value(name, m['comparison_value'], m['unit'], withheld=True)}; "
                     f"difference {fmt.number(m['difference'], d, signed=True)} "
                     f"({fmt.ci(m['ci_low'], m['ci_high'], d)}) {m['difference_unit']}, "
                     f"p {p if p.startswith('<') else '= ' + p} ({sig})")
    lines += [f"  * {s}" for s in result.get("report", {}).get("estimates", [])]
    return lines


def register(app: typer.Typer) -> None:
    @app.command()
    @clear_errors
    def up(kafka: Optional[str] = typer.Option(None, help="External Kafka bootstrap HOST:PORT (default: start a local tansu broker)."),
           s3: Optional[str] = typer.Option(None, help="External S3 as http://HOST:PORT/BUCKET (credentials from JDL_S3_ACCESS_KEY/JDL_S3_SECRET_KEY); default: var/store on disk."),
           people: int = typer.Option(DEFAULT_PEOPLE, help="Size of the national dataset generated on first run (up to 5000000 on a 2-core, 24 GiB machine; the data is shared by the workers, see README)."),
           linkage_workers: int = typer.Option(1, min=1, max=4, help="Linkage workers in the consumer group."),
           var: Path = typer.Option(Path("var"), help="Directory for runtime state, data, logs and secrets."),
           data_dir: Optional[Path] = DATA_DIR_OPT) -> None:
        """Start the whole service on this machine and supervise it: a worker or the local broker
        that dies is restarted; Ctrl-C or SIGTERM stops every process it started."""
        _stop_on_sigterm()
        rt = _runtime(kafka, s3, people, linkage_workers, var, data_dir)
        try:
            with rt:
                typer.echo(f"tokens: {json.dumps(rt.tokens)}  (also in {rt.var_dir}/secrets/tokens.json)")
                typer.echo("running; press Ctrl-C to stop")
                rt.supervise()
        except KeyboardInterrupt:
            pass
        typer.echo("stopped")

    @app.command()
    @clear_errors
    def demo(size: int = typer.Option(1000, help="People in the sample cohort."),
             setting: str = typer.Option("custody", help="custody or community."),
             people: int = typer.Option(DEFAULT_PEOPLE, help="Size of the national dataset (first run)."),
             out: Path = typer.Option(Path("out/demo"), help="Where to copy the report."),
             keep: bool = typer.Option(False, help="Leave the service running afterwards."),
             var: Path = typer.Option(Path("var"), help="Runtime directory."),
             data_dir: Optional[Path] = DATA_DIR_OPT,
             purge_timeout: float = typer.Option(120.0, help="Seconds to wait for the purge certificate."),
             auto_publish: bool = typer.Option(False, help="Publish the report at once instead of after the organisation's review and on the next release date (demo only; refused in production).")) -> None:
        """Start the service, submit a sample cohort, wait for the report and for the deletion of
        the cohort (its purge certificate), print both, then stop.

        The report goes in review first, as for any organisation: it reaches the public catalogue
        on the next release date, or at once with --auto-publish."""
        from jdl_core.national import load_national
        from jdl_core.synth.cohort import sample_cohort, write_cohort

        from .client import Client

        t0 = time.perf_counter()
        _stop_on_sigterm()
        rt = _runtime(None, None, people, 1, var, data_dir,
                      extra={"JDL_PUBLICATION_AUTO_PUBLISH": "true"} if auto_publish else None)
        try:
            rt.start()
            rt.start_supervisor()
            cohort_path = rt.var_dir / "demo" / f"cohort-{setting}.csv"
            cohort_path.parent.mkdir(parents=True, exist_ok=True)
            national = load_national(rt.data_dir)
            upload, _truth = sample_cohort(national, size=size, setting=setting,
                                           selection="higher-risk", seed=11)
            write_cohort(upload, cohort_path, overwrite=True)   # the demo's own file, re-made each run
            programme = demo_programme(setting)
            client = Client(rt.api_url, rt.tokens["demo-org"])
            t1 = time.perf_counter()
            resp = client.submit(cohort_path, programme)
            sid = resp["submission_id"]
            typer.echo(f"submitted {cohort_path} as {sid}: {resp['counts']}")
            st = client.wait(sid, on_change=_print_status)
            if st.state != "done":
                raise fail(f"submission ended {_ended(st)}")
            out.mkdir(parents=True, exist_ok=True)
            for fmt in REPORT_FORMATS:
                (out / f"report.{fmt}").write_bytes(client.report(sid, fmt))
            result = json.loads((out / "report.json").read_text())
            typer.echo(f"\nreport ready in {time.perf_counter() - t1:.1f} s after submission "
                       f"({time.perf_counter() - t0:.1f} s in all)")
            typer.echo("\n".join(headline(result)))
            typer.echo(f"\nreport: {out.resolve() / 'report.pdf'} (also .html, .json)")
            typer.echo("\n".join(describe(st.publication)))
            typer.echo(f"API: {rt.api_url}/v1/submissions/{sid}  status page: {rt.api_url}/status?id={sid}  "
                       f"catalogue: {rt.api_url}/catalogue")
            typer.echo("\n".join(_await_certificate(client, rt, sid, purge_timeout)))
            if keep:
                typer.echo("service still running (Ctrl-C to stop)")
                while True:
                    time.sleep(1)
        except KeyboardInterrupt:
            pass
        finally:
            rt.stop()

    @app.command()
    @clear_errors
    def submit(file: Path = typer.Argument(..., help="Cohort file (CSV or XLSX, Data Upload Template)."),
               programme: Path = typer.Option(..., help="Programme description JSON file."),
               wait: bool = typer.Option(True, help="Follow progress until the report is ready."),
               api: Optional[str] = API_OPT, token: Optional[str] = TOKEN_OPT) -> None:
        """Submit a cohort; prints the submission id and follows it through the stages."""
        _submit(file, programme, wait, api, token)

    @app.command()
    @clear_errors
    def status(submission_id: str = typer.Argument(..., help="Submission id (sub-...)."),
               api: Optional[str] = API_OPT, token: Optional[str] = TOKEN_OPT) -> None:
        """Show where a submission is: stage, timestamps, attrition counts, errors."""
        st = _client(api, token).status(submission_id)
        typer.echo(json.dumps(st.model_dump(mode="json", exclude_unset=True), indent=2))

    @app.command()
    @clear_errors
    def queue(api: Optional[str] = API_OPT, token: Optional[str] = TOKEN_OPT) -> None:
        """The operations queue: open requests by stage and their ages (operations token)."""
        q = _client(api, token, org="ops").queue()
        _print_queue(q)


def _submit(file: Path, programme: Path, wait: bool, api: str | None, token: str | None) -> None:
    """`jdl submit`: send the file, print what intake said, then follow it (``wait``)."""
    from .client import ApiError

    if not programme.is_file():
        raise fail(f"--programme: file {str(programme)!r} does not exist")
    try:
        prog = json.loads(programme.read_text())
    except ValueError:
        raise fail(f"--programme: {str(programme)!r} is not valid JSON") from None
    client = _client(api, token)
    try:
        resp = client.submit(file, prog)
    except ApiError as e:
        body = e.body
        for r in (body.get("rejected_rows") or [])[:20]:
            typer.echo(f"  row {r['row']}: {r['column'] or ''} {r['reason_code']}: {r['message']}", err=True)
        raise
    typer.echo(f"submission id: {resp['submission_id']}")
    typer.echo(f"rows: {resp['counts']}")
    for r in resp.get("rejected_rows", [])[:20]:
        typer.echo(f"  rejected row {r['row']}: {r['reason_code']} - {r['message']}")
    if wait:
        st = client.wait(resp["submission_id"], on_change=_print_status)
        if st.state == "done":
            for fmt, url in st.report_urls.items():
                typer.echo(f"report ({fmt}): {client.url(url)}")
            typer.echo("\n".join(describe(st.publication)))
        else:
            raise fail(f"submission {_ended(st)}")


def _print_queue(q: dict) -> None:
    """`jdl queue`: the operations queue, one line per open request and per report in review."""
    typer.echo(f"open: {q['open']}  by stage: {q['by_stage']}  oldest: {q['oldest_age_seconds']:.0f} s  "
               f"completed: {q['completed']} ({q['completed_within_sla']} within 14 days)  "
               f"failed: {q['failed']}  refused: {q['refused']}  purge pending: {q['purge_pending']}")
    for r in q["requests"]:
        typer.echo(f"  {r['submission_id']}  {r['org_id']:<16} {r['state']:<10} "
                   f"age {r['age_seconds'] / 3600:.1f} h  SLA left {r['sla_remaining_seconds'] / 86400:.1f} d")
    if q.get("publication"):
        pq = q["publication"]
        typer.echo(f"publication: {pq['by_state']}  next release {pq['next_release_at'][:16].replace('T', ' ')} UTC")
        for w in pq["waiting"]:
            typer.echo(f"  {w['submission_id']}  {w['state']:<10} review ends {w['review_ends_at'][:10]}  "
                       f"release {(w['release_at'] or '-')[:10]}{'  (response added)' if w['has_response'] else ''}")


DATA_DIR_OPT = typer.Option(None, "--data-dir", help="An existing national dataset to use "
                            "(default: VAR/data/national, or VAR/data/national-N for --people N other "
                            "than 100000; generated on first run).")


def _stop_on_sigterm() -> None:
    """SIGTERM (systemd, docker stop, CI) stops the runtime exactly as Ctrl-C does."""
    import signal

    def handler(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def _await_certificate(client, rt, sid: str, timeout: float) -> list[str]:
    """Wait (bounded) until the purge certified the deletion of the submission's data; the
    certificate's lines to print."""
    from jdl_infra.audit import AuditLog
    from jdl_infra.objectstore import FilesystemStore, open_store
    from jdl_infra.settings import InfraSettings

    deadline = time.monotonic() + timeout
    st = client.status(sid)
    while not st.purged:
        if time.monotonic() > deadline:
            raise fail(f"no purge certificate for {sid} after {timeout:.0f} s (state {st.state}); "
                       f"the service's reconciler will purge it when it next runs")
        time.sleep(0.3)
        st = client.status(sid)
    store = (FilesystemStore(rt.var_dir / "store") if rt.store_url is None
             else open_store(InfraSettings(**{"store_url": rt.store_url, "s3_endpoint": rt.s3_endpoint})))
    audit = AuditLog(store)
    cert = audit.certificate(sid)
    entry = audit.entry_of(cert) if cert is not None else None
    if cert is None or entry is None:
        raise fail(f"{sid} is marked purged but its certificate is not in the audit log")
    return [f"\npurge certificate (audit entry #{entry.seq}, {entry.key}):",
            f"  submission {sid}: {cert.n_objects} object(s) deleted ({cert.n_versions} version(s)), "
            f"data key {'destroyed' if cert.key_id_destroyed else 'not found'}, outcome {cert.outcome}, "
            f"verified empty: {cert.verification.passed}"]


def demo_programme(setting: str) -> dict:
    return {"organisation": "Second Chances Trust (fictional)", "name": "Through-the-gate mentoring",
            "targets": "Adults leaving custody after short sentences" if setting == "custody"
            else "Adults starting community orders",
            "delivers": "Weekly mentoring, help with housing and employment for six months",
            "selection": "Referred by prison and probation staff; higher-need people prioritised",
            "own_words": "Volunteer mentors who have been through the justice system themselves meet "
                         "each person before release and stay with them for six months: finding "
                         "somewhere to live, getting to appointments, and into training or work.",
            "setting": setting, "contact_email": "evaluation@example.org"}


def _runtime(kafka, s3, people, linkage_workers, var, data_dir=None, extra=None):
    from urllib.parse import urlparse

    from .runtime import EmbeddedRuntime

    store_url = endpoint = None
    if s3:
        u = urlparse(s3)
        if u.scheme not in ("http", "https") or not u.netloc or not u.path.strip("/"):
            raise fail("--s3 must look like http://HOST:PORT/BUCKET")
        store_url, endpoint = f"s3://{u.path.strip('/')}", u.netloc
    return EmbeddedRuntime(var_dir=var, kafka=kafka, store_url=store_url, s3_endpoint=endpoint,
                           people=people, linkage_workers=linkage_workers,
                           data_dir=data_dir.resolve() if data_dir else None,
                           extra_env={**({"JDL_S3_SECURE": "true"} if s3 and s3.startswith("https") else {}),
                                      **(extra or {})})
