"""Intake use cases, free of HTTP and faust: accept an upload (validate, encrypt, store, announce),
refuse one (record it for purge to certify), and fold an event into a submission's status record.

The API (api.py) parses a request, calls one of these in a thread and maps the outcome to a
response; the worker's status agent (app.py) calls ``apply_status_event``. Tests call them with
a ``MemoryStore``, a list that captures what is published and a fixed clock.
"""
from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from jdl_core.cohort import ParsedUpload
from jdl_core.errors import CohortError, JdlError
from jdl_events import keys
from jdl_events.events import Event, PurgeRequested, SubmissionReceived, new_submission_id
from jdl_infra import metrics
from jdl_infra.crypto import KeyRing, put_encrypted
from jdl_infra.objectstore import ObjectStore
from jdl_infra.ports import frame_to_bytes
from jdl_pipeline.stage import make_marker

from . import status
from .settings import IntakeSettings
from .window import intake_window

log = logging.getLogger("jdl.intake")

Clock = Callable[[], datetime]
# Parses an upload into its canonical columns and file-level facts: (data, filename, max_bytes).
Parse = Callable[[bytes, str, int], ParsedUpload]

# The event of an accepted upload must be acknowledged by the broker before the API answers 202
# (upload is all-or-nothing); the producer gives up after about 1.5 s, this bounds the wait.
SEND_TIMEOUT_SECONDS = 1.8
# A broker that refuses connections is told apart at once, before anything is stored.
READY_TIMEOUT_SECONDS = 0.5
UNAVAILABLE = ("the service cannot accept uploads at the moment (its message broker is "
               "unavailable); nothing of this upload was kept - please try again in a minute")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class IntakePorts:
    """What the intake use cases touch. ``publish`` sends one event and returns once the broker
    acknowledged it, raising otherwise (jdl_infra.kafka_io.EventProducer.send in production);
    it may block, so it is only called off the event loop and within a time limit.
    ``broker_ready`` answers whether the broker accepts connections (None: not checked)."""

    store: ObjectStore
    keyring: KeyRing
    publish: Callable[[Event], None]
    clock: Clock = utcnow
    broker_ready: Callable[[], bool] | None = None


@dataclass(frozen=True)
class Upload:
    """One upload as received: the file's bytes and name, the programme description as sent
    (JSON text) and the organisation of the token that sent it."""

    data: bytes
    filename: str
    programme: str
    org_id: str


@dataclass(frozen=True)
class Accepted:
    submission_id: str
    counts: dict[str, int]
    rejected_rows: list[dict[str, Any]]
    warnings: list[dict[str, Any]]


@dataclass(frozen=True)
class Refused:
    """Nothing of the upload is kept. ``submission_id`` names the refusal's status record (None
    when the broker refused connections: nothing was recorded); ``rejected_rows`` is set for
    refusals of the cohort's content."""

    submission_id: str | None
    code: str
    message: str
    rejected_rows: list[dict[str, Any]] | None = None


def parse_in_process(data: bytes, filename: str, max_bytes: int) -> ParsedUpload:
    """The default Parse: in this process (the API passes its bounded child-process parser)."""
    from jdl_core.cohort import read_upload

    return read_upload(data, filename, max_bytes=max_bytes)


