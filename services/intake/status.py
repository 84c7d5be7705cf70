"""The status projection: one record per submission, built from every event (ids and counts only).

Pure functions, used by the intake worker's status agent (faust Table + object-store copy for the
API) and by the API for its first write. The record's contract is
``jdl_events.status.StatusRecord`` (the purge service and `jdl audit verify` read it too); here it
is handled in its JSON form, a dict, and checked against the model whenever it is stored.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from jdl_events.events import (
    CohortLinked,
    ControlMatched,
    DataPurged,
    Event,
    PurgeRequested,
    ReportReady,
    SubmissionFailed,
    SubmissionReceived,
)
from jdl_events.status import is_purged as _certified
from jdl_events.vocab import OPEN_STATES, PurgeOutcome, SubmissionState
from jdl_events.vocab import TERMINAL_STATES as TERMINAL
from jdl_infra import status_records
from jdl_infra.objectstore import ObjectNotFound, ObjectStore

# States (jdl_events.vocab): the stage now working on it, then done, failed or refused. A "done"
# report then has a publication state of its own (in_review, scheduled, published, withdrawn:
# jdl_report.publication.PUBLICATION_STATES), shown under "publication" in the API's status.
ORDER: dict[str, int] = {**{s: i for i, s in enumerate(OPEN_STATES)}, **{s: len(OPEN_STATES) for s in TERMINAL}}
SLA_SECONDS = 14 * 86400
# bookkeeping of the projection, not shown by the API (history is shown as "stages")
INTERNAL_FIELDS = ("history", "event_times", "terminal")


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat()


def parse_iso(s: str) -> datetime:
    return datetime.fromisoformat(s)


def new_record(submission_id: str, org_id: str, received_at: datetime, *,
               state: SubmissionState = "received") -> dict[str, Any]:
    """A record as first written (its JSON form: validated as a StatusRecord when stored). The
    projection adds ``event_times``, ``purge_requested`` and ``terminal`` as they happen."""
    return {"submission_id": submission_id, "org_id": org_id, "state": state,
            "received_at": iso(received_at), "updated_at": iso(received_at), "completed_at": None,
            "counts": {}, "attrition": {}, "n_treated": None, "n_comparison": None,
            "report_keys": {}, "error": None, "purged": False, "purged_at": None,
            "purge_outcome": None, "certificate_key": None, "history": []}


# Rank of each event type, to order history entries that share a timestamp.
_RANK = {"submission.received": 0, "cohort.linked": 1, "control.matched": 2, "report.ready": 3,
         "submission.failed": 3, "purge.requested": 4, "data.purged": 5}
# The state each event proves the submission has reached (terminal ones are done/failed).
_REACHED = {SubmissionReceived: "linkage", CohortLinked: "matching", ControlMatched: "reporting",
            ReportReady: "done", SubmissionFailed: "failed"}
# A purge that deleted something outranks a later no-op record of the same submission.
_PURGE_RANK: dict[PurgeOutcome, int] = {"purged": 2, "already_purged": 1, "unknown_submission": 0}


def _stamp(at: str, event_id: str) -> tuple[datetime, str]:
    return parse_iso(at), event_id


def _newer(rec: dict[str, Any], group: str, at: str, event_id: str, rank: int = 0, *,
           earliest: bool = False) -> bool:
    """Last-writer-wins by event time (then event id) per group of fields, so a late event never
    overwrites what a newer one wrote, whatever order the topics deliver them in. A higher
    ``rank`` always wins; ``earliest`` keeps the first event of a rank instead of the last."""
    stamps = rec.setdefault("event_times", {})
    prev = stamps.get(group)
    if prev is not None:
        prev_rank, mine = prev.get("rank", 0), _stamp(at, event_id)
        before = _stamp(prev["at"], prev["event_id"])
        if prev_rank > rank or (prev_rank == rank and (mine > before if earliest
                                                       else mine < before)):
            return False
    stamps[group] = {"at": at, "event_id": event_id, "rank": rank}
    return True


def _settle_state(rec: dict[str, Any], reached: str, at: str, event_id: str) -> None:
    """State from what has been reached: the earliest terminal event (by event time) decides a
    terminal state; otherwise the furthest stage reached. Order-independent: the same set of
    events gives the same state."""
    if rec["state"] == "refused":
        return                              # written by the API; no event changes it
    if reached in TERMINAL:
        term = rec.get("terminal")
        if term is None and rec["state"] in TERMINAL:   # a record stored before "terminal" existed
            term = {"state": rec["state"], "at": rec["completed_at"] or rec["updated_at"],
                    "event_id": ""}
        if term is None or _stamp(at, event_id) < _stamp(term["at"], term["event_id"]):
            rec["terminal"] = {"state": reached, "at": at, "event_id": event_id}
            rec["state"], rec["completed_at"] = reached, at
        return
    if rec.get("terminal") is None and ORDER[reached] > ORDER[rec["state"]]:
        rec["state"] = reached


def apply_event(rec: dict[str, Any] | None, event: Event) -> dict[str, Any]:
    """Return the record updated by one event. Idempotent (an event id seen before changes
    nothing) and commutative: events from different topics may arrive in any order and the record
    ends the same, history ordered by event time."""
    sid = event.submission_id
    if rec is None:
        org = event.org_id if isinstance(event, SubmissionReceived) else "unknown"
        rec = new_record(sid, org, event.occurred_at)
    else:
        rec = json.loads(json.dumps(rec))  # copy
    eid = str(event.event_id)
    if any(h["event_id"] == eid for h in rec["history"]):
        return rec
    etype = event.event_type
    at = iso(event.occurred_at)
    rec["history"].append({"event": etype, "event_id": eid, "at": at})
    rec["history"].sort(key=lambda h: (parse_iso(h["at"]), _RANK.get(h["event"], 9), h["event_id"]))
    rec["updated_at"] = max(rec["updated_at"], at, key=parse_iso)
    rec["counts"] = rec.get("counts") or {}
    _apply_fields(rec, event, at, eid)
    reached = _REACHED.get(type(event))
    if reached is not None:
        _settle_state(rec, reached, at, eid)
    return rec


def _apply_fields(rec: dict[str, Any], event: Event, at: str, eid: str) -> None:
    """The fields an event carries, each group last-writer-wins by event time (``_newer``)."""
    if isinstance(event, SubmissionReceived):
        if _newer(rec, "received", at, eid):
            rec["org_id"] = event.org_id
            rec["received_at"] = iso(event.received_at)
            # merged, not replaced: a linked count that arrived first must survive
            rec["counts"].update(rows_submitted=event.rows_submitted,
                                 rows_valid=event.rows_valid, rows_rejected=event.rows_rejected)
    elif isinstance(event, CohortLinked):
        if _newer(rec, "linked", at, eid):
            rec["attrition"] = dict(event.attrition)
            rec["counts"]["linked"] = event.n_linked
    elif isinstance(event, ControlMatched):
        if _newer(rec, "matched", at, eid):
            rec["n_treated"], rec["n_comparison"] = event.n_treated, event.n_comparison
    elif isinstance(event, ReportReady):
        if _newer(rec, "report", at, eid):
            rec["report_keys"] = dict(event.report_keys)
    elif isinstance(event, SubmissionFailed):
        if _newer(rec, "error", at, eid):
            rec["error"] = {"stage": event.stage, "reason_code": event.reason_code,
                            "reason": event.reason}
    elif isinstance(event, PurgeRequested):
        if _newer(rec, "purge_requested", at, eid):
            rec["purge_requested"] = event.trigger
    elif isinstance(event, DataPurged):
        _apply_purge(rec, event, at, eid)


def _apply_purge(rec: dict[str, Any], event: DataPurged, at: str, eid: str) -> None:
    # a real purge outranks a no-op record; among no-ops (replays, the reconciler) the first
    # certificate is kept, among real purges (late data purged again) the latest
    rank = _PURGE_RANK.get(event.outcome, 0)
    if _newer(rec, "purge", at, eid, rank=rank, earliest=rank < _PURGE_RANK["purged"]):
        rec["purged_at"] = at
        rec["purge_outcome"] = event.outcome
        rec["certificate_key"] = event.certificate_key
        rec["purged"] = is_purged(rec)


def is_purged(rec: dict[str, Any]) -> bool:
    """Certified as holding nothing (``StatusRecord.is_purged``, on the dict form)."""
    return _certified(rec.get("purged", False), rec.get("purge_outcome"), rec.get("state"))


def read_status(store: ObjectStore, submission_id: str) -> dict[str, Any] | None:
    """The stored record, None if absent or not a valid StatusRecord."""
    rec = status_records.read(store, submission_id)
    return rec.document() if rec is not None else None


def write_status(store: ObjectStore, rec: dict[str, Any]) -> None:
    """Store the record; one that does not fit StatusRecord raises (ValidationError), unstored."""
    status_records.write(store, rec)


def all_statuses(store: ObjectStore) -> list[dict[str, Any]]:
    """Every stored record in its JSON form, unreadable ones skipped. Not validated again: the
    worker reads its own records (validated when written) every few seconds for the queue
    gauges, and validation costs about five times json.loads per record."""
    out = []
    for key in status_records.status_keys(store).values():
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
