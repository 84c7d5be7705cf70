"""The reconciler: the store is the system of record, Kafka only carries notifications.

One pass (at start-up and every interval) reads what the store holds and repairs what a lost
event, a dead broker or a crash left behind:

- a submission in a terminal state (done, failed, refused) with no certificate in the
  audit log is purged now; one that is certified but whose status still says "not purged" (its
  data.purged event was lost) has its data.purged re-sent (``status_repair``);
- a submission whose stage made no progress for longer than ``stall_seconds`` is re-driven: the
  events recorded by its last stage marker (``stages/<id>/<stage>.json``; the intake API records
  submission.received there too) are re-sent with their original ids, so the next stage runs or,
  if it had already run, re-sends its own recorded events. After ``max_redrives`` re-sends with no
  progress it is failed with a reason (submission.failed, stage = the stuck stage) and purged;
- objects or data keys of a submission with no status record (an upload that crashed half way),
  seen for longer than ``orphan_grace_seconds``, are purged and certified.

A submission that is terminal and purged never needs the reconciler again: its id goes into
``reconcile/settled.json`` (ids only), and later passes (in any process) skip reading its status
record. So a pass costs one listing plus reads of the unsettled records, however many finished
submissions the store holds. Data that appears later under a settled id (a late writer) is
purged like an orphan.

Faust-free: ``Reconciler.run`` is a plain function over the store and the audit log that purges and
returns the events to send; the purge service's task sends them. Nothing here reads data.
"""
from __future__ import annotations

import json
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

from jdl_events import keys
from jdl_events.events import DataPurged, Event, SubmissionFailed
from jdl_events.keys import RECONCILE_SETTLED as SETTLED_KEY
from jdl_events.keys import reconcile_attempts_key as attempts_key
from jdl_events.status import StatusRecord
from jdl_events.vocab import STAGES, TRIGGER_OF_STATE, StageName
from jdl_infra import metrics, status_records
from jdl_infra.objectstore import ObjectNotFound, ObjectStore
from jdl_pipeline.stage import read_marker, recorded_events

log = logging.getLogger("jdl.reconcile")

# Stage markers in pipeline order; the last one present holds the events that drive the next
# stage (the purge writes no marker: its input is the last one).
MARKER_ORDER: tuple[StageName, ...] = STAGES[:-1]
NEXT_STAGE: dict[StageName, StageName] = dict(zip(STAGES, STAGES[1:]))
_NS = uuid.UUID("0b7f6d0e-8a59-4a5e-9bb5-5e1f4f0d2c3a")


@dataclass(frozen=True)
class ReconcileConfig:
    stall_seconds: float = 600.0
    max_redrives: int = 3
    orphan_grace_seconds: float = 3600.0
    # a just-finished submission is the purge agent's to purge (report.ready is on its way)
    terminal_grace_seconds: float = 30.0
    read_threads: int = 16


@dataclass
class ReconcileResult:
    events: list[Event] = field(default_factory=list)
    actions: dict[str, list[str]] = field(default_factory=dict)   # action -> submission ids
    records: int = 0            # status records in the store
    read: int = 0               # of which read in this pass (not settled)
    purge_seconds: float = 0.0  # time spent purging (included in the pass)

    def add(self, action: str, sid: str, events: Sequence[Event] = ()) -> None:
        self.actions.setdefault(action, []).append(sid)
        self.events.extend(events)
        metrics.RECONCILE_ACTIONS.labels(action).inc()


def _parse(ts: Any) -> datetime | None:
    if not isinstance(ts, str):
        return None
    try:
        t = datetime.fromisoformat(ts)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _read_json(store: ObjectStore, key: str) -> Any:
    try:
        return json.loads(store.get(key))
    except (ObjectNotFound, ValueError):
        return None


