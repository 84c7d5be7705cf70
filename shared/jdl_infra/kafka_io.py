"""Kafka plumbing outside faust: topic creation (admin) and a validating event producer."""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from jdl_events.events import TOPIC_OF, Event, dump_event
from jdl_events.topics import TopicSpec, all_topic_specs

if TYPE_CHECKING:
    from .settings import InfraSettings

log = logging.getLogger("jdl.kafka")


def client_security(infra: "InfraSettings | None") -> dict[str, Any]:
    """kafka-python keyword arguments for the broker security in the settings (none: plaintext)."""
    if infra is None or infra.kafka_security_protocol == "PLAINTEXT":
        return {}
    out: dict[str, Any] = {"security_protocol": infra.kafka_security_protocol}
    if infra.kafka_security_protocol.startswith("SASL_"):
        assert infra.kafka_sasl_password is not None   # checked by the settings
        out.update(sasl_mechanism=infra.kafka_sasl_mechanism,
                   sasl_plain_username=infra.kafka_sasl_username,
                   sasl_plain_password=infra.kafka_sasl_password.get_secret_value())
    if infra.kafka_security_protocol in ("SSL", "SASL_SSL"):
        out["ssl_check_hostname"] = True
        if infra.kafka_ssl_cafile is not None:
            out["ssl_cafile"] = str(infra.kafka_ssl_cafile)
    return out


def faust_credentials(infra: "InfraSettings") -> Any:
    """faust ``broker_credentials`` for the same settings (None: plaintext)."""
    import ssl

    import faust

    protocol = infra.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = None
    if protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(
            purpose=ssl.Purpose.SERVER_AUTH,
            cafile=str(infra.kafka_ssl_cafile) if infra.kafka_ssl_cafile else None)
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    assert infra.kafka_sasl_password is not None
    return faust.SASLCredentials(username=infra.kafka_sasl_username,
                                 password=infra.kafka_sasl_password.get_secret_value(),
                                 mechanism=infra.kafka_sasl_mechanism, ssl_context=context)


def ensure_topics(bootstrap: str, specs: list[TopicSpec] | None = None, *, timeout: float = 30.0,
                  security: dict[str, Any] | None = None) -> list[str]:
    """Create every topic that does not exist yet (idempotent). Returns the names created."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    specs = specs if specs is not None else all_topic_specs()
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="jdl-admin",
                                     **(security or {}))
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

    def __init__(self, bootstrap: str, security: dict[str, Any] | None = None) -> None:
        from kafka import KafkaProducer

        self._producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", retries=5,
                                       linger_ms=5, client_id="jdl-producer", **(security or {}))

    def send(self, event: Event, *, timeout: float = 15.0) -> None:
        topic = TOPIC_OF[type(event)]
        data = dump_event(type(event).model_validate_json(dump_event(event)))  # validate on produce
        self._producer.send(topic, key=event.submission_id.encode(), value=data).get(timeout)

    def close(self) -> None:
        self._producer.flush(10)
        self._producer.close(10)
