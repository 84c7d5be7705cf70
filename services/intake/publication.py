"""Publication routes of the intake API: the review step (response, accept, withdraw), the public
catalogue (published reports only), release dates and public counts, the periodic summary, and
the Data Upload Template. Registered by ``create_api`` with ``register(...)``.

"Now" comes from ``app.state.clock`` and the policy from ``app.state.publication_policy``, so
tests move time and change the calendar without touching the code.
"""
from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime
from typing import Any, Callable

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from jdl_core.errors import InvalidArgument
from jdl_events import keys
from jdl_events.vocab import REPORT_MEDIA_TYPES as REPORT_TYPES
from jdl_infra import publication as pub
from jdl_infra.objectstore import ObjectNotFound, ObjectStore
from jdl_report.publication import (
    PublicationError,
    PublicationPolicy,
    PublicationRecord,
    ResponseError,
    accept,
    add_response,
    release_dates,
    withdraw,
)

from . import status

log = logging.getLogger("jdl.intake.publication")
MAX_RESPONSE_BODY = 64 * 1024


def _error(status_code: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status_code, content={"error": {"code": code, "message": message}})


def now_of(app: FastAPI) -> datetime:
    return app.state.clock()


def policy_of(app: FastAPI) -> PublicationPolicy:
    return app.state.publication_policy


def status_extra(app: FastAPI, store: ObjectStore, sid: str) -> dict[str, Any]:
    """The ``publication`` block of ``GET /v1/submissions/<id>`` (moved on to now first)."""
    rec = pub.read(store, sid)
    now, policy = now_of(app), policy_of(app)
    if rec is not None:
        rec = pub.refresh(store, rec, now, policy)
    return pub.view(rec, now, policy)


def queue_extra(app: FastAPI, store: ObjectStore) -> dict[str, Any]:
    """The ``publication`` block of the operations queue."""
    now, policy = now_of(app), policy_of(app)
    return pub.queue_view(pub.publish_due(store, now, policy), now, policy)


def register(app: FastAPI, store: ObjectStore, settings: Any, principal: Callable[..., Any],
             owned: Callable[[str, Any], dict[str, Any]]) -> None:
    """Add the publication routes to ``app`` (``principal``/``owned``: the API's own auth)."""
    if not hasattr(app.state, "clock"):
        app.state.clock = pub.utcnow
    if not hasattr(app.state, "publication_policy"):
        app.state.publication_policy = pub.load_policy(settings.infra.environment)
    app.include_router(_router(store, settings, principal, owned))


def _router(store: ObjectStore, settings: Any, principal: Callable[..., Any],
            owned: Callable[[str, Any], dict[str, Any]]) -> APIRouter:
    r = APIRouter()
    _review_routes(r, store, principal, owned)
    _public_routes(r, store)
    _template_routes(r, settings)
    return r


def _review_routes(r: APIRouter, store: ObjectStore, principal: Callable[..., Any],
                   owned: Callable[[str, Any], dict[str, Any]]) -> None:
    """The organisation's review step (response, accept, withdraw) and the operations queue."""

    def record_for(request: Request, sid: str, who: Any):
        owned(sid, who)          # 404 unless it is this organisation's (or operations)
        rec = pub.read(store, sid)
        if rec is None:
            raise HTTPException(409, "the report is not ready yet: there is nothing to review")
        return pub.refresh(store, rec, now_of(request.app), policy_of(request.app))

    def org_only(who: Any, action: str) -> None:
        if who.is_ops:
            raise HTTPException(403, f"only the organisation that submitted the cohort can {action}")

    @r.get("/v1/submissions/{sid}/publication")
    def get_publication(sid: str, request: Request, who: Any = Depends(principal)) -> dict[str, Any]:
        """Where the report is in review -> scheduled -> published, its dates and response."""
        owned(sid, who)
        return status_extra(request.app, store, sid)

    @r.post("/v1/submissions/{sid}/response")
    async def post_response(sid: str, request: Request, who: Any = Depends(principal)) -> Any:
        """Add (or replace) the organisation's response while the report is in review; the report
        is re-rendered with it. Body: JSON ``{"text": "..."}``, plain text, at most 4,000 characters."""
        org_only(who, "add a response")
        rec = record_for(request, sid, who)
        return await _add_response(store, request, sid, who, rec)

    @r.post("/v1/submissions/{sid}/accept")
    def post_accept(sid: str, request: Request, who: Any = Depends(principal)) -> Any:
        """The organisation has read the report: schedule it for the next release date."""
        org_only(who, "accept the report")
        rec = record_for(request, sid, who)
        try:
            new = accept(rec, now_of(request.app), who.org_id, policy_of(request.app))
        except PublicationError as e:
            return _error(409, e.code, str(e))
        pub.write(store, new)
        return {"publication": pub.view(new, now_of(request.app), policy_of(request.app))}

    @r.post("/v1/submissions/{sid}/withdraw")
    def post_withdraw(sid: str, request: Request, who: Any = Depends(principal)) -> Any:
        """Withdraw the report before it is published (counted publicly, without detail)."""
        rec = record_for(request, sid, who)
        try:
            new = withdraw(rec, now_of(request.app), who.org_id, policy_of(request.app))
        except PublicationError as e:
            return _error(409, e.code, str(e))
        pub.write(store, new)
        log.info("report withdrawn", extra={"submission_id": sid, "org_id": who.org_id})
        return {"publication": pub.view(new, now_of(request.app), policy_of(request.app))}

    @r.get("/v1/queue/publication")
    def publication_queue(request: Request, who: Any = Depends(principal)) -> dict[str, Any]:
        if not who.is_ops:
            raise HTTPException(403, "the queue is for operations staff only")
        return queue_extra(request.app, store)