class Reconciler:
    """One per purge process. ``purge(sid, trigger)`` purges and certifies one submission and
    returns its data.purged event; it must be the purge service's (serialised) purge."""

    def __init__(self, store: ObjectStore, audit: Any, purge: Callable[[str, str], DataPurged],
                 config: ReconcileConfig) -> None:
        self.store = store
        self.audit = audit
        self.purge = purge
        self.config = config
        self.first_seen: dict[str, datetime] = {}   # orphan candidates: when first noticed
        self._settled: set[str] | None = None

    def _load_settled(self) -> set[str]:
        if self._settled is None:
            raw = _read_json(self.store, SETTLED_KEY)
            ids = raw.get("settled") if isinstance(raw, dict) else None
            self._settled = {s for s in ids if isinstance(s, str)} if isinstance(ids, list) else set()
        return self._settled

    def _timed_purge(self, out: ReconcileResult, sid: str, why: str) -> DataPurged:
        import time

        t = time.perf_counter()
        try:
            return self.purge(sid, why)
        finally:
            out.purge_seconds += time.perf_counter() - t

    # -- one pass --------------------------------------------------------------------------
    def run(self, now: datetime | None = None) -> ReconcileResult:
        now = now or datetime.now(timezone.utc)
        out = ReconcileResult()
        ids = status_records.status_keys(self.store)
        settled = self._load_settled()
        before = set(settled)
        todo = [k for sid, k in ids.items() if sid not in settled]
        with ThreadPoolExecutor(self.config.read_threads) as pool:   # S3: reads are round trips
            records = [r for r in pool.map(lambda k: status_records.read_key(self.store, k), todo)
                       if r is not None]
        out.records, out.read = len(ids), len(todo)
        certified: dict[str, Any] | None = None

        def certificates() -> dict[str, Any]:
            nonlocal certified
            if certified is None:   # read the audit log only when a record needs it
                certified = {}
                for e in self.audit.certificate_entries():
                    certified.setdefault(e.payload.get("submission_id"), []).append(e)
            return certified

        for rec in records:
            sid = rec.submission_id
            try:
                if rec.is_terminal and rec.is_purged:
                    settled.add(sid)
                elif rec.is_terminal:
                    self._terminal(rec, now, certificates, out)
                elif rec.is_open:
                    self._open(rec, now, certificates, out)
            except Exception as exc:  # noqa: BLE001 - one bad record must not stop the pass
                log.error("reconcile failed for a submission", extra={
                    "submission_id": sid, "error_type": type(exc).__name__})
        settled &= set(ids)     # a status record removed: forget it
        self._orphans(set(ids) - settled, now, out)
        if settled != before:
            self.store.put(SETTLED_KEY, json.dumps({"settled": sorted(settled)}).encode())
        return out

    # -- terminal: purge now -------------------------------------------------------------------
    def _terminal(self, rec: StatusRecord, now: datetime, certificates, out: ReconcileResult) -> None:
        finished = rec.completed_at or rec.updated_at
        if finished and (now - finished).total_seconds() < self.config.terminal_grace_seconds:
            return
        sid = rec.submission_id
        entries = certificates().get(sid)
        if entries:
            out.add("status_repair", sid, [_purged_event_of(sid, entries)])
            return
        out.add("purge_terminal", sid, [self._timed_purge(out, sid, TRIGGER_OF_STATE[rec.state])])

    # -- open: re-drive or fail ----------------------------------------------------------------
    def _open(self, rec: StatusRecord, now: datetime, certificates, out: ReconcileResult) -> None:
        cfg, sid = self.config, rec.submission_id
        progress = rec.updated_at or rec.received_at
        if (now - progress).total_seconds() < cfg.stall_seconds:
            return
        last, marker = None, None
        for stage in MARKER_ORDER:   # the furthest stage that recorded its output
            m = read_marker(self.store, sid, stage)
            if m is not None:
                last, marker = stage, m
                at = _parse(m.get("at"))
                if at and at > progress:
                    progress = at
        if (now - progress).total_seconds() < cfg.stall_seconds:
            return   # the status lags but the stages moved on
        stuck = NEXT_STAGE.get(last or "intake", "linkage")
        attempts = _read_json(self.store, attempts_key(sid)) or {}
        n = int(attempts.get("attempts", 0)) if attempts.get("progress") == progress.isoformat() else 0
        events = recorded_events(marker) if marker else []
        if n >= cfg.max_redrives or not events:
            reason = (f"the {stuck} stage made no progress after {n} re-sends of its input"
                      if events else "its input could not be found in the store to re-send it")
            failed = SubmissionFailed(
                event_id=uuid.uuid5(_NS, f"{sid}/stalled"), submission_id=sid,
                stage=stuck,
                reason_code="stalled", reason=reason + "; operations have been alerted")
            entries = certificates().get(sid)
            purged = _purged_event_of(sid, entries) if entries else self._timed_purge(out, sid, "failed")
            out.add("fail_stalled", sid, [failed, purged])
            log.warning("stalled submission failed and purged", extra={
                "submission_id": sid, "stage": stuck, "redrives": n})
            return
        self.store.put(attempts_key(sid), json.dumps(
            {"attempts": n + 1, "progress": progress.isoformat(), "last_at": now.isoformat(),
             "stage": stuck}).encode())
        out.add("redrive", sid, events)
        log.info("stalled submission re-driven", extra={
            "submission_id": sid, "stage": stuck, "attempt": n + 1,
            "sent": [e.event_type for e in events]})

    # -- orphans ---------------------------------------------------------------------------
    def _orphans(self, active: set[str], now: datetime, out: ReconcileResult) -> None:
        """Data or keys of an id with no status record, or of a settled (purged) one."""
        known = active
        holders: dict[str, datetime | None] = {}
        for k in self.store.list(keys.SUBMISSIONS):
            if (sid := keys.id_of_submission_object(k)) and sid not in known:
                holders.setdefault(sid, None)
        for k in self.store.list(keys.DATA_KEYS):
            if (sid := keys.id_of_data_key(k)) and sid not in known:
                rec = _read_json(self.store, k)
                created = _parse(rec.get("created_at")) if isinstance(rec, dict) else None
                holders[sid] = created
        for sid in list(self.first_seen):
            if sid not in holders:
                del self.first_seen[sid]
        for sid, created in holders.items():
            seen = self.first_seen.setdefault(sid, now)
            since = min(t for t in (seen, created) if t is not None)
            if (now - since).total_seconds() < self.config.orphan_grace_seconds:
                continue
            # no status record to update: the certificate in the audit log is the record
            self._timed_purge(out, sid, "orphan")
            self.first_seen.pop(sid, None)
            out.add("purge_orphan", sid)
            log.warning("orphaned objects purged", extra={"submission_id": sid})


def _purged_event_of(sid: str, entries: list) -> DataPurged:
    """data.purged for a purge already certified (its event was lost): same id every time."""
    chosen = next((e for e in reversed(entries) if e.entry_type == "certificate"), entries[-1])
    p = chosen.payload
    return DataPurged(event_id=uuid.uuid5(_NS, f"{sid}/{p.get('purge_id')}"), submission_id=sid,
                      outcome=p.get("outcome", "already_purged"),
                      objects_deleted=len(p.get("objects_deleted") or []),
                      versions_deleted=len(p.get("versions_deleted") or []),
                      key_destroyed=p.get("key_id_destroyed") is not None,
                      certificate_key=chosen.key)
