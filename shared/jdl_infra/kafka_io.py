"""Kafka plumbing outside faust: topic creation (admin) and a validating event producer."""
from __future__ import annotations

import logging
import time

from jdl_events.events import TOPIC_OF, Event, dump_event
from jdl_events.topics import TopicSpec, all_topic_specs

log = logging.getLogger("jdl.kafka")


def ensure_topics(bootstrap: str, specs: list[TopicSpec] | None = None, *, timeout: float = 30.0) -> list[str]:
    """Create every topic that does not exist yet (idempotent). Returns the names created."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    specs = specs if specs is not None else all_topic_specs()
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="jdl-admin")
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    try:
        existing = set(admin.list_topics())
        todo = [s for s in specs if s.name not in existing]
        created = []
        for s in todo:
            try:
                admin.create_topics([NewTopic(s.name, s.partitions, 1, topic_configs={
                    "retention.ms": str(s.retention_ms), "cleanup.policy": s.cleanup_policy})])
                created.append(s.name)
            except TopicAlreadyExistsError:
                pass
        log.info("topics ensured", extra={"created": len(created)})
        return created
    finally:
        admin.close()


class EventProducer:
    """Sends validated events to their topic, keyed by submission id (kafka-python)."""

    def __init__(self, bootstrap: str) -> None:
        from kafka import KafkaProducer

        self._producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", retries=5,
                                       linger_ms=5, client_id="jdl-producer")

    def send(self, event: Event, *, timeout: float = 15.0) -> None:
        topic = TOPIC_OF[type(event)]
        data = dump_event(type(event).model_validate_json(dump_event(event)))  # validate on produce
        self._producer.send(topic, key=event.submission_id.encode(), value=data).get(timeout)

    def close(self) -> None:
        self._producer.flush(10)
        self._producer.close(10)
