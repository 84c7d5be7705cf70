"""Purge handlers, free of faust: delete a submission's individual-level data (every version),
destroy its data key, verify, certify once in the audit log; and decide which submissions are due.
``handle_trigger`` is the stage handler (report.ready, submission.failed, purge.requested ->
data.purged) and ``sweep`` the retention sweep, both over ``PurgePorts``.

Steps of ``purge_submission`` and what a crash after each leaves for the retry:

1. write ``purges/<id>/in_progress.json`` (outside the data prefix): purge id, trigger, times,
   every (key, version) about to be deleted and the data key id  -> retry resumes this purge;
2. delete every version under ``submissions/<id>/``                -> retry finds the marker;
3. destroy the data key (all versions of ``keys/<id>.json``)       -> retry finds the marker;
4. list again, including versions: nothing may remain (else PurgeIncomplete, marker kept);
5. append ONE certificate (with the marker's purge id) to the audit log;
6. delete the marker. A crash between 5 and 6 is recognised on retry by the purge id already
   certified, so the retry records a ``purge_noop`` (already purged), never a second certificate.
"""
from __future__ import annotations

import json
import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Sequence

from jdl_core.errors import JdlError
from jdl_events import keys
from jdl_events.events import DataPurged, Event, PurgeRequested, ReportReady, SubmissionFailed
from jdl_events.vocab import PurgeTrigger, StageName
from jdl_infra import metrics, status_records
from jdl_infra.audit import AuditLog
from jdl_infra.certificate import CERTIFICATE, PURGE_NOOP, DeletedVersion, DeletionCertificate, Verification
from jdl_infra.checkpoint import CheckpointSigner, publish_checkpoint
from jdl_infra.crypto import KeyRing, check_submission_id, key_object, submission_prefix
from jdl_infra.objectstore import ObjectNotFound, ObjectStore

log = logging.getLogger("jdl.purge")
STAGE: StageName = "purge"
TRIGGER_OF: dict[type[Event], PurgeTrigger] = {ReportReady: "report_ready", SubmissionFailed: "failed"}
MARKER_FORMAT = "jdl-purge-in-progress/1"


class PurgeIncomplete(JdlError):
    """Objects or key versions remained after deleting; no certificate was written."""

    code = "purge_incomplete"


def marker_key(submission_id: str) -> str:
    return keys.purge_marker_key(check_submission_id(submission_id))


def retention_due_at(received_at: datetime, retention_days: float) -> datetime:
    """When the retention limit forces a purge, whatever the submission's state."""
    return _aware(received_at) + timedelta(days=retention_days)


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


