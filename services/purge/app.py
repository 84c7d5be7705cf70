"""Purge service: deletes a submission's individual-level data on report.ready, submission.failed
and purge.requested, and sweeps submissions past the retention limit whatever their state."""
from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Callable, Sequence

import faust

from jdl_events import keys, topics
from jdl_events.events import (DataPurged, Event, PurgeRequested, ReportReady, SubmissionFailed,
                               dump_event)
from jdl_events.vocab import PurgeTrigger, Stage
from jdl_infra import metrics
from jdl_infra.audit import AuditLog
from jdl_infra.checkpoint import CheckpointSigner, generate_signing_key, publish_checkpoint
from jdl_infra.crypto import KeyRing
from jdl_infra.faust_app import add_stage_agent, make_app, sender
from jdl_infra.objectstore import ObjectStore, open_store
from jdl_infra.stage import Stage

from .settings import PurgeSettings

if TYPE_CHECKING:
    from .reconcile import Reconciler

log = logging.getLogger("jdl.purge")
APP_ID = "jdl-purge"
STAGE: Stage = "purge"
TRIGGER_OF: dict[type[Event], PurgeTrigger] = {ReportReady: "report_ready", SubmissionFailed: "failed"}


@dataclass
class PurgePorts:
    store: ObjectStore
    keyring: KeyRing
    audit: AuditLog
    retention_days: float       # InfraSettings.retention_days: the one retention setting
    signer: CheckpointSigner | None = None   # signs and publishes the head after each append


def publish(ports: PurgePorts) -> None:
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
    """Purge (idempotently) and announce it; a repeat is certified as a no-op by the handler."""
    from .handlers import purge_submission

    if isinstance(event, SubmissionFailed) and event.stage == STAGE:
        return []   # a failed purge is retried by the sweep, not by reacting to its own failure
    trigger = event.trigger if isinstance(event, PurgeRequested) else TRIGGER_OF[type(event)]
    cert = purge_submission(ports.store, ports.keyring, ports.audit, event.submission_id, trigger,
                            due_at=(event.due_at if isinstance(event, PurgeRequested) and event.due_at
                                    else event.occurred_at))
    metrics.PURGES.labels(cert.outcome).inc()
    if cert.lag_seconds is not None and cert.outcome == "purged":
        metrics.PURGE_LAG.observe(max(0.0, cert.lag_seconds))
    entry = ports.audit.entry_of(cert)
    publish(ports)
    return [DataPurged(submission_id=event.submission_id, outcome=cert.outcome,
                       objects_deleted=cert.n_objects, versions_deleted=cert.n_versions,
                       key_destroyed=cert.key_id_destroyed is not None,
                       certificate_key=entry.key if entry else None)]


def sweep(ports: PurgePorts, now: datetime | None = None) -> list[PurgeRequested]:
    """Purge requests for every submission past the retention limit that has no certificate."""
    from .handlers import retention_due_at, sweep_due

    now = now or datetime.now(timezone.utc)
    statuses = []
    for key in ports.store.list(keys.STATUS):
        try:
            rec = json.loads(ports.store.get(key))
        except Exception:
            continue
        statuses.append((rec["submission_id"], datetime.fromisoformat(rec["received_at"]), rec["state"]))
    received = {sid: at for sid, at, _ in statuses}
    due = sweep_due(ports.store, statuses, ports.retention_days, now, audit=ports.audit)
    return [PurgeRequested(submission_id=sid, trigger="retention",
                           due_at=retention_due_at(received[sid], ports.retention_days) if sid in received else None)
            for sid in due]


def _unreadable_entry(audit: AuditLog, seq: int) -> None:
    """Alert hook: purging goes on past an unreadable audit entry, but the gauge (alert
    JdlAuditEntryUnreadable) stays up until someone repairs it and verify passes again."""
    metrics.AUDIT_UNREADABLE.set(len(audit.unreadable))
    log.error("audit log has an unreadable entry; purging continues past it",
              extra={"seq": seq, "unreadable_entries": len(audit.unreadable)})


