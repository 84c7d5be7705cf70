"""Reporting stage: control.matched -> PDF, HTML and JSON reports + a publication record (in review;
the catalogue entry is prepared and becomes public only when published) -> report.ready."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Sequence

from jdl_events.events import ControlMatched, Event, ReportReady
from jdl_events.keys import report_key
from jdl_events.vocab import StageName
from jdl_infra import publication as pub
from jdl_infra.objectstore import ObjectStore
from jdl_pipeline.stage import event_id_for
from jdl_report.publication import PublicationPolicy

STAGE: StageName = "reporting"


@dataclass
class ReportingPorts:
    store: ObjectStore
    suppression_threshold: int = 5
    policy: PublicationPolicy = field(default_factory=PublicationPolicy)
    clock: Callable[[], datetime] = pub.utcnow


def handle_control_matched(event: Event, ports: ReportingPorts) -> Sequence[Event]:
    from jdl_core.result import AnalysisResult
    from jdl_report import catalogue_entry

    assert isinstance(event, ControlMatched)
    sid = event.submission_id
    result = AnalysisResult.model_validate_json(ports.store.get(event.result_key))
    # a replay after the organisation responded keeps its response in the report
    existing = pub.read(ports.store, sid)
    response = existing.response.text if existing and existing.response else None
    rendered = pub.render_reports(result, ports.suppression_threshold, response)
    written = {}
    for fmt, data in sorted(rendered.items()):
        written[fmt] = report_key(sid, fmt)
        ports.store.put(written[fmt], data)
    # public links: published reports are served by the API at /v1/reports/<id>
    links = {fmt: f"/v1/reports/{sid}?format={fmt}" for fmt in sorted(rendered)}
    entry = catalogue_entry(result, links=links, threshold=ports.suppression_threshold)
    pub.start(ports.store, sid, entry, ports.policy, ports.clock(), result_key=event.result_key,
              threshold=ports.suppression_threshold)
    return [ReportReady(event_id=event_id_for(sid, STAGE, "report.ready"), submission_id=sid,
                        report_keys=written)]
