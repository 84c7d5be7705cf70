"""The intake HTTP API (FastAPI): submissions, status, reports, the operations queue, health and
metrics (the review step, public catalogue, summaries and template are in publication.py).
Organisations authenticate with bearer tokens; each sees only its own submissions. Responses
carry row numbers, reason codes and counts, never submitted values.

Routes are thin: parse the request, call a use case of handlers.py (in a thread when it blocks:
object-store round trips, the broker's acknowledgement) and map its outcome to a response. They
read their ports from ``app.state``, which ``create_api`` fills."""
from __future__ import annotations

import asyncio
import functools
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from fastapi import APIRouter, Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_fastapi_instrumentator import Instrumentator

from jdl_events import keys
from jdl_events.vocab import REPORT_MEDIA_TYPES as REPORT_TYPES
from jdl_infra.objectstore import ObjectNotFound, ObjectStore

from . import publication, status
from .checkpoints import checkpoint_router
from .errors import install_error_handlers
from .handlers import Accepted, IntakePorts, Refused, Upload, accept_submission
from .parsing import BoundedParser
from .plan_route import router as plan_router
from .ratelimit import install_rate_limits, rate_limits
from .settings import IntakeSettings
from .window import window_router

log = logging.getLogger("jdl.intake.api")
OPS_ORG = "ops"
# refusal code -> HTTP status (any other refusal: 422)
STATUS_OF_CODE = {"file_too_large": 413, "unsupported_format": 415, "service_unavailable": 503}

router = APIRouter()


@dataclass
class Principal:
    org_id: str

    @property
    def is_ops(self) -> bool:
        return self.org_id == OPS_ORG


