"""Reporting stage: control.matched -> PDF, HTML and JSON reports + catalogue entry -> report.ready."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from jdl_events.events import ControlMatched, Event, ReportReady
from jdl_infra.objectstore import ObjectStore
from jdl_infra.stage import event_id_for

STAGE = "reporting"
CONTENT_TYPES = {"pdf": "application/pdf", "html": "text/html; charset=utf-8", "json": "application/json"}


@dataclass
class ReportingPorts:
    store: ObjectStore
    suppression_threshold: int = 5


def report_key(submission_id: str, fmt: str) -> str:
    return f"reports/{submission_id}/report.{fmt}"


def catalogue_key(submission_id: str) -> str:
    return f"catalogue/{submission_id}.json"


def handle_control_matched(event: Event, ports: ReportingPorts) -> Sequence[Event]:
    from jdl_core.result import AnalysisResult
    from jdl_report import catalogue_entry, render_all

    assert isinstance(event, ControlMatched)
    sid = event.submission_id
    result = AnalysisResult.model_validate_json(ports.store.get(event.result_key))
    rendered = render_all(result, threshold=ports.suppression_threshold)
    keys = {}
    for fmt, data in sorted(rendered.items()):
        keys[fmt] = report_key(sid, fmt)
        ports.store.put(keys[fmt], data)
    # public links: published reports are served by the API at /v1/reports/<id>
    links = {fmt: f"/v1/reports/{sid}?format={fmt}" for fmt in sorted(rendered)}
    entry = catalogue_entry(result, links=links, threshold=ports.suppression_threshold)
    ports.store.put(catalogue_key(sid), entry.model_dump_json(indent=1).encode())
    return [ReportReady(event_id=event_id_for(sid, STAGE, "report.ready"), submission_id=sid,
                        report_keys=keys)]
