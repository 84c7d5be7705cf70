"""The intake HTTP API (FastAPI): submissions, status, reports, the operations queue, health and
metrics (the review step, public catalogue, summaries and template are in publication.py).
Organisations authenticate with bearer tokens; each sees only its own submissions. Responses
carry row numbers, reason codes and counts, never submitted values."""
from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from datetime import datetime, timezone
from typing import Any, Callable

from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_fastapi_instrumentator import Instrumentator

from jdl_core.errors import CohortError, JdlError
from jdl_events import keys
from jdl_events.events import PurgeRequested, SubmissionReceived, new_submission_id
from jdl_events.vocab import REPORT_MEDIA_TYPES as REPORT_TYPES
from jdl_infra import metrics
from jdl_infra.objectstore import ObjectNotFound, ObjectStore
from jdl_infra.ports import frame_to_bytes
from jdl_infra.stage import make_marker

from . import publication, status
from .checkpoints import checkpoint_router
from .errors import install_error_handlers
from .parsing import BoundedParser
from .ratelimit import install_rate_limits, rate_limits
from .settings import IntakeSettings
from .plan_route import router as plan_router
from .window import intake_window, window_router

log = logging.getLogger("jdl.intake.api")
OPS_ORG = "ops"


@dataclass
class Principal:
    org_id: str

    @property
    def is_ops(self) -> bool:
        return self.org_id == OPS_ORG


