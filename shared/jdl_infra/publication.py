"""Publication state in the object store: the system of record for in review -> scheduled ->
published (or withdrawn), used by the reporting service (creates the record when the report is
ready) and the intake API (organisation actions, catalogue reads) and its worker (periodic check).

Keys (aggregates only, never personal data; kept after the purge):
  ``publication/records/<id>.json``  the PublicationRecord
  ``publication/entries/<id>.json``  the catalogue entry prepared when the report was rendered
  ``catalogue/<id>.json``            written only when the report is published: the public
                                     catalogue is exactly this prefix
Moving a record on in time is deterministic (``jdl_report.publication.advance``), so the API's
check at read and the worker's periodic check may both run without disagreeing.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from jdl_events import keys
from jdl_events.keys import catalogue_key, report_key
from jdl_report.catalogue import CatalogueEntry
from jdl_report.publication import PublicationPolicy, PublicationRecord, advance, next_release

from .objectstore import ObjectNotFound, ObjectStore

log = logging.getLogger("jdl.publication")

PUBLICATION_PREFIX = "JDL_PUBLICATION_"


class PublicationSettings(BaseSettings, PublicationPolicy):
    """The publication policy from the environment (prefix ``JDL_PUBLICATION_``), e.g.
    ``JDL_PUBLICATION_REVIEW_WORKING_DAYS=10``, ``JDL_PUBLICATION_CADENCE_MONTHS=3``,
    ``JDL_PUBLICATION_AUTO_PUBLISH=true`` (demo only; refused in production)."""
    model_config = SettingsConfigDict(env_prefix=PUBLICATION_PREFIX, extra="ignore", frozen=True)


def load_policy(environment: str = "development") -> PublicationPolicy:
    """The policy every service uses; production refuses auto-publish (no review would happen)."""
    s = PublicationSettings()
    if environment == "production" and s.auto_publish:
        raise ValueError("JDL_PUBLICATION_AUTO_PUBLISH=true is refused when JDL_ENVIRONMENT=production: "
                         "organisations must see their report before it is published")
    return PublicationPolicy(**s.model_dump())


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def read(store: ObjectStore, sid: str) -> PublicationRecord | None:
    try:
        return PublicationRecord.model_validate_json(store.get(keys.publication_record_key(sid)))
    except ObjectNotFound:
        return None


def write(store: ObjectStore, rec: PublicationRecord) -> None:
    store.put(keys.publication_record_key(rec.submission_id), rec.model_dump_json(indent=1).encode())


def _sync_catalogue(store: ObjectStore, rec: PublicationRecord) -> None:
    """A published record has its catalogue entry (published_at = the release date)."""
    if rec.state != "published" or store.exists(catalogue_key(rec.submission_id)):
        return
    entry = CatalogueEntry.model_validate_json(store.get(keys.catalogue_entry_key(rec.submission_id)))
    entry = entry.model_copy(update={"published_at": rec.published_at})
    store.put(catalogue_key(rec.submission_id), entry.model_dump_json(indent=1).encode())
    log.info("report published", extra={"submission_id": rec.submission_id})


def start(store: ObjectStore, sid: str, entry: CatalogueEntry, policy: PublicationPolicy,
          now: datetime, *, result_key: str | None, threshold: int) -> PublicationRecord:
    """Record a freshly rendered report (idempotent: a replay keeps the existing record, so a
    response, acceptance or withdrawal is never undone)."""
    from jdl_report.publication import start_review

    store.put(keys.catalogue_entry_key(sid), entry.model_dump_json(indent=1).encode())
    rec = read(store, sid)
    if rec is None:
        rec = start_review(sid, now, policy, result_key=result_key, threshold=threshold)
        write(store, rec)
    _sync_catalogue(store, rec)
    return rec


def refresh(store: ObjectStore, rec: PublicationRecord, now: datetime,
            policy: PublicationPolicy) -> PublicationRecord:
    """Apply what time does to one record, store it if it changed, publish if due."""
    new, changed = advance(rec, now, policy)
    if changed:
        write(store, new)
    _sync_catalogue(store, new)
    return new


def all_records(store: ObjectStore) -> list[PublicationRecord]:
    out = []
    for key in store.list(keys.PUBLICATION_RECORDS):
        try:
            out.append(PublicationRecord.model_validate_json(store.get(key)))
        except (ObjectNotFound, ValidationError, ValueError):
            log.warning("unreadable publication record skipped", extra={"key": key})
    return out


def publish_due(store: ObjectStore, now: datetime, policy: PublicationPolicy) -> list[PublicationRecord]:
    """Move every record on to ``now`` (reviews ended -> scheduled, release dates reached ->
    published). Called at catalogue reads and by the intake worker's timer. Returns all records."""
    return [refresh(store, r, now, policy) for r in all_records(store)]


