"""The status projection: one record per submission, built from every event (ids and counts only).

Pure functions, used by the intake worker's status agent (faust Table + object-store copy for the
API) and by the API for its first write. Stored at ``status/<submission_id>.json``.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from jdl_events.events import (CohortLinked, ControlMatched, DataPurged, Event, PurgeRequested,
                               ReportReady, SubmissionFailed, SubmissionReceived)
from jdl_infra.objectstore import ObjectNotFound, ObjectStore

# state -> the stage now working on it; "done", "failed" and "refused" are terminal
ORDER = {"received": 0, "linkage": 1, "matching": 2, "reporting": 3, "done": 4, "failed": 4, "refused": 4}
OPEN_STATES = ("received", "linkage", "matching", "reporting")
TERMINAL = ("done", "failed", "refused")
SLA_SECONDS = 14 * 86400


def status_key(submission_id: str) -> str:
    return f"status/{submission_id}.json"


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat()


def parse_iso(s: str) -> datetime:
    return datetime.fromisoformat(s)


def new_record(submission_id: str, org_id: str, received_at: datetime, *, state: str = "received") -> dict[str, Any]:
    return {"submission_id": submission_id, "org_id": org_id, "state": state,
            "received_at": iso(received_at), "updated_at": iso(received_at), "completed_at": None,
            "counts": {}, "attrition": {}, "n_treated": None, "n_comparison": None,
            "report_keys": {}, "error": None, "purged": False, "purged_at": None,
            "purge_outcome": None, "certificate_key": None, "history": []}


def _advance(rec: dict[str, Any], state: str) -> None:
    if rec["state"] in TERMINAL:
        return
    if ORDER[state] >= ORDER[rec["state"]]:
        rec["state"] = state


def apply_event(rec: dict[str, Any] | None, event: Event) -> dict[str, Any]:
    """Return the record updated by one event. Idempotent: an event id seen before changes nothing."""
    sid = event.submission_id
    if rec is None:
        org = event.org_id if isinstance(event, SubmissionReceived) else "unknown"
        rec = new_record(sid, org, event.occurred_at)
    else:
        rec = json.loads(json.dumps(rec))  # copy
    eid = str(event.event_id)
    if any(h["event_id"] == eid for h in rec["history"]):
        return rec
    etype = event.event_type  # type: ignore[attr-defined]
    rec["history"].append({"event": etype, "event_id": eid, "at": iso(event.occurred_at)})
    rec["updated_at"] = max(rec["updated_at"], iso(event.occurred_at))
    if isinstance(event, SubmissionReceived):
        rec["org_id"] = event.org_id
        rec["received_at"] = iso(event.received_at)
        rec["counts"] = {"rows_submitted": event.rows_submitted, "rows_valid": event.rows_valid,
                         "rows_rejected": event.rows_rejected}
        _advance(rec, "linkage")
    elif isinstance(event, CohortLinked):
        rec["attrition"] = dict(event.attrition)
        rec["counts"]["linked"] = event.n_linked
        _advance(rec, "matching")
    elif isinstance(event, ControlMatched):
        rec["n_treated"], rec["n_comparison"] = event.n_treated, event.n_comparison
        _advance(rec, "reporting")
    elif isinstance(event, ReportReady):
        rec["report_keys"] = dict(event.report_keys)
        if rec["state"] not in TERMINAL:
            rec["completed_at"] = iso(event.occurred_at)
        _advance(rec, "done")
    elif isinstance(event, SubmissionFailed):
        rec["error"] = {"stage": event.stage, "reason_code": event.reason_code, "reason": event.reason}
        if rec["state"] not in TERMINAL:
            rec["state"] = "failed"
            rec["completed_at"] = iso(event.occurred_at)
    elif isinstance(event, PurgeRequested):
        rec["purge_requested"] = event.trigger
    elif isinstance(event, DataPurged):
        if rec.get("purged") and rec.get("certificate_key") and event.outcome != "purged":
            return rec   # a repeat purge (replay, reconciler) keeps the first certificate
        rec["purged_at"] = iso(event.occurred_at)
        rec["purge_outcome"] = event.outcome
        rec["certificate_key"] = event.certificate_key
        rec["purged"] = is_purged(rec)
    return rec


def is_purged(rec: dict[str, Any]) -> bool:
    """Certified as holding nothing. A refused upload stored nothing, so the purge's certificate
    for it says ``unknown_submission`` (nothing found): that is its purge, not a pending one."""
    outcome = rec.get("purge_outcome")
    return bool(rec.get("purged")) or outcome in ("purged", "already_purged") or (
        outcome == "unknown_submission" and rec.get("state") == "refused")


def read_status(store: ObjectStore, submission_id: str) -> dict[str, Any] | None:
    try:
        return json.loads(store.get(status_key(submission_id)))
    except ObjectNotFound:
        return None


def write_status(store: ObjectStore, rec: dict[str, Any]) -> None:
    store.put(status_key(rec["submission_id"]), json.dumps(rec, indent=1).encode())


def all_statuses(store: ObjectStore) -> list[dict[str, Any]]:
    out = []
    for key in store.list("status/"):
        try:
            out.append(json.loads(store.get(key)))
        except (ObjectNotFound, ValueError):
            continue
    return out


def age_seconds(rec: dict[str, Any], now: datetime) -> float:
    end = parse_iso(rec["completed_at"]) if rec.get("completed_at") else now
    return max(0.0, (end - parse_iso(rec["received_at"])).total_seconds())


def queue_view(records: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """The operations view: open requests by stage, their ages against the 14-day SLA."""
    open_recs = [r for r in records if r["state"] in OPEN_STATES]
    by_stage = {s: 0 for s in OPEN_STATES}
    for r in open_recs:
        by_stage[r["state"]] += 1
    items = sorted(({"submission_id": r["submission_id"], "org_id": r["org_id"], "state": r["state"],
                     "received_at": r["received_at"], "age_seconds": round(age_seconds(r, now), 1),
                     "sla_remaining_seconds": round(SLA_SECONDS - age_seconds(r, now), 1)}
                    for r in open_recs), key=lambda x: -x["age_seconds"])
    done = [r for r in records if r["state"] == "done"]
    within = sum(1 for r in done if age_seconds(r, now) <= SLA_SECONDS)
    return {"now": iso(now), "open": len(open_recs), "by_stage": by_stage,
            "oldest_age_seconds": items[0]["age_seconds"] if items else 0.0,
            "completed": len(done), "completed_within_sla": within,
            "failed": sum(1 for r in records if r["state"] == "failed"),
            "refused": sum(1 for r in records if r["state"] == "refused"),
            "purge_pending": sum(1 for r in records if r["state"] in TERMINAL and not is_purged(r)),
            "requests": items}
