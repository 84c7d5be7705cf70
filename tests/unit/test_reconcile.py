"""The reconciler, from the store's own state: terminal submissions without a certificate purged,
lost data.purged re-sent, stalled submissions re-driven then failed and purged, orphans purged,
and nothing touched that is moving or was just finished."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from jdl_events import events as ev
from jdl_infra.audit import CERTIFICATE, AuditLog
from jdl_infra.crypto import KeyRing, MasterKey, generate_master_key, key_object, put_encrypted
from jdl_infra.objectstore import FilesystemStore
from jdl_pipeline.stage import event_id_for, make_marker, marker_key
from services.intake import status
from services.purge.handlers import PurgePorts, handle_trigger
from services.purge.reconcile import ReconcileConfig, Reconciler, attempts_key

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
CFG = ReconcileConfig(stall_seconds=120, max_redrives=2, orphan_grace_seconds=600,
                      terminal_grace_seconds=30)


@pytest.fixture
def world(tmp_path):
    store = FilesystemStore(tmp_path / "store")
    master = MasterKey.from_base64(generate_master_key())
    ring = KeyRing(store, master)
    ports = PurgePorts(store=store, keyring=KeyRing(store, None), audit=AuditLog(store), retention_days=30)
    purged: list[str] = []

    def purge(sid, why):
        purged.append(why)
        (out,) = handle_trigger(ev.PurgeRequested(submission_id=sid, trigger=why), ports)
        return out

    return store, ring, ports, Reconciler(store, ports.audit, purge, CFG), purged


def submission(store, ring, *, state="linkage", at=T0, data=True):
    sid = ev.new_submission_id()
    if data:
        ring.create_data_key(sid)
        put_encrypted(store, ring, sid, f"submissions/{sid}/cohort.parquet.enc", b"Quigglesworth 1980-02-29")
    rec = status.new_record(sid, "acme", at, state=state)
    if state in status.TERMINAL:
        rec["completed_at"] = rec["received_at"]
    status.write_status(store, rec)
    received = ev.SubmissionReceived(submission_id=sid, org_id="acme", setting="custody", rows_submitted=80,
                                     rows_valid=80, rows_rejected=0, cohort_key=f"submissions/{sid}/c",
                                     programme_key=f"submissions/{sid}/p", received_at=at, occurred_at=at)
    store.put(marker_key(sid, "intake"), make_marker("intake", [received]))
    return sid, received


def certificates(ports, sid):
    return [e for e in ports.audit.certificate_entries(sid) if e.entry_type == CERTIFICATE]


def test_terminal_without_certificate_is_purged_and_certified(world):
    store, ring, ports, rec, _ = world
    sid, _ = submission(store, ring, state="done")
    out = rec.run(T0 + timedelta(minutes=5))
    assert out.actions == {"purge_terminal": [sid]}
    (purged,) = out.events
    assert isinstance(purged, ev.DataPurged) and purged.outcome == "purged" and purged.key_destroyed
    assert store.list_versions(f"submissions/{sid}/") == [] and not store.exists(key_object(sid))
    assert len(certificates(ports, sid)) == 1
    # certified now, but the status has not heard (the event was lost): re-send, never re-purge
    again = rec.run(T0 + timedelta(minutes=10))
    assert again.actions == {"status_repair": [sid]} and len(certificates(ports, sid)) == 1
    assert again.events[0].certificate_key == purged.certificate_key
    assert again.events[0].event_id == rec.run(T0 + timedelta(minutes=11)).events[0].event_id
    # once the status records the purge, nothing more to do
    status.write_status(store, status.apply_event(status.read_status(store, sid), purged))
    assert rec.run(T0 + timedelta(minutes=12)).actions == {}


def test_a_just_finished_submission_is_left_to_the_purge_agent(world):
    store, ring, _, rec, purged = world
    submission(store, ring, state="failed")
    assert rec.run(T0 + timedelta(seconds=10)).actions == {} and purged == []


def test_refused_upload_is_certified_and_then_counts_as_purged(world):
    store, ring, ports, rec, _ = world
    sid, _ = submission(store, ring, state="refused", data=False)
    (purged,) = rec.run(T0 + timedelta(minutes=5)).events
    assert purged.outcome == "unknown_submission"
    after = status.apply_event(status.read_status(store, sid), purged)
    assert after["purged"] and status.queue_view([after], T0)["purge_pending"] == 0
    status.write_status(store, after)
    assert rec.run(T0 + timedelta(minutes=10)).actions == {}


def test_stalled_submission_is_re_driven_from_its_last_marker_then_failed_and_purged(world):
    store, ring, ports, rec, _ = world
    sid, received = submission(store, ring, state="linkage")
    assert rec.run(T0 + timedelta(seconds=60)).actions == {}          # still within stall_seconds
    linked = ev.CohortLinked(event_id=event_id_for(sid, "linkage", "cohort.linked"), submission_id=sid,
                             linked_key=f"submissions/{sid}/linked", n_linked=70)
    store.put(marker_key(sid, "linkage"), make_marker("linkage", [linked]))
    # the marker is newer than the status: the stage moved on, not stalled yet
    assert rec.run(datetime.now(timezone.utc) + timedelta(seconds=60)).actions == {}
    later = datetime.now(timezone.utc) + timedelta(seconds=200)
    for attempt in (1, 2):
        out = rec.run(later + timedelta(seconds=attempt))
        assert out.actions == {"redrive": [sid]}
        assert [e.event_id for e in out.events] == [linked.event_id]   # the recorded event, same id
        assert json.loads(store.get(attempts_key(sid)))["attempts"] == attempt
    out = rec.run(later + timedelta(seconds=3))
    assert out.actions == {"fail_stalled": [sid]}
    failed, purged = out.events
    assert isinstance(failed, ev.SubmissionFailed) and failed.stage == "matching"
    assert failed.reason_code == "stalled" and "no progress" in failed.reason
    assert purged.outcome == "purged" and len(certificates(ports, sid)) == 1
    assert store.list_versions(f"submissions/{sid}/") == [] and not store.exists(key_object(sid))
    # the next pass (events not yet applied) re-sends the same failure and does not purge again
    again = rec.run(later + timedelta(seconds=4))
    assert again.events[0].event_id == failed.event_id and len(certificates(ports, sid)) == 1


def test_progress_resets_the_re_drive_count(world):
    store, ring, _, rec, _ = world
    t0 = datetime.now(timezone.utc)                                # markers carry real times
    sid, _ = submission(store, ring, state="received", at=t0)
    assert rec.run(t0 + timedelta(seconds=200)).actions == {"redrive": [sid]}
    r = status.read_status(store, sid)
    r["updated_at"] = (t0 + timedelta(seconds=300)).isoformat()     # an event arrived since
    status.write_status(store, r)
    out = rec.run(t0 + timedelta(seconds=500))
    assert out.actions == {"redrive": [sid]}
    assert json.loads(store.get(attempts_key(sid)))["attempts"] == 1


def test_orphaned_objects_and_key_are_purged_after_the_grace_period(world):
    store, ring, ports, rec, purged = world
    sid = ev.new_submission_id()
    ring.create_data_key(sid)                                      # created "now" (real clock)
    put_encrypted(store, ring, sid, f"submissions/{sid}/cohort.parquet.enc", b"Quigglesworth")
    now = datetime.now(timezone.utc)
    assert rec.run(now + timedelta(seconds=60)).actions == {}      # an upload may still be writing
    out = rec.run(now + timedelta(seconds=700))
    assert out.actions == {"purge_orphan": [sid]} and out.events == [] and purged == ["orphan"]
    assert store.list_versions(f"submissions/{sid}/") == [] and not store.exists(key_object(sid))
    (cert,) = certificates(ports, sid)
    assert cert.payload["trigger"] == "orphan"
    assert rec.run(now + timedelta(seconds=800)).actions == {}


def test_settled_submissions_are_not_read_again_and_late_data_under_them_is_purged(world):
    store, ring, ports, rec, purged = world
    sid, _ = submission(store, ring, state="done")
    first = rec.run(T0 + timedelta(minutes=5))
    status.write_status(store, status.apply_event(status.read_status(store, sid), first.events[0]))
    assert rec.run(T0 + timedelta(minutes=6)).read == 1                 # read once more: settled
    fresh = Reconciler(store, ports.audit, rec.purge, CFG)              # another process
    out = fresh.run(T0 + timedelta(minutes=7))
    assert out.records == 1 and out.read == 0 and out.actions == {}
    # a late writer puts data under the purged id: purged again after the grace period
    store.put(f"submissions/{sid}/late.enc", b"ciphertext")
    now = datetime.now(timezone.utc)
    assert fresh.run(now).actions == {}
    assert fresh.run(now + timedelta(seconds=700)).actions == {"purge_orphan": [sid]}
    assert store.list_versions(f"submissions/{sid}/") == []
