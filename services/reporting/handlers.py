"""Reporting stage: control.matched -> PDF, HTML and JSON reports + catalogue entry -> report.ready."""
from __future__ import annotations

import json
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


def catalogue_entry(result, keys: dict[str, str]) -> dict:  # type: ignore[no-untyped-def]
    """Headline figures for the public catalogue (aggregates only)."""
    rate = result.measure("rate")
    return {
        "submission_id": result.submission_id,
        "organisation": result.programme.organisation,
        "programme": result.programme.programme,
        "setting": result.programme.setting,
        "published_at": result.created_at.isoformat(),
        "n_treated": result.n_treated,
        "n_comparison": result.n_comparison,
        "rate": None if rate is None else rate.model_dump(mode="json"),
        "reports": keys,
    }


def handle_control_matched(event: Event, ports: ReportingPorts) -> Sequence[Event]:
    from jdl_core.result import AnalysisResult
    from jdl_report.render import render_all

    assert isinstance(event, ControlMatched)
    sid = event.submission_id
    result = AnalysisResult.model_validate_json(ports.store.get(event.result_key))
    rendered = render_all(result, threshold=ports.suppression_threshold)
    keys = {}
    for fmt, data in sorted(rendered.items()):
        keys[fmt] = report_key(sid, fmt)
        ports.store.put(keys[fmt], data)
    ports.store.put(catalogue_key(sid), json.dumps(catalogue_entry(result, keys), indent=1).encode())
    return [ReportReady(event_id=event_id_for(sid, STAGE, "report.ready"), submission_id=sid,
                        report_keys=keys)]