def _error(status_code: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse(status_code=status_code,
                        content={"error": {"code": code, "message": message}, **extra})


def get_ports(request: Request) -> IntakePorts:
    return request.app.state.ports


def get_principal(request: Request) -> Principal:
    auth = request.headers.get("authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    org = request.app.state.tokens.get(token)
    if not token or org is None:
        raise HTTPException(401, "missing or unknown API token (Authorization: Bearer <token>)",
                            headers={"WWW-Authenticate": "Bearer"})
    return Principal(org)


def owned(store: ObjectStore, sid: str, who: Principal) -> dict[str, Any]:
    """The submission's status record if ``who`` may see it; 404 otherwise."""
    rec = status.read_status(store, sid) if keys.is_submission_id(sid) else None
    if rec is None or (not who.is_ops and rec["org_id"] != who.org_id):
        raise HTTPException(404, "no such submission for this organisation")
    return rec


async def _reachable(fn: Callable[[], Any], timeout: float) -> bool:
    try:
        return bool(await asyncio.wait_for(asyncio.to_thread(fn), timeout))
    except Exception:  # noqa: BLE001 - unreachable, whatever the reason
        return False


def _accepted(a: Accepted) -> JSONResponse:
    return JSONResponse(status_code=202, content={
        "submission_id": a.submission_id, "status_url": f"/v1/submissions/{a.submission_id}",
        "counts": a.counts, "rejected_rows": a.rejected_rows, "warnings": a.warnings})


def _refused(r: Refused) -> JSONResponse:
    extra: dict[str, Any] = {}
    if r.submission_id is not None:
        extra["submission_id"] = r.submission_id
    if r.rejected_rows is not None:
        extra["rejected_rows"] = r.rejected_rows
    resp = _error(STATUS_OF_CODE.get(r.code, 422), r.code, r.message, **extra)
    if r.code == "service_unavailable":
        resp.headers["Retry-After"] = "30"
    return resp


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers. Never touches the broker or the store."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(ports: IntakePorts = Depends(get_ports)) -> JSONResponse:
    """Readiness: can the API take an upload now (broker and store reachable)?"""
    ready = ports.broker_ready
    broker = await _reachable(ready, 1.5) if ready is not None else True
    store_ok = await _reachable(lambda: ports.store.exists(keys.STORE_PROBE) or True, 1.5)
    ok = broker and store_ok
    return JSONResponse(status_code=200 if ok else 503, content={
        "status": "ready" if ok else "not_ready",
        "broker": "reachable" if broker else "unreachable",
        "store": "reachable" if store_ok else "unreachable"})


@router.get("/metrics")
def metrics_page(request: Request) -> Response:
    return Response(generate_latest() + generate_latest(request.app.state.http_metrics),
                    media_type=CONTENT_TYPE_LATEST)


@router.post("/v1/submissions", status_code=202)
async def submit(request: Request, file: UploadFile = File(...), programme: str = Form(...),
                 who: Principal = Depends(get_principal),
                 ports: IntakePorts = Depends(get_ports)) -> JSONResponse:
    """Upload a cohort (CSV or XLSX) and its programme description (JSON)."""
    if who.is_ops:
        raise HTTPException(403, "the operations token cannot submit cohorts")
    settings: IntakeSettings = request.app.state.settings
    upload = Upload(await file.read(settings.max_upload_bytes + 1), file.filename or "upload",
                    programme, who.org_id)
    outcome = await asyncio.to_thread(accept_submission, upload, ports=ports, settings=settings,
                                      parse=request.app.state.parser.parse_blocking)
    return _accepted(outcome) if isinstance(outcome, Accepted) else _refused(outcome)


@router.get("/v1/submissions/{sid}")
def get_status(request: Request, sid: str, who: Principal = Depends(get_principal),
               ports: IntakePorts = Depends(get_ports)) -> dict[str, Any]:
    rec = owned(ports.store, sid, who)
    out = {k: v for k, v in rec.items() if k not in status.INTERNAL_FIELDS}
    out["stages"] = [{"event": h["event"], "at": h["at"]} for h in rec["history"]]
    out["age_seconds"] = round(status.age_seconds(rec, datetime.now(timezone.utc)), 1)
    out["publication"] = publication.status_extra(request.app, ports.store, sid)
    if rec["state"] == "done":
        out["report_urls"] = {f: f"/v1/submissions/{sid}/report?format={f}" for f in REPORT_TYPES}
    return out


@router.get("/v1/submissions/{sid}/report")
def get_report(sid: str, format: str = "pdf", who: Principal = Depends(get_principal),
               ports: IntakePorts = Depends(get_ports)) -> Response:
    rec = owned(ports.store, sid, who)
    if format not in REPORT_TYPES:
        raise HTTPException(422, f"format must be one of {', '.join(REPORT_TYPES)}")
    if rec["state"] != "done":
        raise HTTPException(409, f"the report is not ready (state: {rec['state']})")
    try:
        body = ports.store.get(rec["report_keys"][format])
    except (KeyError, ObjectNotFound):
        raise HTTPException(404, "report file not found") from None
    return Response(body, media_type=REPORT_TYPES[format])


@router.get("/v1/queue")
def queue(request: Request, who: Principal = Depends(get_principal),
          ports: IntakePorts = Depends(get_ports)) -> dict[str, Any]:
    if not who.is_ops:
        raise HTTPException(403, "the queue is for operations staff only")
    q = status.queue_view(status.all_statuses(ports.store), datetime.now(timezone.utc))
    q["publication"] = publication.queue_extra(request.app, ports.store)
    return q


@router.get("/", response_class=HTMLResponse)
def upload_page() -> HTMLResponse:
    return HTMLResponse(_page("upload.html"))


@router.get("/status", response_class=HTMLResponse)
def status_page() -> HTMLResponse:
    return HTMLResponse(_page("status.html"))


def create_api(settings: IntakeSettings, ports: IntakePorts) -> FastAPI:
    """Build the API over ``ports`` (production: __main__.build_api; tests: a MemoryStore and a
    list that captures what is published)."""
    app = FastAPI(title="Justice Data Lab", version="1.0",
                  description="Submit a cohort, follow its progress, fetch the report.")
    # HTTP metrics (http_requests_total by route template, method and status class; latency and
    # sizes) from a maintained library, served on /metrics; JdlApiServerErrors reads them.
    # A registry of this app's own: the library instruments only the first app of a process
    # that uses the shared one.
    app.state.http_metrics = CollectorRegistry(auto_describe=True)
    Instrumentator(excluded_handlers=["/metrics", "/healthz"],
                   registry=app.state.http_metrics).instrument(app)
    app.state.settings = settings
    app.state.ports = ports
    app.state.tokens = json.loads(settings.tokens.get_secret_value() or "{}")
    app.state.parser = BoundedParser.from_settings(settings)   # XLSX in bounded child processes
    app.include_router(plan_router)                 # GET /v1/plan (plan_route.py)
    app.include_router(window_router(settings))     # GET /v1/window (window.py)
    app.include_router(router)
    install_error_handlers(app)                     # intake's 422 shape, no input echoed
    app.state.rate_limits = install_rate_limits(app, rate_limits(settings))   # 429 per token
    app.include_router(checkpoint_router(ports.store))   # signed audit checkpoints (public)
    # review, catalogue, summary, template
    publication.register(app, ports.store, settings, get_principal,
                         functools.partial(owned, ports.store))
    return app


def _page(name: str) -> str:
    return (Path(__file__).parent / "web" / name).read_text()

