"""Builds the faust app of a service: broker, health and metrics pages, and stage agents."""
from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from jdl_core.errors import StopWorker
from jdl_events.events import TOPIC_OF, Event
from jdl_events.topics import PARTITIONS
from jdl_events.vocab import StageName
from jdl_infra import metrics
from jdl_infra.codec import register as register_codec
from jdl_infra.kafka_io import faust_credentials
from jdl_infra.logs import logging_config
from jdl_infra.objectstore import ObjectStore
from jdl_infra.ports import LazyNational

from .stage import Handler, Send, Stage

if TYPE_CHECKING:
    from .settings import ServiceSettings


class ServiceApp(faust.App):
    """A service's faust app: faust's own, plus the checks its /healthz runs besides partition
    assignment (a registered check returns why this worker cannot serve, or None)."""

    health_checks: list[Callable[[], str | None]]


def make_app(app_id: str, settings: ServiceSettings) -> ServiceApp:
    """The faust app of a service: its broker (acks from all replicas), in-memory tables, the
    worker's /healthz and /metrics on ``settings.web_host:web_port``."""
    infra = settings.infra
    # value_serializer="jdl-event" for faust topics of validated events. The stage agents read raw
    # bytes instead and validate in Stage.decode, so a bad message can be dead-lettered with its
    # reason rather than dropped inside faust's deserialiser (docs/decisions/0002).
    register_codec()
    datadir = Path(infra.data_dir).parent / "faust" / app_id
    datadir.mkdir(parents=True, exist_ok=True)
    app = ServiceApp(
        app_id,
        broker=f"kafka://{infra.kafka_bootstrap}",
        store="memory://",
        topic_partitions=PARTITIONS,
        topic_replication_factor=infra.kafka_replication_factor,
        consumer_auto_offset_reset="earliest",
        web_port=settings.web_port,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        datadir=str(datadir),
        autodiscover=False,
        broker_session_timeout=infra.kafka_session_timeout_seconds,
        broker_heartbeat_interval=min(3.0, infra.kafka_session_timeout_seconds / 3),
        producer_acks=-1,
        logging_config=logging_config(infra.log_level),
        broker_credentials=faust_credentials(infra),
    )

    # /healthz fails (503) when this worker cannot do its work: no partition assigned for longer
    # than the grace (a worker in no consumer group, or stuck out of it, looks alive but does
    # nothing), or a registered check reports a problem (e.g. a failed warm-up). The probes
    # restart or unroute it; the body says why.
    app.health_checks = []
    last_assigned = [time.monotonic()]     # start counts as assigned: the grace runs from it

    @app.page("/healthz")
    async def healthz(web, _request):
        try:   # the partitions this worker consumes (operations: who holds what)
            assigned = sorted(f"{tp.topic}:{tp.partition}" for tp in app.consumer.assignment())
        except Exception:  # noqa: BLE001 - not yet started or rebalancing
            assigned = []
        now = time.monotonic()
        if assigned:
            last_assigned[0] = now
        body = worker_health(app_id, assigned, now - last_assigned[0],
                             infra.health_assignment_grace_seconds, app.health_checks)
        return web.json(body, status=200 if body["status"] == "ok" else 503)

    @app.page("/metrics")
    async def metrics_page(web, _request):
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    return app


def national_dataset(app: ServiceApp, data_dir: str | Path, *,
                     then: Callable[[Any], None] | None = None) -> LazyNational:
    """The national dataset of a stage that reads it: loaded in a thread when the worker starts
    (then ``then(national)``, e.g. linkage's prepared indexes), so the first submission does not
    wait; /healthz fails after a failed load."""
    national = LazyNational(data_dir)

    @app.task
    async def warm_up() -> None:
        await national.warm_up(then)

    app.health_checks.append(national.health_problem)
    return national


def worker_health(app_id: str, assigned: list[str], unassigned_seconds: float, grace_seconds: float,
                  checks: Sequence[Callable[[], str | None]]) -> dict:
    """The body of a worker's /healthz: status "failing" with the problems, or "ok"."""
    problems = [p for p in (check() for check in checks) if p]
    if not assigned and unassigned_seconds > grace_seconds:
        problems.append(f"no partition assigned for {unassigned_seconds:.0f} s "
                        f"(JDL_HEALTH_ASSIGNMENT_GRACE_SECONDS={grace_seconds:g})")
    body: dict = {"status": "failing" if problems else "ok", "app": app_id, "assigned": assigned}
    if problems:
        body["problems"] = problems
    return body