def create_app(settings: PurgeSettings) -> faust.App:
    infra = settings.infra
    store = open_store(infra)
    # the purge service holds no master key: it only destroys data keys (least privilege)
    audit = AuditLog(store, on_unreadable=lambda seq: _unreadable_entry(audit, seq))
    key = settings.checkpoint_signing_key
    if key is None or not key.get_secret_value():
        log.warning("audit checkpoints signed with a throwaway development key (set "
                    "JDL_PURGE_CHECKPOINT_SIGNING_KEY to keep one across restarts)")
    signer = CheckpointSigner(key.get_secret_value() if key and key.get_secret_value()
                              else generate_signing_key())
    ports = PurgePorts(store=store, keyring=KeyRing(store, None), audit=audit,
                       retention_days=infra.retention_days, signer=signer)
    app = make_app(APP_ID, infra, web_port=settings.web_port, web_host=settings.web_host)
    send = sender(app)
    # the agent and the reconciler both purge (each in a thread): one purge at a time, so the
    # same submission is never purged twice at once and audit appends stay ordered
    purge_lock = threading.Lock()

    def locked_trigger(e: Event) -> Sequence[Event]:
        with purge_lock:
            return handle_trigger(e, ports)

    stage = Stage(STAGE, locked_trigger, store, send,
                  expected=(ReportReady, SubmissionFailed, PurgeRequested), idempotent_marker=False)
    # One purge agent with concurrency 1: the audit log needs a single writer (run one replica).
    add_stage_agent(app, stage, [topics.REPORT_READY, topics.SUBMISSION_FAILED, topics.PURGE_REQUESTED])

    metrics.prepare_purge(settings.sweep_interval_seconds)

    async def run_sweep() -> None:
        try:
            for req in await asyncio.to_thread(sweep, ports):
                log.info("retention purge requested", extra={"submission_id": req.submission_id})
                await send(topics.PURGE_REQUESTED, req.submission_id.encode(), dump_event(req))
        except Exception as exc:  # noqa: BLE001 - retried next interval; JdlRetentionSweepLate alerts
            log.error("retention sweep failed", extra={"error_type": type(exc).__name__})
            return
        metrics.RETENTION_SWEEP_LAST_RUN.set_to_current_time()

    # once at start (a restart must not postpone the sweep by a full interval), then every interval
    @app.task
    async def retention_sweep_at_start() -> None:
        await run_sweep()

    @app.task
    async def publish_at_start() -> None:
        await asyncio.to_thread(publish, ports)   # the head as found, before any new append

    @app.timer(interval=settings.sweep_interval_seconds)
    async def retention_sweep() -> None:
        await run_sweep()

    reconciler = make_reconciler(settings, ports, locked_trigger)
    for action in metrics.RECONCILE_ACTION_KINDS:   # series exist (at 0) before the first action
        metrics.RECONCILE_ACTIONS.labels(action)
    for result in ("ok", "error"):
        metrics.RECONCILE_RUNS.labels(result)
    metrics.RECONCILE_INTERVAL.set(settings.reconcile_interval_seconds)

    @app.task
    async def reconcile_loop() -> None:
        """At start and every interval; a failed pass (store or broker down) is retried next time."""
        while True:
            await reconcile_once(reconciler, send)
            await asyncio.sleep(settings.reconcile_interval_seconds)

    return app


def make_reconciler(settings: PurgeSettings, ports: PurgePorts,
                    trigger: "Callable[[Event], Sequence[Event]]") -> "Reconciler":
    from .reconcile import ReconcileConfig, Reconciler

    def purge(sid: str, why: str) -> DataPurged:
        (purged,) = trigger(PurgeRequested(submission_id=sid, trigger=why))  # type: ignore[arg-type]
        assert isinstance(purged, DataPurged)
        return purged

    return Reconciler(ports.store, ports.audit, purge, ReconcileConfig(
        stall_seconds=settings.stall_seconds, max_redrives=settings.max_redrives,
        orphan_grace_seconds=settings.orphan_grace_seconds,
        terminal_grace_seconds=settings.terminal_grace_seconds))


async def reconcile_once(reconciler: "Reconciler", send) -> None:  # type: ignore[no-untyped-def]
    from jdl_infra.stage import send_events

    started = time.perf_counter()
    try:
        result = await asyncio.to_thread(reconciler.run)
        await send_events(send, result.events)
    except Exception as exc:  # noqa: BLE001 - the next pass tries again
        metrics.RECONCILE_RUNS.labels("error").inc()
        log.error("reconcile pass failed", extra={"error_type": type(exc).__name__})
        return
    metrics.RECONCILE_RUNS.labels("ok").inc()
    metrics.RECONCILE_DURATION.observe(time.perf_counter() - started)
    metrics.RECONCILE_LAST_SUCCESS.set(time.time())
    log.info("reconcile pass done", extra={
        "records": result.records, "seconds": round(time.perf_counter() - started, 3),
        **{k: len(v) for k, v in result.actions.items()}})
