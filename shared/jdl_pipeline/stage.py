"""The shared body of every pipeline stage: decode or dead-letter, run the handler off the event
loop, turn errors into submission.failed, send what the handler returns, remember it was done.

What an error does is set by its class (jdl_core.errors): a JdlError refuses the submission, a
TransientError (or a connection error, a timeout, a missing object) is retried first, a
StopWorker stops the worker without answering. So does the dead-letter limit: when more than
half of the last 20 inputs went to dead letters or failed for no fault of the submitter, the
fault is the worker's, and it stops rather than fail (and so purge) every submission.

Send before you mark: ``send`` returns only once the broker acknowledged the event (acks=all),
and only then does the stage write ``stages/<id>/<stage>.json`` with the events it sent (ids,
counts and keys only). So a marker always means "delivered at least once".

A replayed input whose marker exists does not run the handler again: the stage re-sends the
events its marker recorded, with the same event ids. That repairs a broker that lost its log
(or a send acknowledged by a broker that then died) and is harmless otherwise: the next stage
recognises the input by its own marker and does the same, the status projection ignores an
event id it has seen. A crash between send and marker re-runs the handler on replay; its
outputs have deterministic ids and keys, so the next stage again sees the same event.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import signal
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Sequence

from pydantic import ValidationError

from jdl_core.errors import JdlError, StopWorker, TransientError
from jdl_events.events import Event, SubmissionFailed, dump_event, parse_event
from jdl_events.keys import stage_marker_key as marker_key
from jdl_events.topics import dlq
from jdl_events.vocab import StageName
from jdl_infra import metrics
from jdl_infra.objectstore import ObjectNotFound, ObjectStore

log = logging.getLogger("jdl.stage")
_NS = uuid.UUID("6f1d3c9e-6a43-4c55-9d4b-2a1d0c0b7a11")

Handler = Callable[[Event], Sequence[Event]]
# topic, key, value; returns once the broker acknowledged the message (raises if it did not)
Send = Callable[[str, bytes, bytes], Awaitable[None]]

# retried with backoff before the submission is refused: the same input may succeed in a moment
RETRYABLE = (TransientError, ConnectionError, TimeoutError, ObjectNotFound)


def event_id_for(submission_id: str, stage: str, event_type: str) -> uuid.UUID:
    """Deterministic event id: a replay of a stage produces the same id."""
    return uuid.uuid5(_NS, f"{submission_id}/{stage}/{event_type}")


def read_marker(store: ObjectStore, submission_id: str, stage: str) -> dict | None:
    """The stage's marker (``{"stage", "at", "sent": [event JSON]}``), None if absent/unreadable."""
    try:
        marker = json.loads(store.get(marker_key(submission_id, stage)))
    except (ObjectNotFound, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def recorded_events(marker: dict) -> list[Event]:
    """The events a marker recorded (validated again: a marker is read back from the store)."""
    out = []
    for raw in marker.get("sent") or []:
        try:
            out.append(parse_event(json.dumps(raw)))
        except (ValidationError, ValueError, TypeError):
            continue
    return out


def make_marker(stage: str, sent: Sequence[Event]) -> bytes:
    from datetime import datetime, timezone

    return json.dumps({"stage": stage, "at": datetime.now(timezone.utc).isoformat(),
                       "sent": [json.loads(dump_event(o)) for o in sent]}).encode()


async def send_events(send: Send, events: Sequence[Event]) -> None:
    from jdl_events.events import TOPIC_OF

    for o in events:
        await send(TOPIC_OF[type(o)], o.submission_id.encode(), dump_event(o))


# Fault injection for the crash tests (never set in production). With JDL_FAULT_DIR set, a test
# arms a point by creating <dir>/<stage>.<point>.armed; the stage then kills its own process
# with SIGKILL at that point, once per submission (<dir>/<stage>-<point>-<id>.fired is created
# just before the kill, so the restarted worker's replay of that submission carries on). Points:
# after_marker (the marker is written, or for a stage without marker its events were
# acknowledged), after_handler (the handler's work is stored - for purge the certificate - and
# nothing was sent yet).
FAULT_ENV = "JDL_FAULT_DIR"


def _maybe_fault(stage: str, point: str, sid: str) -> None:
    fault_dir = os.environ.get(FAULT_ENV)
    if not fault_dir or not os.path.exists(os.path.join(fault_dir, f"{stage}.{point}.armed")):
        return
    fired = os.path.join(fault_dir, f"{stage}-{point}-{sid}.fired")
    if os.path.exists(fired):
        return
    with open(fired, "w") as f:
        f.write(f"{os.getpid()}\n")
    log.warning("fault injected: killing this worker", extra={"stage": stage, "point": point})
    os.kill(os.getpid(), signal.SIGKILL)


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
    except Exception as e:  # noqa: BLE001 - not JSON at all, wrong encoding...
        return DeadLetter(topic, "undecodable", [{"type": type(e).__name__}], digest, partition, offset)
    if not isinstance(event, expected):
        return DeadLetter(topic, "unexpected_event_type", [{"type": event.event_type}], digest,
                          partition, offset)
    return event


async def dead_letter(send: Send, letter: DeadLetter) -> None:
    """Send a message that could not be decoded to its topic's dead-letter topic (its digest,
    reason and place; never its content), counted and logged."""
    metrics.DEAD_LETTERED.labels(letter.topic).inc()
    log.warning("message dead-lettered", extra={"topic": letter.topic, "reason": letter.reason,
                                                 "offset": letter.offset})
    await send(dlq(letter.topic), letter.sha256.encode(), letter.to_json())


class DeadLetterLimitExceeded(StopWorker):
    code = "dead_letter_limit"


@dataclass
class DeadLetterLimit:
    """Stop the worker when more than ``max_ratio`` of the last ``window`` inputs went to dead
    letters or failed for no fault of the submitter (an unexpected error, inputs unreachable after
    every retry). One bad input is the input's problem; most of them is the worker's (a bad
    deploy, a broken dependency), and answering each with submission.failed, which purge acts
    on, would destroy every submission. Like arroyo's DlqLimit."""

    max_ratio: float = 0.5
    window: int = 20
    _recent: deque[bool] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._recent = deque(maxlen=self.window)

    def record(self, stage: str, bad: bool) -> None:
        """Count one input; raises DeadLetterLimitExceeded once over the limit."""
        self._recent.append(bad)
        n_bad = sum(self._recent)
        if n_bad > self.max_ratio * self.window:
            raise DeadLetterLimitExceeded(
                f"{n_bad} of the last {len(self._recent)} inputs of the {stage} stage went to dead "
                f"letters or failed unexpectedly (limit: more than {self.max_ratio:g} of "
                f"{self.window}); the worker stops rather than fail every submission",
                hint="see the stage's earlier log lines for the reason of each; fix it and restart")


class Stage:
    """Runs one handler for one stage; used by each service's faust agent."""

    def __init__(self, name: StageName, handler: Handler, store: ObjectStore, send: Send,
                 *, expected: tuple[type[Event], ...], idempotent_marker: bool = True,
                 retries: int = 3, limit: DeadLetterLimit | None = None) -> None:
        self.name = name
        self.handler = handler
        self.store = store
        self.send = send
        self.expected = expected
        self.idempotent_marker = idempotent_marker
        self.retries = retries
        self.limit = limit or DeadLetterLimit()

    async def process(self, raw: bytes, topic: str, partition: int | None = None,
                      offset: int | None = None) -> list[Event]:
        """Handle one input. Raises StopWorker (nothing sent for this input) when the worker
        must stop, and whatever ``send`` raises when the broker did not take an output."""
        decoded = decode(raw, topic, self.expected, partition, offset)
        if isinstance(decoded, DeadLetter):
            await dead_letter(self.send, decoded)
            self.limit.record(self.name, bad=True)
            return []
        event = decoded
        sid = event.submission_id
        if self.idempotent_marker:
            marker = await asyncio.to_thread(read_marker, self.store, sid, self.name)
            if marker is not None:
                # done before: re-send what it recorded (same ids) in case the broker lost it
                again = recorded_events(marker)
                await send_events(self.send, again)
                metrics.STAGE_RESENDS.labels(self.name).inc()
                log.info("replay: recorded events re-sent", extra={
                    "stage": self.name, "submission_id": sid,
                    "sent": [o.event_type for o in again]})
                self.limit.record(self.name, bad=False)
                return []
        started = time.perf_counter()
        out, not_their_fault = await self._run(event)
        metrics.STAGE_DURATION.labels(self.name).observe(time.perf_counter() - started)
        _maybe_fault(self.name, "after_handler", sid)
        await send_events(self.send, out)          # returns once the broker acknowledged all
        if self.idempotent_marker:
            await asyncio.to_thread(self.store.put, marker_key(sid, self.name), make_marker(self.name, out))
        _maybe_fault(self.name, "after_marker", sid)
        log.info("stage done", extra={"stage": self.name, "submission_id": sid,
                                      "sent": [o.event_type for o in out],
                                      "seconds": round(time.perf_counter() - started, 3)})
        self.limit.record(self.name, bad=not_their_fault)
        return out

    async def _run(self, event: Event) -> tuple[list[Event], bool]:
        """The handler's events, or a submission.failed and whether the failure was no fault of
        the submitter (it counts towards the dead-letter limit). StopWorker goes up as it is."""
        sid = event.submission_id
        for attempt in range(1, self.retries + 1):
            try:
                return list(await asyncio.to_thread(self.handler, event)), False
            except StopWorker:
                raise
            except RETRYABLE as e:
                if attempt == self.retries:
                    code = "missing_object" if isinstance(e, ObjectNotFound) else "transient_error"
                    metrics.count_failure(self.name, code)
                    return [self._failed(sid, code, f"the {self.name} stage could not reach its "
                                         f"inputs after {self.retries} attempts")], True
                await asyncio.sleep(0.5 * 2 ** attempt)
            except JdlError as e:
                metrics.count_failure(self.name, e.code)
                log.warning("stage refused submission", extra={"stage": self.name,
                                                                "submission_id": sid, "code": e.code})
                return [self._failed(sid, e.code, e.message)], False
            except Exception as e:  # noqa: BLE001 - never die on one submission
                # the exception type only, never its message: it may quote the data
                log.error("stage crashed on submission", extra={"stage": self.name, "submission_id": sid,
                                                                "exc_type": type(e).__name__})
                metrics.count_failure(self.name, "internal_error")
                return [self._failed(sid, "internal_error",
                                     f"an unexpected error ({type(e).__name__}) stopped the "
                                     f"{self.name} stage; operations have been alerted")], True
        raise AssertionError("unreachable")

    def _failed(self, sid: str, code: str, reason: str) -> SubmissionFailed:
        return SubmissionFailed(event_id=event_id_for(sid, self.name, "submission.failed"),
                                submission_id=sid, stage=self.name, reason_code=code[:64],
                                reason=reason[:500])