async def _add_response(store: ObjectStore, request: Request, sid: str, who: Any,
                        rec: PublicationRecord) -> Any:
    """The body of ``POST /v1/submissions/<id>/response``, once the caller may respond."""
    raw = await request.body()
    if len(raw) > MAX_RESPONSE_BODY:
        return _error(413, "response_too_large", f"the request body is larger than "
                      f"{MAX_RESPONSE_BODY} bytes; a response is at most 4,000 characters")
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        return _error(422, "invalid_response", 'the body must be JSON: {"text": "..."}')
    if not isinstance(body, dict) or not isinstance(body.get("text"), str):
        return _error(422, "invalid_response", 'the body must be JSON with a "text" string: {"text": "..."}')
    try:
        new = add_response(rec, body["text"], now_of(request.app), who.org_id, policy_of(request.app))
    except ResponseError as e:
        return _error(422, e.code, str(e))
    except PublicationError as e:
        return _error(409, e.code, str(e))
    # the report files first, then the record: a failed render leaves the old state intact
    try:
        keys = await asyncio.to_thread(pub.rerender, store, new)
    except Exception as exc:  # noqa: BLE001 - said to the caller; the old report and state stay
        log.error("re-rendering with a response failed", extra={"submission_id": sid,
                                                                "error_type": type(exc).__name__})
        return _error(500, "render_failed", "the report could not be re-rendered with the "
                      "response, so the response was not stored; try again later or contact "
                      "the Justice Data Lab")
    pub.write(store, new)
    log.info("response added", extra={"submission_id": sid, "org_id": who.org_id})
    return {"publication": pub.view(new, now_of(request.app), policy_of(request.app)),
            "report_keys": sorted(keys)}


def _published_entries(store: ObjectStore, request: Request) -> list[dict[str, Any]]:
    pub.publish_due(store, now_of(request.app), policy_of(request.app))
    return pub.catalogue_entries(store)


def _public_routes(r: APIRouter, store: ObjectStore) -> None:
    """Public pages: the catalogue of published reports, release dates and public counts."""

    def published_entries(request: Request) -> list[dict[str, Any]]:
        return _published_entries(store, request)

    @r.get("/v1/reports")
    def catalogue(request: Request) -> list[dict[str, Any]]:
        """The public catalogue: published reports only (headline figures, aggregates only)."""
        return published_entries(request)

    @r.get("/v1/reports/{sid}", response_class=Response)
    def published_report(sid: str, request: Request, format: str = "html") -> Response:
        """A published report (public, like the MoJ's JDL publications); 404 until published."""
        if format not in REPORT_TYPES or not keys.is_submission_id(sid):
            raise HTTPException(404, "no such report")
        rec = pub.read(store, sid)
        if rec is not None:
            pub.refresh(store, rec, now_of(request.app), policy_of(request.app))
        if not pub.is_published(store, sid):
            raise HTTPException(404, "no such published report")
        try:
            return Response(store.get(pub.report_key(sid, format)), media_type=REPORT_TYPES[format])
        except ObjectNotFound:
            raise HTTPException(404, "no such report") from None

    @r.get("/catalogue", response_class=HTMLResponse)
    def catalogue_page(request: Request) -> HTMLResponse:
        from jdl_report import CatalogueEntry, catalogue_html

        return HTMLResponse(catalogue_html([CatalogueEntry.model_validate(e)
                                            for e in published_entries(request)]))

    @r.get("/v1/publication")
    def calendar(request: Request) -> dict[str, Any]:
        """Release dates and the public counts (published, withdrawn, refused; no detail)."""
        now, policy = now_of(request.app), policy_of(request.app)
        records = pub.publish_due(store, now, policy)
        return {"next_release_dates": [d.isoformat() for d in release_dates(now, policy, 4)],
                "review_working_days": policy.review_working_days,
                "counts": pub.public_counts(records, status.all_statuses(store))}

    _summary_routes(r, store)


