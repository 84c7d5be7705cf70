"""Intake worker: the status agent (a faust Table fed by every event, copied to the object store
for the API), the timer that publishes queue gauges and the timer that publishes reports on their
release date. The HTTP API is in api.py."""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

import faust

from jdl_events import topics
from jdl_events.events import EVENT_OF
from jdl_infra import metrics
from jdl_infra.objectstore import open_store
from jdl_infra.publication import load_policy, publish_due
from jdl_pipeline.faust_app import make_app, sender
from jdl_pipeline.stage import DeadLetter, dead_letter, decode

from . import status
from .handlers import apply_status_event
from .settings import IntakeSettings

log = logging.getLogger("jdl.intake")
APP_ID = "jdl-intake"
PURGE_GRACE_SECONDS = 3600.0   # default: a finished submission not purged within an hour is overdue


def create_app(settings: IntakeSettings) -> faust.App:
    infra = settings.infra
    store = open_store(infra)
    app = make_app(APP_ID, settings)
    metrics.prepare_intake_worker(settings.stage_age_warning_seconds, [topics.DATA_PURGED])
    send = sender(app)
    table = app.Table("status", default=None, partitions=None)
    source = app.topic(*EVENT_OF.keys(), key_serializer="raw", value_serializer="raw")
    expected = tuple(EVENT_OF.values())

    @app.agent(source, name=f"{APP_ID}.status")
    async def status_agent(stream):
        async for ev in stream.events():
            msg = ev.message
            event = decode(ev.value, msg.topic, expected, msg.partition, msg.offset)
            if isinstance(event, DeadLetter):
                # each topic's consuming stage dead-letters bad messages; data.purged has no
                # consuming stage, so the status agent does it for that topic
                if msg.topic == topics.DATA_PURGED:
                    await dead_letter(send, event)
                continue
            sid = event.submission_id
            try:
                after = await asyncio.to_thread(apply_status_event, event, store=store,
                                                cached=table.get(sid))
                if after is not None:
                    table[sid] = after
            except Exception as exc:  # noqa: BLE001 - the projection must outlive one bad update
                # the exception type only: messages could quote stored values
                log.error("status update failed", extra={"submission_id": sid,
                                                         "event_type": event.event_type,
                                                         "error_type": type(exc).__name__})

    @app.timer(interval=5.0)
    async def publish_gauges() -> None:
        records = await asyncio.to_thread(status.all_statuses, store)
        update_gauges(records, datetime.now(timezone.utc), settings.infra.retention_days,
                      settings.purge_grace_seconds)

    policy = load_policy(infra.environment)

    @app.timer(interval=60.0)
    async def publish_due_reports() -> None:
        """Reviews that ended are scheduled and release dates reached are published, even when
        nobody reads the catalogue (the API also checks at each read)."""
        try:
            await asyncio.to_thread(publish_due, store, datetime.now(timezone.utc), policy)
        except Exception as exc:  # noqa: BLE001 - retried at the next tick
            log.error("publication check failed", extra={"error_type": type(exc).__name__})

    return app


def update_gauges(records: list[dict], now: datetime, retention_days: float,
                  purge_grace_seconds: float = PURGE_GRACE_SECONDS) -> None:
    metrics.register_queue_gauges()   # this process alone exports the queue gauges
    view = status.queue_view(records, now)
    for stage, n in view["by_stage"].items():
        metrics.OPEN_REQUESTS.labels(stage).set(n)
    metrics.OLDEST_OPEN_AGE.set(view["oldest_age_seconds"])
    # time in the current stage (since the event that moved it there): one stuck partition shows
    # here even while the stage's other partitions keep finishing work
    in_stage = {s: 0.0 for s in status.OPEN_STATES}
    for r in records:
        if r["state"] in in_stage:
            entered = status.parse_iso(r.get("updated_at") or r["received_at"])
            in_stage[r["state"]] = max(in_stage[r["state"]], (now - entered).total_seconds())
    for stage, age in in_stage.items():
        metrics.STAGE_OLDEST_AGE.labels(stage).set(age)
    overdue = 0
    for r in records:
        if status.is_purged(r):
            continue
        received = status.parse_iso(r["received_at"])
        if (now - received).total_seconds() > retention_days * 86400:
            overdue += 1
        elif r["state"] in status.TERMINAL and r.get("completed_at") and \
                (now - status.parse_iso(r["completed_at"])).total_seconds() > purge_grace_seconds:
            overdue += 1
    metrics.PURGES_OVERDUE.set(overdue)