def within(seconds: float, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a daemon thread, waiting at most ``seconds``; raises TimeoutError after
    that (the call is left to finish on its own: a hung broker client must not hold a request)."""
    done = threading.Event()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, daemon=True, name="jdl-intake-bounded").start()
    if not done.wait(seconds):
        raise TimeoutError(f"no answer within {seconds:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def broker_reachable(ports: IntakePorts, seconds: float) -> bool:
    """Whether the broker accepts connections now (True when no check is configured)."""
    if ports.broker_ready is None:
        return True
    try:
        return bool(within(seconds, ports.broker_ready))
    except Exception:  # noqa: BLE001 - unreachable, whatever the reason
        return False


def accept_submission(upload: Upload, *, ports: IntakePorts, settings: IntakeSettings,
                      parse: Parse = parse_in_process) -> Accepted | Refused:
    """Validate an upload and, if it can be analysed, store it encrypted and announce it.

    All or nothing: ``Accepted`` only once the broker has the submission.received event; if it
    does not take it in time, everything stored is deleted and the outcome is a refusal coded
    ``service_unavailable``. Every other refusal is recorded and sent to purge to certify
    (``refuse_submission``). Blocking: call it off the event loop."""
    from jdl_core.cohort import validate_cohort
    from jdl_core.programme import load_programme

    if not broker_reachable(ports, READY_TIMEOUT_SECONDS):
        metrics.UPLOADS_UNAVAILABLE.inc()
        return Refused(None, "service_unavailable", UNAVAILABLE)
    limit = settings.max_upload_bytes
    if len(upload.data) > limit:
        return refuse_submission(upload.org_id, "file_too_large", f"the file is larger than the "
                                 f"limit of {limit} bytes; split the cohort or remove unused columns",
                                 ports=ports)
    try:
        prog = load_programme(_programme_fields(upload))
    except JdlError as e:
        return refuse_submission(upload.org_id, e.code, str(e), ports=ports)
    try:
        parsed = parse(upload.data, upload.filename, limit)
        window = intake_window(settings)   # from the dataset's manifest
        cohort = validate_cohort(parsed, setting=prog.setting, coverage_start=window.start,
                                 coverage_end=window.end, min_size=settings.min_cohort_size,
                                 coverage_note=window.note)
    except CohortError as e:
        rejected = [_rejection(r) for r in getattr(e, "rejections", []) or []]
        return refuse_submission(upload.org_id, e.code, str(e), ports=ports, rejected_rows=rejected)

    sid, now = new_submission_id(), ports.clock()
    for reason, n in cohort.counts.by_reason.items():   # a row may count under two reasons
        metrics.ROWS_REJECTED.labels(reason).inc(n)
    rec = status.new_record(sid, upload.org_id, now)
    rec["counts"] = {"rows_submitted": cohort.counts.submitted,
                     "rows_valid": len(cohort.rows), "rows_rejected": cohort.counts.rejected}
    received = SubmissionReceived(
        submission_id=sid, org_id=upload.org_id, setting=prog.setting,
        rows_submitted=cohort.counts.submitted, rows_valid=len(cohort.rows),
        rows_rejected=cohort.counts.rejected,
        # attrition buckets of methodology.md section 3: each rejected row counted once
        rejected_by_reason={"invalid_row": cohort.counts.invalid,
                            "duplicate": cohort.counts.duplicates},
        cohort_key=keys.cohort_key(sid), programme_key=keys.programme_key(sid), received_at=now)

    ports.keyring.create_data_key(sid)
    put_encrypted(ports.store, ports.keyring, sid, keys.cohort_key(sid), frame_to_bytes(cohort.rows))
    ports.store.put(keys.programme_key(sid), prog.model_dump_json().encode())   # no personal data
    # submission.received as sent, recorded like a stage marker so the reconciler can re-send it
    # if the broker loses it (jdl_pipeline.stage)
    ports.store.put(keys.stage_marker_key(sid, "intake"), make_marker("intake", [received]))
    status.write_status(ports.store, rec)
    try:
        within(SEND_TIMEOUT_SECONDS, ports.publish, received)
    except Exception as exc:  # noqa: BLE001 - broker down, restarting or too slow
        metrics.UPLOADS_UNAVAILABLE.inc()
        _discard(sid, ports)
        # certified by the reconciler (a purge request now would wait on the same broker)
        _record_refusal(sid, upload.org_id, "service_unavailable", UNAVAILABLE, ports=ports,
                        notify=False)
        log.warning("upload not accepted: event not sent, stored data deleted",
                    extra={"submission_id": sid, "error_type": type(exc).__name__})
        return Refused(sid, "service_unavailable", UNAVAILABLE)
    metrics.SUBMISSIONS_RECEIVED.inc()
    log.info("submission accepted", extra={"submission_id": sid, "org_id": upload.org_id,
                                           "rows": len(cohort.rows)})
    return Accepted(sid, rec["counts"], [_rejection(r) for r in cohort.rejections],
                    [w.to_dict() for w in cohort.warnings])


def refuse_submission(org_id: str, code: str, message: str, *, ports: IntakePorts,
                      rejected_rows: list[dict[str, Any]] | None = None) -> Refused:
    """A refused upload: nothing of it is stored. Its refusal is recorded under a new submission
    id (counts only) and a purge request sent, so the purge service certifies that nothing
    remains. Blocking: call it off the event loop."""
    metrics.SUBMISSIONS_REFUSED.labels(code).inc()
    sid = new_submission_id()
    _record_refusal(sid, org_id, code, message, ports=ports, notify=True)
    log.info("submission refused", extra={"submission_id": sid, "org_id": org_id, "code": code})
    return Refused(sid, code, message, rejected_rows)


def apply_status_event(event: Event, *, store: ObjectStore, clock: Clock = utcnow,
                       cached: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Fold one event into its submission's status record and store the result; return the new
    record, or None if the event changed nothing (a replay). ``cached`` is the record as the
    worker's table holds it (None: read from the store). Blocking: call it off the event loop."""
    before = cached if cached is not None else status.read_status(store, event.submission_id)
    after = status.apply_event(before, event)
    if after == before:
        return None
    status.write_status(store, after)
    if after["state"] == "done" and (before or {}).get("state") != "done":
        metrics.SUBMISSIONS_COMPLETED.inc()
        metrics.TURNAROUND.observe(status.age_seconds(after, clock()))
    # purge lag (due -> done) is observed by the purge service alone, which knows when each purge
    # fell due; observing it here too would count every purge twice
    return after


def _record_refusal(sid: str, org_id: str, code: str, message: str, *, ports: IntakePorts,
                    notify: bool) -> None:
    """The refused upload's status record and (``notify``) a purge request. If the broker does not
    take the request, the reconciler finds the refused record without a certificate and
    certifies it."""
    rec = status.new_record(sid, org_id, ports.clock(), state="refused")
    rec["error"] = {"stage": "intake", "reason_code": code, "reason": message[:500]}
    rec["completed_at"] = rec["received_at"]
    status.write_status(ports.store, rec)
    if not notify:
        return
    try:
        within(SEND_TIMEOUT_SECONDS, ports.publish, PurgeRequested(submission_id=sid, trigger="refused"))
    except Exception as exc:  # noqa: BLE001 - the reconciler certifies it later
        log.warning("purge request for a refusal not sent; left to the reconciler",
                    extra={"submission_id": sid, "error_type": type(exc).__name__})


def _discard(sid: str, ports: IntakePorts) -> None:
    """Delete at once everything stored for an upload that could not be accepted."""
    ports.store.delete_prefix(keys.submission_prefix(sid))
    ports.keyring.destroy(sid)
    ports.store.delete_prefix(keys.stage_prefix(sid))


def _programme_fields(upload: Upload) -> dict[str, Any] | str:
    """The programme as sent, with the organisation of the token (never self-declared)."""
    try:
        fields = json.loads(upload.programme)
    except ValueError:
        return upload.programme        # load_programme says what is wrong with it
    if isinstance(fields, dict):
        fields["org_id"] = upload.org_id
        return fields
    return upload.programme


def _rejection(r: Any) -> dict[str, Any]:
    return {"row": r.row_number, "column": r.column, "reason_code": r.reason_code, "message": r.message}
