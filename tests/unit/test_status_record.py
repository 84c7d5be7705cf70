"""The status record as a typed contract (jdl_events.status): what intake's projection writes fits
StatusRecord, a record that does not fit is never stored, and every reader (the purge sweep, the
reconciler, `jdl audit verify`, the CLI client) reads the model and skips what does not parse."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from jdl_cli.client import Client
from jdl_cli.compliance import submissions_requiring_certificate
from jdl_events import events as ev
from jdl_events import keys
from jdl_events.status import StatusRecord, StatusView
from jdl_infra import status_records
from jdl_infra.objectstore import MemoryStore
from services.intake import status
from tests.unit.test_api import api, cohort_csv, post  # noqa: F401  (fixture)

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _finished(sid: str) -> dict:
    rec = None
    for e in [ev.SubmissionReceived(submission_id=sid, org_id="acme", setting="custody",
                                    rows_submitted=100, rows_valid=95, rows_rejected=5,
                                    cohort_key="k/c", programme_key="k/p", occurred_at=T0,
                                    received_at=T0),
              ev.CohortLinked(submission_id=sid, linked_key="k/l", n_linked=80,
                              attrition={"not_found": 15}, occurred_at=T0 + timedelta(seconds=5)),
              ev.ReportReady(submission_id=sid, report_keys={"pdf": keys.report_key(sid, "pdf")},
                             occurred_at=T0 + timedelta(seconds=9)),
              ev.PurgeRequested(submission_id=sid, trigger="report_ready",
                                occurred_at=T0 + timedelta(seconds=9)),
              ev.DataPurged(submission_id=sid, outcome="purged", objects_deleted=3,
                            versions_deleted=3, key_destroyed=True,
                            occurred_at=T0 + timedelta(seconds=10))]:
        rec = status.apply_event(rec, e)
    return rec


def test_what_the_projection_writes_reads_back_as_the_same_record():
    store, sid = MemoryStore(), ev.new_submission_id()
    rec = _finished(sid)
    status.write_status(store, rec)
    typed = status_records.read(store, sid)
    assert typed is not None and typed.document() == rec == status.read_status(store, sid)
    assert typed.state == "done" and typed.is_terminal and typed.is_purged
    assert typed.received_at == T0 and typed.terminal.state == "done"
    assert typed.purge_requested == "report_ready" and typed.counts["linked"] == 80
    # times are stored as the projection always wrote them
    assert json.loads(store.get(keys.status_key(sid)))["received_at"] == "2026-01-01T00:00:00+00:00"


@pytest.mark.parametrize("state, outcome, purged", [
    ("done", None, False), ("done", "purged", True), ("failed", "already_purged", True),
    ("refused", "unknown_submission", True), ("done", "unknown_submission", False)])
def test_purged_means_the_same_on_the_model_and_the_projection(state, outcome, purged):
    rec = dict(status.new_record(ev.new_submission_id(), "acme", T0, state=state),
               purge_outcome=outcome)
    assert status.is_purged(rec) is purged
    assert StatusRecord.model_validate(rec).is_purged is purged


@pytest.mark.parametrize("change", [{"state": "report_ready"}, {"state": "purged"},
                                    {"submission_id": "John Smith"}, {"surname": "Smith"},
                                    {"error": {"stage": "somewhere", "reason_code": "x", "reason": ""}}])
def test_a_record_outside_the_contract_is_not_stored(change):
    store = MemoryStore()
    rec = {**status.new_record(ev.new_submission_id(), "acme", T0), **change}
    with pytest.raises(ValidationError) as exc:
        status.write_status(store, rec)
    assert "Smith" not in str(exc.value)
    assert store.list(keys.STATUS) == []


def test_readers_skip_what_does_not_parse_and_read_old_minimal_records():
    store, now = MemoryStore(), T0 + timedelta(days=40)
    good, minimal, broken = (ev.new_submission_id() for _ in range(3))
    status.write_status(store, status.new_record(good, "acme", T0, state="failed"))
    store.put(keys.status_key(minimal), json.dumps(
        {"submission_id": minimal, "state": "linkage", "received_at": T0.isoformat()}).encode())
    store.put(keys.status_key(broken), b'{"submission_id": "' + broken.encode() + b'", "state": 7}')
    assert [r.submission_id for r in status_records.read_all(store)] == sorted([good, minimal])
    assert status_records.read(store, broken) is None and status.read_status(store, broken) is None
    need = submissions_requiring_certificate(store, retention_days=30, now=now)
    assert need == {good: "state failed", minimal: "older than 30 days retention"}


def test_the_cli_client_reads_the_api_status_as_a_status_view(api):  # noqa: F811
    client, _store, _sent = api
    sid = post(client, cohort_csv(80)[0]).json()["submission_id"]
    refused = post(client, b"not,a,cohort\n").json()["submission_id"]
    client.headers["Authorization"] = "Bearer t-acme"
    cli = Client("http://testserver", "t-acme")
    cli.http = client
    st = cli.status(sid)
    assert isinstance(st, StatusView) and st.state == "received" and st.is_open
    assert st.counts == {"rows_submitted": 80, "rows_valid": 80, "rows_rejected": 0}
    assert st.publication["state"] is None and st.age_seconds >= 0
    done = cli.wait(refused, timeout=1)
    assert done.state == "refused" and done.error is not None and done.error.stage == "intake"