def _summary_routes(r: APIRouter, store: ObjectStore) -> None:
    """The periodic summaries of published results, and their index page."""

    @r.get("/v1/summaries/{period}")
    def summary(period: str, request: Request, format: str = "html") -> Response:
        """The summary of every report published in a period (2026Q4, 2026-11, 2026)."""
        from jdl_report import CatalogueEntry
        from jdl_report.summary import EmptyPeriod, parse_period, summary_html, summary_pdf

        if format not in ("html", "pdf"):
            return _error(422, "invalid_argument", "format must be html or pdf")
        try:
            p = parse_period(period)
        except InvalidArgument as e:
            return _error(422, e.code, str(e))
        entries = [CatalogueEntry.model_validate(e) for e in _published_entries(store, request)]
        counts = period_counts(store, p)
        try:
            if format == "pdf":
                return Response(summary_pdf(entries, p, counts=counts), media_type="application/pdf")
            return HTMLResponse(summary_html(entries, p, counts=counts))
        except EmptyPeriod as e:
            return _error(404, e.code, str(e))

    @r.get("/summaries", response_class=HTMLResponse)
    def summaries_page(request: Request) -> HTMLResponse:
        """Index of the periodic summaries: each quarter with published reports, and the counts."""
        from html import escape

        from jdl_report.summary import parse_period

        now, policy = now_of(request.app), policy_of(request.app)
        records = pub.publish_due(store, now, policy)
        quarters: dict[str, int] = {}
        for e in pub.catalogue_entries(store):
            t = datetime.fromisoformat(e["published_at"])
            key = f"{t.year}Q{(t.month - 1) // 3 + 1}"
            quarters[key] = quarters.get(key, 0) + 1
        counts = pub.public_counts(records, status.all_statuses(store))
        items = "".join(
            f'<li>{escape(parse_period(q).label)}: {n} report{"" if n == 1 else "s"} '
            f'(<a href="/v1/summaries/{q}">web page</a> · <a href="/v1/summaries/{q}?format=pdf">PDF</a>)</li>'
            for q, n in sorted(quarters.items(), reverse=True)) or "<li>No report has been published yet.</li>"
        dates = ", ".join(f"{d:%-d %B %Y}" for d in release_dates(now, policy, 3))
        return HTMLResponse(
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Justice Data Lab: '
            'summaries</title><style>body{font-family:Arial,Helvetica,sans-serif;max-width:52rem;'
            'margin:2rem auto;padding:0 1rem;color:#0b0c0c}h1{border-bottom:6px solid #1d70b8}'
            'nav a{margin-right:1rem}</style></head><body><nav><a href="/">Submit</a>'
            '<a href="/status">Status</a><a href="/catalogue">Published reports</a></nav>'
            '<h1>Summaries of published results</h1><ul id="summaries">' + items + '</ul>'
            f'<p id="release-dates">Next release dates: {escape(dates)}.</p>'
            f'<p id="counts">Published: {counts["published"]}. Withdrawn by the organisation before '
            f'publication: {counts["withdrawn"]}. Refused: {counts["refused"]}.</p></body></html>')


def _template_routes(r: APIRouter, settings: Any) -> None:
    """The Data Upload Template: its columns and rules, and CSV and Excel copies to fill in."""

    def upload_window() -> tuple[str, str]:
        """The intervention dates the upload accepts (the same window the upload route uses)."""
        from .window import intake_window

        w = intake_window(settings)
        return w.start.isoformat(), w.end.isoformat()

    @r.get("/v1/template")
    def template() -> dict[str, Any]:
        """The upload columns and rules (the upload page shows them)."""
        from jdl_core import upload_template as t

        start, end = upload_window()
        return {"columns": t.as_dicts(),
                "rules": t.template_rules(settings.min_cohort_size, start, end),
                "downloads": {"csv": "/v1/template.csv", "xlsx": "/v1/template.xlsx"}}

    @r.get("/v1/template.csv")
    def template_csv() -> Response:
        from jdl_core.upload_template import template_csv as make

        return Response(make(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="jdl-upload-template.csv"'})

    @r.get("/v1/template.xlsx")
    def template_xlsx() -> Response:
        from jdl_core.upload_template import template_xlsx as make

        return Response(make(settings.min_cohort_size, *upload_window()),
                        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": 'attachment; filename="jdl-upload-template.xlsx"'})


def period_counts(store: ObjectStore, period: Any) -> dict[str, int]:
    """Withdrawn (by withdrawal date) and refused (by receipt date) requests in a period."""
    from jdl_infra.publication import all_records

    withdrawn = sum(1 for r in all_records(store) if r.withdrawn_at and period.contains(r.withdrawn_at))
    refused = 0
    for s in status.all_statuses(store):
        if s.get("state") == "refused":
            try:
                if period.contains(status.parse_iso(s["received_at"])):
                    refused += 1
            except (KeyError, ValueError):
                continue
    return {"withdrawn": withdrawn, "refused": refused}
