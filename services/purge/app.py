"""Purge service: deletes a submission's individual-level data on report.ready, submission.failed
and purge.requested, and sweeps submissions past the retention limit whatever their state. The
handlers are in handlers.py; this module wires them to faust."""
from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Callable, Sequence

import faust

from jdl_events import topics
from jdl_events.events import DataPurged, Event, PurgeRequested, ReportReady, SubmissionFailed, dump_event
from jdl_infra import metrics
from jdl_infra.audit import AuditLog
from jdl_infra.checkpoint import CheckpointSigner, generate_signing_key
from jdl_infra.crypto import KeyRing
from jdl_infra.objectstore import open_store
from jdl_pipeline.faust_app import make_app, sender, stage_agent
from jdl_pipeline.stage import Send, send_events

from .handlers import STAGE, PurgePorts, handle_trigger, publish_head, sweep
from .reconcile import ReconcileConfig, Reconciler
from .settings import PurgeSettings

log = logging.getLogger("jdl.purge")
APP_ID = "jdl-purge"


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
    audit = AuditLog(store)
    audit.on_unreadable = functools.partial(_unreadable_entry, audit)
    key = settings.checkpoint_signing_key
    if key is None or not key.get_secret_value():
        log.warning("audit checkpoints signed with a throwaway development key (set "
                    "JDL_PURGE_CHECKPOINT_SIGNING_KEY to keep one across restarts)")
    signer = CheckpointSigner(key.get_secret_value() if key and key.get_secret_value()
                              else generate_signing_key())
    ports = PurgePorts(store=store, keyring=KeyRing(store, None), audit=audit,
                       retention_days=infra.retention_days, signer=signer)
    app = make_app(APP_ID, settings)
    send = sender(app)
    trigger = functools.partial(handle_trigger, ports=ports)   # one purge at a time (ports.lock)
    # One purge agent with concurrency 1: the audit log needs a single writer (run one replica).
    # No marker: a repeated trigger is certified again as a no-op, which the audit log records.
    stage_agent(app, STAGE, trigger, consumes=(ReportReady, SubmissionFailed, PurgeRequested),
                store=store, idempotent_marker=False)

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
        await asyncio.to_thread(publish_head, ports)   # the head as found, before any new append

    @app.timer(interval=settings.sweep_interval_seconds)
    async def retention_sweep() -> None:
        await run_sweep()

    reconciler = make_reconciler(settings, ports, trigger)
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
                    trigger: Callable[[Event], Sequence[Event]]) -> Reconciler:
    def purge(sid: str, why: str) -> DataPurged:
        (purged,) = trigger(PurgeRequested(submission_id=sid, trigger=why))  # type: ignore[arg-type]
        assert isinstance(purged, DataPurged)
        return purged

    return Reconciler(ports.store, ports.audit, purge, ReconcileConfig(
        stall_seconds=settings.stall_seconds, max_redrives=settings.max_redrives,
        orphan_grace_seconds=settings.orphan_grace_seconds,
        terminal_grace_seconds=settings.terminal_grace_seconds))


async def reconcile_once(reconciler: Reconciler, send: Send) -> None:
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
