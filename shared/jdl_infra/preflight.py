"""Start-up checks of a faust worker, before faust starts: the broker has enough brokers for the
replication factor, and the topics deploy/kafka/topics.yaml declares exist.

Why: faust creates its internal topics (table changelogs, the assignor's leader topic) itself
when they are missing, with ``JDL_KAFKA_REPLICATION_FACTOR`` and no retention bound. On
Kubernetes nothing orders the Deployments after the topic Job, so a worker must wait for the
Job's topics rather than race it; and a replication factor above the broker count makes every
topic faust creates fail, which is better said at start-up, naming the setting.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Sequence

from jdl_events.topics import all_topic_specs

from .kafka_io import client_security
from .settings import InfraSettings

log = logging.getLogger("jdl.preflight")


class StartupError(RuntimeError):
    """The worker must not start; the message names the setting or topic and what to do."""


def internal_topics(app_id: str, tables: Sequence[str] = ()) -> list[str]:
    """faust's own topics for an app: the assignor's leader topic and one changelog per table
    (faust's naming, the same as deploy/kafka/render_topics.py)."""
    return [f"{app_id}-__assignor-__leader"] + [f"{app_id}-{t}-changelog" for t in tables]


def required_topics(app_id: str, tables: Sequence[str] = ()) -> list[str]:
    return [s.name for s in all_topic_specs()] + internal_topics(app_id, tables)


def _admin(infra: InfraSettings, timeout: float) -> Any:
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout
    while True:
        try:
            return KafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap, client_id="jdl-preflight",
                                    request_timeout_ms=15000, **client_security(infra))
        except KafkaError as e:
            if time.monotonic() >= deadline:
                raise StartupError(f"JDL_KAFKA_BOOTSTRAP={infra.kafka_bootstrap}: no broker answered "
                                   f"in {timeout:.0f} s ({type(e).__name__})") from None
            time.sleep(1.0)


def check_replication(infra: InfraSettings, admin: Any) -> int:
    """The number of brokers; refuses a replication factor above it."""
    brokers = len(admin.describe_cluster()["brokers"])
    if infra.kafka_replication_factor > brokers:
        raise StartupError(
            f"JDL_KAFKA_REPLICATION_FACTOR={infra.kafka_replication_factor} is above the number of "
            f"brokers ({brokers}) at {infra.kafka_bootstrap}: every topic faust creates would fail. "
            f"Set it to at most {brokers} (1 for a single broker).")
    return brokers


def wait_for_topics(admin: Any, names: Sequence[str], timeout: float, poll: float = 2.0) -> None:
    """Until every topic in ``names`` exists; after ``timeout`` seconds, refuse naming the missing."""
    deadline = time.monotonic() + timeout
    while True:
        missing = sorted(set(names) - set(admin.list_topics()))
        if not missing:
            return
        if time.monotonic() >= deadline:
            raise StartupError(
                f"topics {', '.join(missing)} do not exist after {timeout:.0f} s "
                "(JDL_KAFKA_TOPIC_WAIT_SECONDS): run the topic job "
                "(deploy/kafka/apply_topics.py --file deploy/kafka/topics.yaml) first")
        log.info("waiting for declared topics", extra={"missing": len(missing)})
        time.sleep(poll)


def preflight(infra: InfraSettings, app_id: str, tables: Sequence[str] = ()) -> None:
    """Run before a worker starts. In production, or when JDL_KAFKA_TOPIC_WAIT_SECONDS is set:
    the replication check, then waiting for the declared topics (when the wait is above 0)."""
    if infra.environment != "production" and infra.kafka_topic_wait_seconds <= 0:
        return   # embedded runtime and tests: the runtime creates the topics itself
    admin = _admin(infra, timeout=max(30.0, infra.kafka_topic_wait_seconds))
    try:
        brokers = check_replication(infra, admin)
        if infra.kafka_topic_wait_seconds > 0:
            wait_for_topics(admin, required_topics(app_id, tables), infra.kafka_topic_wait_seconds)
        log.info("preflight passed", extra={"brokers": brokers, "app": app_id})
    finally:
        admin.close()


def run_preflight(infra: InfraSettings, app_id: str, tables: Sequence[str] = ()) -> None:
    """``preflight`` for a process entry point: a refusal is one line on stderr and exit code 2."""
    import sys

    try:
        preflight(infra, app_id, tables)
    except StartupError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
