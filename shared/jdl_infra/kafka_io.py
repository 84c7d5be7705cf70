"""Kafka plumbing outside faust: topic creation (admin) and a validating event producer."""
from __future__ import annotations

import logging
import threading
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


class EventNotSent(Exception):
    """The broker did not acknowledge the event in time (down, restarting, unreachable)."""


class EventProducer:
    """Sends validated events to their topic, keyed by submission id (kafka-python), bounded in
    time and recovering from a broker restart.

    kafka-python's idempotent producer does not survive a broker that restarted with an empty
    log (its producer id is unknown there: every send times out until the process restarts).
    So idempotence is off (events carry their own ids; consumers de-duplicate by them), and
    after a failed send the producer is closed and the send retried once on a new one if time
    is left. ``send`` blocks at most about ``timeout`` seconds (connect, metadata,
    acknowledgement) and raises EventNotSent; callers run it off the event loop."""

    def __init__(self, bootstrap: str, security: dict[str, Any] | None = None, *,
                 timeout: float = 1.5) -> None:
        self.bootstrap = bootstrap
        self.security = security or {}
        self.timeout = timeout
        self._producer: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        with self._lock:
            if self._producer is None:
                from kafka import KafkaProducer

                ms = int(self.timeout * 1000)
                self._producer = KafkaProducer(
                    bootstrap_servers=self.bootstrap, acks="all", linger_ms=0,
                    client_id="jdl-producer", bootstrap_timeout_ms=ms, max_block_ms=ms,
                    request_timeout_ms=ms, delivery_timeout_ms=max(ms, 1000) + 500,
                    enable_idempotence=False, **self.security)
            return self._producer

    def _reset(self, broken: Any) -> None:
        with self._lock:
            if self._producer is broken:
                self._producer = None
        if broken is not None:
            try:
                broken.close(timeout=0)
            except Exception:  # noqa: BLE001 - it is being thrown away
                pass

    def send(self, event: Event, *, timeout: float | None = None) -> None:
        topic = TOPIC_OF[type(event)]
        data = dump_event(type(event).model_validate_json(dump_event(event)))  # validate on produce
        budget = timeout or self.timeout
        deadline = time.monotonic() + budget
        for attempt in (1, 2):
            producer = None
            try:
                producer = self._get()
                producer.send(topic, key=event.submission_id.encode(), value=data).get(
                    max(0.1, deadline - time.monotonic()))
                return
            except Exception as exc:  # every failure means "not sent"
                self._reset(producer)
                log.warning("event not sent; producer recreated",
                            extra={"topic": topic, "attempt": attempt,
                                   "error_type": type(exc).__name__})
                if attempt == 2 or deadline - time.monotonic() < 0.3:
                    raise EventNotSent(f"the broker did not acknowledge {event.event_type} "
                                       f"within {budget:.1f} s") from exc

    def reachable(self, timeout: float = 1.0) -> bool:
        """Can a TCP connection be opened to a bootstrap server (readiness; never blocks long)."""
        return broker_reachable(self.bootstrap, timeout)

    def close(self) -> None:
        p, self._producer = self._producer, None
        if p is not None:
            p.flush(5)
            p.close(5)


def broker_reachable(bootstrap: str, timeout: float = 1.0) -> bool:
    import socket

    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
                return True
        except (OSError, ValueError):
            continue
    return False