def run_worker(app: faust.App, log_level: str) -> None:
    """``app.main()`` (the faust command line, e.g. ``worker``) with the log level of the settings
    unless ``-l``/``--loglevel`` is given: faust's default (WARN) would hide the stage logs."""
    import sys

    args = sys.argv[1:]
    if args and args[0] == "worker" and not any(a in ("-l", "--loglevel") or a.startswith("--loglevel=")
                                                for a in args):
        sys.argv.extend(["--loglevel", log_level.lower()])
    app.main()


def sender(app: faust.App, *, timeout: float = 30.0) -> Send:
    """A Send that returns only once the broker acknowledged the message (acks=all).

    ``Topic.send`` only queues a message in the producer; the stage writes its marker after
    ``send`` returns, so it must not return before the broker has the event (send before you
    mark). Raises if there is no acknowledgement within ``timeout`` seconds."""

    async def send(topic: str, key: bytes, value: bytes) -> None:
        producer = await app.maybe_start_producer()
        await asyncio.wait_for(producer.send_and_wait(topic, key, value, None, None, None), timeout)

    return send


async def stop_worker(app: faust.App, stage: str, exc: StopWorker) -> None:
    """End this worker process at once, saying why in one log line. The inputs finished before
    are committed; the one that stopped it is not, so the next worker reads it again (a graceful
    faust stop would acknowledge it, and a crash-looping worker would skip one submission per
    restart instead of leaving them all for when the fault is fixed)."""
    logging.getLogger("jdl.stage").critical(
        f"worker stopped: {exc}", extra={"stage": stage, "code": exc.code, "app": app.conf.id})
    try:
        await asyncio.wait_for(app.consumer.commit(), 10.0)
    except Exception as commit_exc:  # noqa: BLE001 - those inputs are replayed: markers make it harmless
        logging.getLogger("jdl.stage").warning("offsets not committed before stopping",
                                               extra={"error_type": type(commit_exc).__name__})
    logging.shutdown()      # flush the log line: os._exit skips the interpreter's clean-up
    os._exit(StopWorker.exit_code)   # restarted with backoff until the fault is fixed


def stage_agent(app: faust.App, name: StageName, handler: Handler, *,
                consumes: type[Event] | tuple[type[Event], ...], store: ObjectStore,
                idempotent_marker: bool = True) -> Stage:
    """Run ``handler`` as the stage ``name`` of this app: one agent on the topics of the events it
    ``consumes`` (from TOPIC_OF, so the input is stated once), raw bytes in; Stage.process
    decodes or dead-letters, sends through the broker with acknowledgement and keeps its markers
    in ``store``. Returns the Stage (tests drive it directly)."""
    expected = consumes if isinstance(consumes, tuple) else (consumes,)
    stage = Stage(name, handler, store, sender(app), expected=expected,
                  idempotent_marker=idempotent_marker)
    topic_names = list(dict.fromkeys(TOPIC_OF[e] for e in expected))
    source = app.topic(*topic_names, key_serializer="raw", value_serializer="raw")
    metrics.prepare_stage(name, topic_names)   # alerts see the first failure or dead letter
    metrics.STAGE_RESENDS.labels(name)          # exported at 0 from start-up
    metrics.STAGE_SEND_FAILURES.labels(name)

    async def agent(stream):
        async for ev in stream.events():
            msg = ev.message
            try:
                await stage.process(ev.value, msg.topic, msg.partition, msg.offset)
            except StopWorker as exc:
                await stop_worker(app, name, exc)
            except Exception as exc:  # noqa: BLE001 - the broker did not take an output event
                # No marker was written, so nothing is lost: the reconciler finds the submission
                # stalled and re-sends this input from the store. The worker keeps consuming.
                metrics.STAGE_SEND_FAILURES.labels(name).inc()
                logging.getLogger("jdl.stage").error(
                    "stage output not acknowledged; left to the reconciler",
                    extra={"stage": name, "error_type": type(exc).__name__})

    agent.__name__ = f"{name}_agent"
    app.agent(source, name=f"{app.conf.id}.{name}")(agent)
    return stage