def catalogue_entries(store: ObjectStore) -> list[dict[str, Any]]:
    """The public catalogue: published entries only, newest first."""
    out = []
    for key in store.list(keys.CATALOGUE):
        try:
            out.append(json.loads(store.get(key)))
        except (ObjectNotFound, ValueError):
            continue
    return sorted(out, key=lambda e: e.get("published_at", ""), reverse=True)


def is_published(store: ObjectStore, sid: str) -> bool:
    return store.exists(catalogue_key(sid))


def public_counts(records: Iterable[PublicationRecord], statuses: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Counts the JDL publishes without detail: published, withdrawn, refused requests."""
    recs = list(records)
    return {"published": sum(r.state == "published" for r in recs),
            "withdrawn": sum(r.state == "withdrawn" for r in recs),
            "refused": sum(s.get("state") == "refused" for s in statuses)}


def view(rec: PublicationRecord | None, now: datetime, policy: PublicationPolicy) -> dict[str, Any]:
    """What `jdl status`, the status page and the queue show about a report's publication."""
    def iso(t: datetime | None) -> str | None:
        return t.astimezone(timezone.utc).isoformat() if t else None

    if rec is None:
        return {"state": None, "next_release_at": iso(next_release(now, policy))}
    actions = {"in_review": ["response", "accept", "withdraw"], "scheduled": ["withdraw"]}
    expected = rec.release_at if rec.release_at else next_release(rec.review_ends_at, policy)
    return {"state": rec.state, "ready_at": iso(rec.ready_at), "review_ends_at": iso(rec.review_ends_at),
            "accepted_at": iso(rec.accepted_at), "scheduled_at": iso(rec.scheduled_at),
            "release_at": iso(rec.release_at), "published_at": iso(rec.published_at),
            "withdrawn_at": iso(rec.withdrawn_at),
            # when it will be published if nothing else happens
            "expected_release_at": iso(expected) if rec.state in ("in_review", "scheduled") else None,
            "next_release_at": iso(next_release(now, policy)),
            "response": ({"text": rec.response.text, "added_at": iso(rec.response.added_at)}
                         if rec.response else None),
            "actions": actions.get(rec.state, []),
            "history": [{"action": h.action, "at": iso(h.at), "by": h.by} for h in rec.history]}


def queue_view(records: list[PublicationRecord], now: datetime, policy: PublicationPolicy) -> dict[str, Any]:
    """The operations view of publication: reports waiting, by state, with their dates."""
    waiting = sorted((r for r in records if r.state in ("in_review", "scheduled")),
                     key=lambda r: (r.release_at or r.review_ends_at))
    by_state = {s: sum(r.state == s for r in records)
                for s in ("in_review", "scheduled", "published", "withdrawn")}
    return {"by_state": by_state,
            "next_release_at": next_release(now, policy).isoformat(),
            "waiting": [{"submission_id": r.submission_id, "state": r.state,
                         "review_ends_at": r.review_ends_at.isoformat(),
                         "release_at": r.release_at.isoformat() if r.release_at else None,
                         "has_response": r.response is not None} for r in waiting]}


def render_reports(result: Any, threshold: int, response: str | None) -> dict[str, bytes]:
    """The report files of a result, with the organisation's response when it has given one."""
    from jdl_report import render_all

    return render_all(result, threshold=threshold, response=response)


def rerender(store: ObjectStore, rec: PublicationRecord,
             render: Callable[[Any, int, str | None], dict[str, bytes]] = render_reports) -> dict[str, str]:
    """Re-render a report from its stored aggregate result (after a response was added)."""
    from jdl_report import parse_result

    if not rec.result_key:
        raise ObjectNotFound(f"publication record of {rec.submission_id} has no result key")
    result = parse_result(store.get(rec.result_key), source=rec.result_key)
    files = render(result, rec.threshold, rec.response.text if rec.response else None)
    written = {}
    for fmt, data in sorted(files.items()):
        written[fmt] = report_key(rec.submission_id, fmt)
        store.put(written[fmt], data)
    return written