@dataclass
class _Marker:
    purge_id: str
    trigger: str
    requested_at: datetime
    due_at: datetime | None
    attempts: int
    planned: list[tuple[str, str]]
    key_id: str | None

    def to_json(self, submission_id: str) -> bytes:
        return json.dumps({
            "format": MARKER_FORMAT, "submission_id": submission_id, "purge_id": self.purge_id,
            "trigger": self.trigger, "requested_at": self.requested_at.isoformat(),
            "due_at": None if self.due_at is None else self.due_at.isoformat(),
            "attempts": self.attempts, "planned": [list(v) for v in self.planned],
            "key_id": self.key_id}, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> "_Marker":
        d: dict[str, Any] = json.loads(raw)
        return cls(purge_id=d["purge_id"], trigger=d["trigger"],
                   requested_at=datetime.fromisoformat(d["requested_at"]),
                   due_at=None if d.get("due_at") is None else datetime.fromisoformat(d["due_at"]),
                   attempts=int(d["attempts"]), planned=[(k, v) for k, v in d["planned"]],
                   key_id=d.get("key_id"))


def _read_marker(store: ObjectStore, submission_id: str) -> _Marker | None:
    try:
        raw = store.get(marker_key(submission_id))
    except ObjectNotFound:
        return None
    try:
        return _Marker.from_json(raw)
    except (ValueError, KeyError, TypeError):
        # An unreadable marker must not block the purge: start over (its objects are re-listed).
        return None


def _verify(store: ObjectStore, keyring: KeyRing, sid: str, now: datetime) -> Verification:
    prefix = submission_prefix(sid)
    key_versions = keyring.remaining_versions(sid)
    return Verification(
        checked_at=now, prefix=prefix,
        remaining_objects=len(store.list(prefix)),
        remaining_versions=len(store.list_versions(prefix)),
        key_object=key_object(sid), key_versions_remaining=len(key_versions),
        key_absent=not keyring.exists(sid))


def purge_submission(store: ObjectStore, keyring: KeyRing, audit: AuditLog, submission_id: str,
                     trigger: PurgeTrigger, *, due_at: datetime | None = None,
                     now: datetime | None = None,
                     requested_at: datetime | None = None) -> DeletionCertificate:
    """Purge one submission; idempotent and resumable (see module docstring).

    Returns the certificate of this request: outcome ``purged`` (a ``certificate`` entry),
    ``already_purged`` or ``unknown_submission`` (each a ``purge_noop`` entry). The audit entry
    that records it is ``audit.entry_of(certificate)``. ``now`` fixes every timestamp (tests);
    ``requested_at`` defaults to now, ``due_at`` to None (unknown).
    """
    sid = check_submission_id(submission_id)

    def clock() -> datetime:
        return _aware(now) if now is not None else datetime.now(timezone.utc)

    requested = _aware(requested_at) if requested_at is not None else clock()
    due = _aware(due_at) if due_at is not None else None
    prefix = submission_prefix(sid)

    entries = audit.certificate_entries(sid)
    certified = [e for e in entries if e.entry_type == CERTIFICATE]
    marker = _read_marker(store, sid)
    if marker is not None and any(e.payload.get("purge_id") == marker.purge_id for e in certified):
        # crashed after certifying, before removing the marker: that purge is done
        store.delete_prefix(keys.purge_prefix(sid))
        marker = None

    residual = store.list_versions(prefix)
    key_versions = keyring.remaining_versions(sid)

    if marker is None and not residual and not key_versions:
        previous = certified[-1] if certified else None
        cert = DeletionCertificate(
            purge_id=uuid.uuid4().hex, submission_id=sid, trigger=trigger,
            outcome="already_purged" if previous else "unknown_submission",
            requested_at=requested, due_at=due, purged_at=clock(),
            verification=_verify(store, keyring, sid, clock()),
            previous_certificate_seq=previous.seq if previous else None)
        audit.append(PURGE_NOOP, cert, now=now)
        return cert

    # 1. marker: record what is about to be deleted (resume an interrupted purge if any)
    if marker is None:
        marker = _Marker(purge_id=uuid.uuid4().hex, trigger=trigger, requested_at=requested,
                         due_at=due, attempts=0, planned=[], key_id=None)
    marker.attempts += 1
    marker.planned = sorted(set(marker.planned) | set(residual))
    if marker.key_id is None and key_versions:
        try:
            marker.key_id = keyring.key_id(sid)
        except JdlError:
            marker.key_id = None   # unreadable record: destroyed all the same
    store.put(marker_key(sid), marker.to_json(sid))

    # 2-4. delete every version, destroy the key, list again; one more round for a late writer
    deleted: set[tuple[str, str]] = set()
    destroyed: str | None = None
    for _ in range(2):
        deleted |= set(store.delete_prefix(prefix).versions)
        destroyed = keyring.destroy(sid) or destroyed
        verification = _verify(store, keyring, sid, clock())
        if verification.passed:
            break
    else:
        raise PurgeIncomplete(
            f"submission {sid}: {verification.remaining_versions} object version(s) under "
            f"{prefix} and {verification.key_versions_remaining} key version(s) remain after "
            "deleting twice; no certificate written, the purge will be retried")

    # 5. certify once
    versions = sorted(set(marker.planned) | deleted)
    previous = certified[-1] if certified else None
    cert = DeletionCertificate(
        purge_id=marker.purge_id, submission_id=sid, trigger=marker.trigger,  # type: ignore[arg-type]
        outcome="purged", requested_at=marker.requested_at, due_at=marker.due_at,
        purged_at=clock(), attempts=marker.attempts,
        objects_deleted=sorted({k for k, _ in versions}),
        versions_deleted=[DeletedVersion(key=k, version_id=v) for k, v in versions],
        key_id_destroyed=destroyed or marker.key_id, verification=verification,
        previous_certificate_seq=previous.seq if previous else None)
    audit.append(CERTIFICATE, cert, now=now)
    # 6. the marker has served its purpose
    store.delete_prefix(keys.purge_prefix(sid))
    return cert


def sweep_due(store: ObjectStore, statuses: Iterable[tuple[str, datetime, str]],
              retention_days: float, now: datetime, *,
              audit: AuditLog | None = None) -> list[str]:
    """Submission ids the retention sweep must purge now, oldest due first.

    ``statuses`` are (submission_id, received_at, state) from the status table. Due, whatever
    the state:
    - received longer ago than ``retention_days`` and either never certified (no certificate
      nor purge no-op in the audit log) or still holding data/key versions (a late writer);
    - a data key created longer ago than the retention limit with no certificate (the status
      table lost the submission; the key record's created_at stands in for received_at);
    - an interrupted purge (an in-progress marker) whose due time has passed.
    """
    now = _aware(now)
    audit = audit or AuditLog(store)
    certified = {e.payload.get("submission_id") for e in audit.certificate_entries()}
    holding: set[str] = set()
    for k, _v in store.list_versions(keys.SUBMISSIONS):
        if sid := keys.id_of_submission_object(k):
            holding.add(sid)
    for k, _v in store.list_versions(keys.DATA_KEYS):
        if sid := keys.id_of_data_key(k):
            holding.add(sid)

    due: dict[str, datetime] = {}

    def add(sid: str, when: datetime) -> None:
        if when <= now and (sid not in due or when < due[sid]):
            due[sid] = when

    for sid, received_at, _state in statuses:
        when = retention_due_at(received_at, retention_days)
        if sid not in certified or sid in holding:
            add(sid, when)
    for k in store.list(keys.DATA_KEYS):
        sid = keys.id_of_data_key(k)
        if not sid or sid in certified:
            continue
        try:
            created = datetime.fromisoformat(json.loads(store.get(k))["created_at"])
        except (ObjectNotFound, ValueError, KeyError, TypeError):
            continue
        add(sid, retention_due_at(created, retention_days))
    for k in store.list(keys.PURGES):
        sid = keys.id_of_purge_marker(k)
        if not sid:
            continue
        try:
            marker = _Marker.from_json(store.get(k))
        except (ObjectNotFound, ValueError, KeyError, TypeError):
            add(sid, now)
            continue
        add(sid, _aware(marker.due_at or marker.requested_at))
    return sorted(due, key=lambda s: (due[s], s))


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class PurgePorts:
    store: ObjectStore
    keyring: KeyRing            # no master key: purge only destroys data keys (least privilege)
    audit: AuditLog
    retention_days: float       # InfraSettings.retention_days: the one retention setting
    signer: CheckpointSigner | None = None   # signs and publishes the head after each append
    clock: Callable[[], datetime] = utcnow   # "now" of the retention sweep
    # the stage agent and the reconciler both purge (each in a thread): one purge at a time, so
    # the same submission is never purged twice at once and audit appends stay ordered
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def publish_head(ports: PurgePorts) -> None:
    """Publish a signed checkpoint of the audit head. A failure is logged, never fatal: the
    purge is done and certified; the next append publishes again."""
    if ports.signer is None:
        return
    try:
        cp = publish_checkpoint(ports.store, ports.audit, ports.signer)
        log.info("audit checkpoint published", extra={"seq": cp.seq, "key_id": cp.key_id})
    except Exception as exc:  # noqa: BLE001 - see docstring
        log.error("audit checkpoint not published", extra={"error_type": type(exc).__name__})


def handle_trigger(event: Event, ports: PurgePorts) -> Sequence[Event]:
    """Purge (idempotently) and announce it; a repeat is certified as a no-op."""
    if isinstance(event, SubmissionFailed) and event.stage == STAGE:
        return []   # a failed purge is retried by the sweep, not by reacting to its own failure
    trigger = event.trigger if isinstance(event, PurgeRequested) else TRIGGER_OF[type(event)]
    due_at = event.due_at if isinstance(event, PurgeRequested) and event.due_at else event.occurred_at
    with ports.lock:
        cert = purge_submission(ports.store, ports.keyring, ports.audit, event.submission_id,
                                trigger, due_at=due_at)
        entry = ports.audit.entry_of(cert)
        publish_head(ports)
    metrics.PURGES.labels(cert.outcome).inc()
    if cert.lag_seconds is not None and cert.outcome == "purged":
        metrics.PURGE_LAG.observe(max(0.0, cert.lag_seconds))
    return [DataPurged(submission_id=event.submission_id, outcome=cert.outcome,
                       objects_deleted=cert.n_objects, versions_deleted=cert.n_versions,
                       key_destroyed=cert.key_id_destroyed is not None,
                       certificate_key=entry.key if entry else None)]


def sweep(ports: PurgePorts) -> list[PurgeRequested]:
    """Purge requests for every submission past the retention limit that has no certificate."""
    now = ports.clock()
    statuses = [(r.submission_id, r.received_at, r.state) for r in status_records.read_all(ports.store)]
    received = {sid: at for sid, at, _ in statuses}
    due = sweep_due(ports.store, statuses, ports.retention_days, now, audit=ports.audit)
    return [PurgeRequested(submission_id=sid, trigger="retention",
                           due_at=retention_due_at(received[sid], ports.retention_days) if sid in received else None)
            for sid in due]