def _error(status_code: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse(status_code=status_code,
                        content={"error": {"code": code, "message": message}, **extra})


STATUS_OF_CODE = {"file_too_large": 413, "unsupported_format": 415}


# The event of an accepted upload must be acknowledged by the broker before the API answers 202
# (upload is all-or-nothing); the producer gives up after about 1.5 s, this bounds the wait.
SEND_TIMEOUT_SECONDS = 1.8
UNAVAILABLE = ("the service cannot accept uploads at the moment (its message broker is "
               "unavailable); nothing of this upload was kept - please try again in a minute")


def create_api(settings: IntakeSettings, store: ObjectStore, keyring: Any,
               send_event: Callable[[Any], None],
               broker_ready: Callable[[], bool] | None = None) -> FastAPI:
    """Build the API. ``send_event`` publishes an event and returns once the broker acknowledged
    it, raising otherwise (jdl_infra.kafka_io.EventProducer in production); it is called in a
    thread with a time limit. ``broker_ready`` answers /readyz (None: not checked)."""
    tokens: dict[str, str] = json.loads(settings.tokens.get_secret_value() or "{}")
    parser = BoundedParser.from_settings(settings)   # XLSX in bounded child processes
    app = FastAPI(title="Justice Data Lab", version="1.0",
                  description="Submit a cohort, follow its progress, fetch the report.")
    # HTTP metrics (http_requests_total by route template, method and status class; latency and
    # sizes) from a maintained library, served on /metrics below; JdlApiServerErrors reads them.
    # A registry of this app's own: the library instruments only the first app of a process
    # that uses the shared one.
    http_metrics = CollectorRegistry(auto_describe=True)
    Instrumentator(excluded_handlers=["/metrics", "/healthz"], registry=http_metrics).instrument(app)

    def principal(request: Request) -> Principal:
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        org = tokens.get(token)
        if not token or org is None:
            raise HTTPException(401, "missing or unknown API token (Authorization: Bearer <token>)",
                                headers={"WWW-Authenticate": "Bearer"})
        return Principal(org)

    def owned(sid: str, who: Principal) -> dict[str, Any]:
        rec = status.read_status(store, sid) if keys.is_submission_id(sid) else None
        if rec is None or (not who.is_ops and rec["org_id"] != who.org_id):
            raise HTTPException(404, "no such submission for this organisation")
        return rec

    app.include_router(plan_router)   # GET /v1/plan (services/intake/plan_route.py)
    app.include_router(window_router(settings))   # GET /v1/window (services/intake/window.py)

    async def send_bounded(event: Any) -> None:
        """Send off the event loop, at most SEND_TIMEOUT_SECONDS (raises on failure/timeout)."""
        await asyncio.wait_for(asyncio.to_thread(send_event, event), SEND_TIMEOUT_SECONDS)

    async def check_reachable(fn: Callable[[], Any], timeout: float) -> bool:
        try:
            return bool(await asyncio.wait_for(asyncio.to_thread(fn), timeout))
        except Exception:  # noqa: BLE001 - unreachable, whatever the reason
            return False

    def unavailable(sid: str | None) -> JSONResponse:
        extra = {"submission_id": sid} if sid else {}
        resp = _error(503, "service_unavailable", UNAVAILABLE, **extra)
        resp.headers["Retry-After"] = "30"
        return resp

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers. Never touches the broker or the store."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """Readiness: can the API take an upload now (broker and store reachable)?"""
        broker = await check_reachable(broker_ready, 1.5) if broker_ready is not None else True
        store_ok = await check_reachable(lambda: store.exists(keys.STORE_PROBE) or True, 1.5)
        ok = broker and store_ok
        return JSONResponse(status_code=200 if ok else 503, content={
            "status": "ready" if ok else "not_ready",
            "broker": "reachable" if broker else "unreachable",
            "store": "reachable" if store_ok else "unreachable"})

    @app.get("/metrics")
    def metrics_page() -> Response:
        return Response(generate_latest() + generate_latest(http_metrics), media_type=CONTENT_TYPE_LATEST)

    async def record_refusal(sid: str, org_id: str, code: str, message: str, *,
                             notify: bool = True) -> None:
        """A refused upload's status record (counts only), and a purge request so the purge
        service certifies that nothing remains. If the broker does not take the request, the
        reconciler finds the refused record without a certificate and certifies it."""
        rec = status.new_record(sid, org_id, datetime.now(timezone.utc), state="refused")
        rec["error"] = {"stage": "intake", "reason_code": code, "reason": message[:500]}
        rec["completed_at"] = rec["received_at"]
        await asyncio.to_thread(status.write_status, store, rec)
        if not notify:
            return
        try:
            await send_bounded(PurgeRequested(submission_id=sid, trigger="refused"))
        except Exception as exc:  # noqa: BLE001 - the reconciler certifies it later
            log.warning("purge request for a refusal not sent; left to the reconciler",
                        extra={"submission_id": sid, "error_type": type(exc).__name__})

    async def refuse(who: Principal, status_code: int, code: str, message: str, **extra: Any) -> JSONResponse:
        """Refused upload: nothing of it is stored; the refusal is recorded and certified."""
        metrics.SUBMISSIONS_REFUSED.labels(code).inc()
        sid = new_submission_id()
        await record_refusal(sid, who.org_id, code, message)
        log.info("submission refused", extra={"submission_id": sid, "org_id": who.org_id, "code": code})
        return _error(status_code, code, message, submission_id=sid, **extra)

    def discard(sid: str) -> None:
        """Delete at once everything stored for an upload that could not be accepted."""
        store.delete_prefix(keys.submission_prefix(sid))
        keyring.destroy(sid)
        store.delete_prefix(keys.stage_prefix(sid))

    @app.post("/v1/submissions", status_code=202)
    async def submit(request: Request, file: UploadFile = File(...), programme: str = Form(...),
                     who: Principal = Depends(principal)) -> JSONResponse:
        from jdl_core.cohort import validate_cohort
        from jdl_core.programme import load_programme

        if who.is_ops:
            raise HTTPException(403, "the operations token cannot submit cohorts")
        if broker_ready is not None and not await check_reachable(broker_ready, 0.5):
            # the broker refuses connections: answer at once, before storing anything
            metrics.UPLOADS_UNAVAILABLE.inc()
            return unavailable(None)
        limit = settings.max_upload_bytes
        data = await file.read(limit + 1)
        if len(data) > limit:
            return await refuse(who, 413, "file_too_large", f"the file is larger than the limit of "
                          f"{limit} bytes; split the cohort or remove unused columns")
        try:
            fields = json.loads(programme)
        except ValueError:
            fields = None
        if isinstance(fields, dict):
            fields["org_id"] = who.org_id   # the organisation is the token's, not self-declared
        try:
            prog = load_programme(fields if isinstance(fields, dict) else programme)
        except JdlError as e:
            return await refuse(who, 422, e.code, str(e))
        try:
            # parsing a large XLSX takes seconds: keep it off the event loop
            # a workbook is read in a memory-limited child process (services/intake/parsing.py)
            frame = await parser.parse(data, file.filename or "upload", max_bytes=limit)
            window = intake_window(settings)   # from the dataset's manifest
            cohort = await asyncio.to_thread(
                validate_cohort, frame, setting=prog.setting, coverage_start=window.start,
                coverage_end=window.end, min_size=settings.min_cohort_size,
                coverage_note=window.note)
        except CohortError as e:
            rejected = [_rejection(r) for r in getattr(e, "rejections", []) or []]
            return await refuse(who, STATUS_OF_CODE.get(e.code, 422), e.code, str(e), rejected_rows=rejected)

        sid = new_submission_id()
        now = datetime.now(timezone.utc)
        for reason, n in cohort.counts.by_reason.items():   # a row may count under two reasons
            metrics.ROWS_REJECTED.labels(reason).inc(n)
        # attrition buckets of methodology.md section 3: each rejected row counted once
        by_reason = {"invalid_row": cohort.counts.invalid, "duplicate": cohort.counts.duplicates}
        rec = status.new_record(sid, who.org_id, now)
        rec["counts"] = {"rows_submitted": cohort.counts.submitted,
                         "rows_valid": len(cohort.rows), "rows_rejected": cohort.counts.rejected}
        received = SubmissionReceived(
            submission_id=sid, org_id=who.org_id, setting=prog.setting,
            rows_submitted=cohort.counts.submitted, rows_valid=len(cohort.rows),
            rows_rejected=cohort.counts.rejected, rejected_by_reason=by_reason,
            cohort_key=keys.cohort_key(sid), programme_key=keys.programme_key(sid), received_at=now)


        def store_upload() -> None:   # object-store round trips: off the event loop
            keyring.create_data_key(sid)
            store.put(keys.cohort_key(sid), keyring.encrypt(sid, frame_to_bytes(cohort.rows),
                                                            aad=keys.cohort_key(sid)))
            store.put(keys.programme_key(sid), prog.model_dump_json().encode())
            # submission.received as sent, recorded like a stage marker so the reconciler can
            # re-send it if the broker loses it (jdl_infra.stage)
            store.put(keys.stage_marker_key(sid, "intake"), make_marker("intake", [received]))
            status.write_status(store, rec)

        await asyncio.to_thread(store_upload)
        # all or nothing: 202 only once the broker has the event; else nothing is kept
        try:
            await send_bounded(received)
        except Exception as exc:  # noqa: BLE001 - broker down, restarting or too slow
            metrics.UPLOADS_UNAVAILABLE.inc()
            await asyncio.to_thread(discard, sid)
            # certified by the reconciler (a purge request now would wait on the same broker)
            await record_refusal(sid, who.org_id, "service_unavailable", UNAVAILABLE, notify=False)
            log.warning("upload not accepted: event not sent, stored data deleted",
                        extra={"submission_id": sid, "error_type": type(exc).__name__})
            return unavailable(sid)
        metrics.SUBMISSIONS_RECEIVED.inc()
        log.info("submission accepted", extra={"submission_id": sid, "org_id": who.org_id,
                                               "rows": len(cohort.rows)})
        return JSONResponse(status_code=202, content={
            "submission_id": sid, "status_url": f"/v1/submissions/{sid}",
            "counts": rec["counts"], "rejected_rows": [_rejection(r) for r in cohort.rejections],
            "warnings": [w.to_dict() for w in cohort.warnings]})

    @app.get("/v1/submissions/{sid}")
    def get_status(sid: str, who: Principal = Depends(principal)) -> dict[str, Any]:
        rec = owned(sid, who)
        now = datetime.now(timezone.utc)
        out = {k: v for k, v in rec.items() if k not in status.INTERNAL_FIELDS}
        out["stages"] = [{"event": h["event"], "at": h["at"]} for h in rec["history"]]
        out["age_seconds"] = round(status.age_seconds(rec, now), 1)
        out["publication"] = publication.status_extra(app, store, sid)
        if rec["state"] == "done":
            out["report_urls"] = {f: f"/v1/submissions/{sid}/report?format={f}" for f in REPORT_TYPES}
        return out

    @app.get("/v1/submissions/{sid}/report")
    def get_report(sid: str, format: str = "pdf", who: Principal = Depends(principal)) -> Response:
        rec = owned(sid, who)
        if format not in REPORT_TYPES:
            raise HTTPException(422, f"format must be one of {', '.join(REPORT_TYPES)}")
        if rec["state"] != "done":
            raise HTTPException(409, f"the report is not ready (state: {rec['state']})")
        try:
            body = store.get(rec["report_keys"][format])
        except (KeyError, ObjectNotFound):
            raise HTTPException(404, "report file not found") from None
        return Response(body, media_type=REPORT_TYPES[format])

    @app.get("/v1/queue")
    def queue(who: Principal = Depends(principal)) -> dict[str, Any]:
        if not who.is_ops:
            raise HTTPException(403, "the queue is for operations staff only")
        q = status.queue_view(status.all_statuses(store), datetime.now(timezone.utc))
        q["publication"] = publication.queue_extra(app, store)
        return q

    @app.get("/", response_class=HTMLResponse)
    def upload_page() -> HTMLResponse:
        return HTMLResponse(_page("upload.html"))

    @app.get("/status", response_class=HTMLResponse)
    def status_page() -> HTMLResponse:
        return HTMLResponse(_page("status.html"))

    install_error_handlers(app)                     # intake's 422 shape, no input echoed
    app.state.rate_limits = install_rate_limits(app, rate_limits(settings))   # 429 per token
    app.state.parser = parser
    app.include_router(checkpoint_router(store))   # signed audit checkpoints (public)
    publication.register(app, store, settings, principal, owned)   # review, catalogue, summary, template
    app.state.store = store
    return app


def _page(name: str) -> str:
    return (Path(__file__).parent / "web" / name).read_text()


def _rejection(r: Any) -> dict[str, Any]:
    return {"row": r.row_number, "column": r.column, "reason_code": r.reason_code, "message": r.message}
