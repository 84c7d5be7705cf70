"""The shared body of every pipeline stage: decode or dead-letter, run the handler off the event
loop, turn errors into submission.failed, send what the handler returns, remember it was done.

Idempotency: after a stage sends its output events it writes ``stages/<id>/<stage>.json`` (ids
only). A replayed input whose marker exists is acknowledged and nothing is sent again. A crash
between send and marker leads to a resend with the same deterministic event id, which the next
stage recognises by its own marker.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Awaitable, Callable, Sequence

from pydantic import ValidationError

from jdl_core.errors import JdlError
from jdl_events.events import Event, SubmissionFailed, dump_event, parse_event
from jdl_events.topics import dlq

from . import metrics
from .objectstore import ObjectNotFound, ObjectStore

log = logging.getLogger("jdl.stage")
_NS = uuid.UUID("6f1d3c9e-6a43-4c55-9d4b-2a1d0c0b7a11")

Handler = Callable[[Event], Sequence[Event]]
Send = Callable[[str, bytes, bytes], Awaitable[None]]   # topic, key, value

TRANSIENT = (ConnectionError, TimeoutError)


def event_id_for(submission_id: str, stage: str, event_type: str) -> uuid.UUID:
    """Deterministic event id: a replay of a stage produces the same id."""
    return uuid.uuid5(_NS, f"{submission_id}/{stage}/{event_type}")


def marker_key(submission_id: str, stage: str) -> str:
    return f"stages/{submission_id}/{stage}.json"


@dataclass
class DeadLetter:
    topic: str
    reason: str
    detail: list[dict]
    sha256: str
    partition: int | None = None
    offset: int | None = None

    def to_json(self) -> bytes:
        return json.dumps(self.__dict__, sort_keys=True).encode()


def decode(raw: bytes, topic: str, expected: tuple[type[Event], ...],
           partition: int | None = None, offset: int | None = None) -> Event | DeadLetter:
    """Parse and validate a message; on failure a DeadLetter that never contains the input."""
    digest = hashlib.sha256(raw or b"").hexdigest()
    try:
        event = parse_event(raw)
    except ValidationError as e:
        detail = [{"loc": [str(p) for p in err.get("loc", ())], "type": err.get("type", "")}
                  for err in e.errors(include_input=False, include_url=False)][:20]
        return DeadLetter(topic, "invalid_event", detail, digest, partition, offset)
    except Exception as e:  # not JSON at all, wrong encoding...
        return DeadLetter(topic, "undecodable", [{"type": type(e).__name__}], digest, partition, offset)
    if not isinstance(event, expected):
        return DeadLetter(topic, "unexpected_event_type", [{"type": event.event_type}], digest,
                          partition, offset)  # type: ignore[attr-defined]
    return event


class Stage:
    """Runs one handler for one stage; used by each service's faust agent."""

    def __init__(self, name: str, handler: Handler, store: ObjectStore, send: Send,
                 *, expected: tuple[type[Event], ...], idempotent_marker: bool = True,
                 retries: int = 3) -> None:
        self.name = name
        self.handler = handler
        self.store = store
        self.send = send
        self.expected = expected
        self.idempotent_marker = idempotent_marker
        self.retries = retries

    async def process(self, raw: bytes, topic: str, partition: int | None = None,
                      offset: int | None = None) -> list[Event]:
        decoded = decode(raw, topic, self.expected, partition, offset)
        if isinstance(decoded, DeadLetter):
            metrics.DEAD_LETTERED.labels(topic).inc()
            log.warning("message dead-lettered", extra={"topic": topic, "reason": decoded.reason,
                                                         "offset": offset})
            await self.send(dlq(topic), decoded.sha256.encode(), decoded.to_json())
            return []
        event = decoded
        sid = event.submission_id
        if self.idempotent_marker and await asyncio.to_thread(self.store.exists, marker_key(sid, self.name)):
            log.info("replay ignored", extra={"stage": self.name, "submission_id": sid})
            return []
        started = time.perf_counter()
        out = await self._run(event)
        metrics.STAGE_DURATION.labels(self.name).observe(time.perf_counter() - started)
        for o in out:
            from jdl_events.events import TOPIC_OF

            await self.send(TOPIC_OF[type(o)], sid.encode(), dump_event(o))
        if self.idempotent_marker:
            marker = json.dumps({"stage": self.name, "sent": [json.loads(dump_event(o)) for o in out]})
            await asyncio.to_thread(self.store.put, marker_key(sid, self.name), marker.encode())
        log.info("stage done", extra={"stage": self.name, "submission_id": sid,
                                      "sent": [getattr(o, "event_type", "") for o in out],
                                      "seconds": round(time.perf_counter() - started, 3)})
        return out

    async def _run(self, event: Event) -> list[Event]:
        sid = event.submission_id
        for attempt in range(1, self.retries + 1):
            try:
                return list(await asyncio.to_thread(self.handler, event))
            except JdlError as e:
                metrics.count_failure(self.name, e.code)
                log.warning("stage refused submission", extra={"stage": self.name,
                                                                "submission_id": sid, "code": e.code})
                return [self._failed(sid, e.code, e.message)]
            except (TRANSIENT + (ObjectNotFound,)) as e:
                if attempt == self.retries:
                    code = "missing_object" if isinstance(e, ObjectNotFound) else "transient_error"
                    metrics.count_failure(self.name, code)
                    return [self._failed(sid, code, f"the {self.name} stage could not reach its "
                                         f"inputs after {self.retries} attempts")]
                await asyncio.sleep(0.5 * 2 ** attempt)
            except Exception as e:  # never die on one submission; no message text (may hold data)
                log.error("stage crashed on submission", extra={"stage": self.name, "submission_id": sid,
                                                                "exc_type": type(e).__name__})
                metrics.count_failure(self.name, "internal_error")
                return [self._failed(sid, "internal_error",
                                     f"an unexpected error ({type(e).__name__}) stopped the "
                                     f"{self.name} stage; operations have been alerted")]
        raise AssertionError("unreachable")

    def _failed(self, sid: str, code: str, reason: str) -> SubmissionFailed:
        return SubmissionFailed(event_id=event_id_for(sid, self.name, "submission.failed"),
                                submission_id=sid, stage=self.name, reason_code=code[:64],
                                reason=reason[:500])
