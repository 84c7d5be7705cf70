"""The deletion policy that `jdl audit verify` checks: which submissions must by now have a
deletion certificate, and that every certified submission really holds no data.

A policy over what the other services leave in the store (intake's status records, reporting's
reports, the data-key records), read through the shared layout (``jdl_events.keys``) and
vocabulary (``jdl_events.vocab``); the audit log itself (``jdl_infra.audit``) knows nothing of it.
Aggregates only: ids, states, times and counts.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Iterator

from jdl_events import keys
from jdl_events.vocab import TERMINAL_STATES
from jdl_infra import status_records
from jdl_infra.audit import AuditLog, Problem
from jdl_infra.certificate import DeletionCertificate
from jdl_infra.objectstore import ObjectNotFound, ObjectStore


def submissions_requiring_certificate(store: ObjectStore, *, retention_days: float,
                                      now: datetime | None = None) -> dict[str, str]:
    """Submission ids that must by now have a certificate, each with the reason.

    ``retention_days`` is the one retention setting (``InfraSettings.retention_days``), passed by
    the caller so that no second default can drift from it. Due, from what the services leave in
    the store:

    - a report exists under ``reports/<id>/`` (the report was ready, so purge was due);
    - the status record's ``state`` is terminal (done, failed, refused), or its ``received_at``
      is older than the retention limit;
    - a data key ``keys/<id>.json`` created longer ago than the retention limit (an orphan the
      status records forgot).
    """
    limit = (now or datetime.now(timezone.utc)) - timedelta(days=retention_days)
    expired = f"older than {retention_days:g} days retention"
    need: dict[str, str] = {}
    for k in store.list(keys.REPORTS):
        if sid := keys.id_of_report_key(k):
            need.setdefault(sid, "report ready")
    for rec in status_records.read_all(store):   # an unreadable record is skipped: its reports
        if rec.state in TERMINAL_STATES:          # and data keys still name the submission
            need.setdefault(rec.submission_id, f"state {rec.state}")
        elif rec.received_at <= limit:
            need.setdefault(rec.submission_id, expired)
    for sid, created in _data_keys(store):
        if created is not None and created <= limit:
            need.setdefault(sid, f"data key {expired}")
    return need


def check_certificates(store: ObjectStore, log: AuditLog, required: Iterable[str]) -> list[Problem]:
    """Every required submission has a certificate, and no certified submission still has data
    under ``submissions/<id>/`` or a data key (the certificate's claim is re-checked now)."""
    certified: dict[str, DeletionCertificate] = {c.submission_id: c for c in log.certificates()}
    problems = [Problem("missing_certificate", "finished or expired but no deletion certificate "
                        "in the audit log", submission_id=sid)
                for sid in sorted(set(required)) if sid not in certified]
    residual: dict[str, int] = {}
    for k, _v in store.list_versions(keys.SUBMISSIONS):
        if sid := keys.id_of_submission_object(k):
            residual[sid] = residual.get(sid, 0) + 1
    for k, _v in store.list_versions(keys.DATA_KEYS):
        if sid := keys.id_of_data_key(k):
            residual[sid] = residual.get(sid, 0) + 1
    for sid in sorted(certified):
        if residual.get(sid):
            problems.append(Problem(
                "residual_data", f"certified ({certified[sid].outcome}) but {residual[sid]} object "
                "version(s) remain under its data prefix or key", submission_id=sid))
    return problems


def _data_keys(store: ObjectStore) -> Iterator[tuple[str, datetime | None]]:
    """(submission id, created_at) of each data-key record (``keys/<id>.json``)."""
    for k in store.list(keys.DATA_KEYS):
        if not (sid := keys.id_of_data_key(k)):
            continue
        try:
            created = _parse_time(json.loads(store.get(k)).get("created_at"))
        except (ObjectNotFound, ValueError, AttributeError):
            continue
        yield sid, created


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)
