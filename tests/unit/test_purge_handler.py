"""The purge handler: every version deleted, key destroyed, verified, certified exactly once,
resumable after a crash at any step; no-ops recorded; the retention sweep's choice."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from jdl_events.events import DataPurged, new_submission_id
from jdl_infra.audit import CERTIFICATE, PURGE_NOOP, AuditLog
from jdl_infra.crypto import (
    DataKeyDestroyed,
    KeyRing,
    MasterKey,
    generate_master_key,
    get_encrypted,
    key_object,
    put_encrypted,
    submission_prefix,
)
from jdl_infra.objectstore import DeleteReport, MemoryStore, ObjectStore, S3Store
from services.purge.handlers import PurgeIncomplete, marker_key, purge_submission, retention_due_at, sweep_due

NAME = "Bartholomew Quigglesworth"
PNC = "2001/0000123Z"
COHORT = f"pnc,name,dob\n{PNC},{NAME},1980-02-29\n".encode()
T0 = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def master() -> MasterKey:
    return MasterKey.from_base64(generate_master_key())


def _submit(store: ObjectStore, master: MasterKey) -> tuple[str, list[str]]:
    """A submission as the services leave it: encrypted cohort (written twice), linked ids, and
    an aggregate report outside the data prefix (which purge must keep)."""
    sid = new_submission_id()
    ring = KeyRing(store, master)
    ring.create_data_key(sid)
    keys = [submission_prefix(sid) + "upload/cohort.csv.enc", submission_prefix(sid) + "linked.enc"]
    put_encrypted(store, ring, sid, keys[0], COHORT)
    put_encrypted(store, ring, sid, keys[0], COHORT + b"#v2")   # a second version on S3
    put_encrypted(store, ring, sid, keys[1], COHORT)
    store.put(f"reports/{sid}/report.json", b'{"n_treated": 120}')
    return sid, keys


class SimulatedCrash(Exception):
    pass


class CrashingStore:
    """Delegates to a real store and raises SimulatedCrash right AFTER the n-th call of one
    method whose key starts with a prefix, as if the process died between two steps."""

    def __init__(self, inner: ObjectStore, method: str, prefix: str, nth: int = 1) -> None:
        self.inner, self.method, self.prefix, self.remaining = inner, method, prefix, nth

    def __getattr__(self, name: str):
        real = getattr(self.inner, name)
        if name != self.method:
            return real

        def wrapped(key: str, *args):
            result = real(key, *args)
            if key.startswith(self.prefix):
                self.remaining -= 1
                if self.remaining == 0:
                    raise SimulatedCrash(f"crash after {name}({key})")
            return result
        return wrapped


def test_purge_deletes_every_version_and_destroys_the_key(store, master):
    sid, keys = _submit(store, master)
    backup = store.get(keys[0])
    if isinstance(store, S3Store):
        # a plain delete (as a careless tool would do) leaves old versions and a delete marker
        store.client.remove_object(store.bucket, keys[1])
        assert keys[1] not in store.list(submission_prefix(sid))
    before = store.list_versions(submission_prefix(sid))
    # S3: cohort v1 and v2, linked v1 and its delete marker
    assert len(before) == (4 if isinstance(store, S3Store) else 2)
    key_id = KeyRing(store, master).key_id(sid)

    audit = AuditLog(store)
    cert = purge_submission(store, KeyRing(store, None), audit, sid, "report_ready",
                            due_at=T0, now=T0 + timedelta(seconds=3))

    assert store.list_versions(submission_prefix(sid)) == []
    assert store.list_versions(key_object(sid)) == []
    assert cert.outcome == "purged" and cert.attempts == 1
    assert cert.key_id_destroyed == key_id
    assert set(cert.objects_deleted) == set(keys)
    assert sorted((v.key, v.version_id) for v in cert.versions_deleted) == sorted(before)
    assert cert.verification.passed and cert.verification.remaining_versions == 0
    assert cert.lag_seconds == 3.0
    assert store.get(f"reports/{sid}/report.json") == b'{"n_treated": 120}'   # aggregates kept
    assert not store.exists(marker_key(sid))
    # the backup copy taken before purge is now unreadable
    with pytest.raises(DataKeyDestroyed):
        KeyRing(store, master).decrypt(sid, backup, aad=keys[0])
    entries = audit.entries()
    assert [e.entry_type for e in entries] == [CERTIFICATE]
    assert audit.entry_of(cert) == entries[0]
    assert audit.certificate(sid) == cert
    assert audit.verify().ok


CRASH_POINTS = [
    # (method, key prefix, nth call): the step after which the process dies
    ("put", "purges/", 1),            # marker written, nothing deleted yet
    ("delete_prefix", "submissions/", 1),   # objects deleted, key not destroyed
    ("delete_prefix", "keys/", 1),    # key destroyed, not certified
    ("put_if_absent", "audit/log/", 1),   # certified, marker not removed
]


@pytest.mark.parametrize("method, prefix, nth", CRASH_POINTS,
                         ids=["after-marker", "after-delete", "after-key", "after-certify"])
def test_interrupted_purge_retried_certifies_once(store, master, method, prefix, nth):
    sid, keys = _submit(store, master)
    planted = store.list_versions(submission_prefix(sid))
    key_id = KeyRing(store, master).key_id(sid)
    crashing = CrashingStore(store, method, prefix, nth)
    with pytest.raises(SimulatedCrash):
        purge_submission(crashing, KeyRing(crashing, None), AuditLog(crashing), sid, "failed",
                         now=T0)

    # the retry: a new process (fresh AuditLog cache, fresh key ring)
    audit = AuditLog(store)
    cert = purge_submission(store, KeyRing(store, None), audit, sid, "failed",
                            now=T0 + timedelta(minutes=1))

    certificates = [e for e in audit.entries() if e.entry_type == CERTIFICATE]
    assert len(certificates) == 1
    original = certificates[0].certificate()
    assert original is not None
    assert set(original.objects_deleted) == set(keys)
    assert sorted((v.key, v.version_id) for v in original.versions_deleted) == sorted(planted)
    assert original.key_id_destroyed == key_id
    assert original.verification.passed
    assert original.requested_at == T0      # the first request, kept through the retry
    if method == "put_if_absent" and prefix == "audit/log/":
        assert cert.outcome == "already_purged"
        assert cert.previous_certificate_seq == certificates[0].seq
        assert [e.entry_type for e in audit.entries()] == [CERTIFICATE, PURGE_NOOP]
    else:
        assert cert == original and cert.attempts == 2
    assert store.list_versions(submission_prefix(sid)) == []
    assert store.list_versions(key_object(sid)) == []
    assert store.list_versions(f"purges/{sid}/") == []
    assert audit.verify().ok


def test_repeat_purge_is_a_recorded_noop(store, master):
    sid, _ = _submit(store, master)
    audit = AuditLog(store)
    first = purge_submission(store, KeyRing(store, None), audit, sid, "report_ready", now=T0)
    again = purge_submission(store, KeyRing(store, None), audit, sid, "retention",
                             now=T0 + timedelta(days=30))
    assert again.outcome == "already_purged"
    assert again.objects_deleted == [] and again.key_id_destroyed is None
    assert again.verification.passed
    entries = audit.entries()
    assert [e.entry_type for e in entries] == [CERTIFICATE, PURGE_NOOP]
    assert again.previous_certificate_seq == entries[0].seq
    assert audit.certificate(sid) == first     # the certificate is still the one that deleted
    assert audit.entry_of(again) == entries[1]


def test_unknown_submission_is_a_recorded_noop(store):
    audit = AuditLog(store)
    sid = new_submission_id()
    cert = purge_submission(store, KeyRing(store, None), audit, sid, "manual", now=T0)
    assert cert.outcome == "unknown_submission"
    assert cert.objects_deleted == [] and cert.previous_certificate_seq is None
    [entry] = audit.entries()
    assert entry.entry_type == PURGE_NOOP
    assert entry.certificate() == cert
    assert audit.certificate(sid) == cert


def test_key_without_objects_is_purged_not_unknown(store, master):
    # intake created the key, then failed before storing the cohort
    sid = new_submission_id()
    key_id = KeyRing(store, master).create_data_key(sid)
    cert = purge_submission(store, KeyRing(store, None), AuditLog(store), sid, "refused", now=T0)
    assert cert.outcome == "purged" and cert.key_id_destroyed == key_id
    assert cert.objects_deleted == []
    assert not KeyRing(store, None).exists(sid)


def test_late_writer_residue_after_certificate_is_purged_and_certified_again(store, master):
    sid, _ = _submit(store, master)
    audit = AuditLog(store)
    purge_submission(store, KeyRing(store, None), audit, sid, "failed", now=T0)
    # a stage that missed the purge writes a plaintext file (it cannot write encrypted any more)
    late = submission_prefix(sid) + "late/debug.txt"
    store.put(late, b"counts only")
    cert = purge_submission(store, KeyRing(store, None), audit, sid, "retention", now=T0)
    assert cert.outcome == "purged" and cert.objects_deleted == [late]
    assert cert.previous_certificate_seq == audit.entries()[0].seq
    assert store.list_versions(submission_prefix(sid)) == []


def test_certificate_and_audit_log_hold_no_personal_data(store, master):
    sid, _ = _submit(store, master)
    # a stage that (wrongly) wrote plaintext personal data under the prefix
    store.put(submission_prefix(sid) + "tmp/plain.csv", COHORT)
    assert NAME.encode() in b"".join(store.get(k) for k in store.list())   # the scan can see it
    audit = AuditLog(store)
    cert = purge_submission(store, KeyRing(store, None), audit, sid, "report_ready", now=T0)
    assert NAME not in cert.model_dump_json() and PNC not in cert.model_dump_json()
    every_byte = b"".join(store.get(k) for k in store.list())
    assert audit.entries() and every_byte      # the scan saw the log and the report
    for secret in (NAME.encode(), PNC.encode(), b"1980-02-29"):
        assert secret not in every_byte


class _StuckStore(MemoryStore):
    """A store whose deletes silently do nothing (a broken backend)."""

    def delete_prefix(self, prefix: str) -> DeleteReport:
        if prefix.startswith("submissions/"):
            return DeleteReport()
        return super().delete_prefix(prefix)


def test_incomplete_purge_raises_and_certifies_nothing():
    store = _StuckStore()
    master = MasterKey.from_base64(generate_master_key())
    sid, _ = _submit(store, master)
    audit = AuditLog(store)
    with pytest.raises(PurgeIncomplete, match="remain after deleting") as exc:
        purge_submission(store, KeyRing(store, None), audit, sid, "failed", now=T0)
    assert NAME not in str(exc.value)
    assert audit.entries() == []
    assert store.exists(marker_key(sid))          # the retry (or the sweep) picks it up


def test_encrypted_objects_readable_until_purge(store, master):
    sid, keys = _submit(store, master)
    assert get_encrypted(store, KeyRing(store, master), sid, keys[1]) == COHORT


# -- retention sweep -------------------------------------------------------------------------
def test_sweep_picks_overdue_uncertified_submissions_whatever_their_state():
    store = MemoryStore()
    master = MasterKey.from_base64(generate_master_key())
    now = datetime(2024, 6, 1, tzinfo=timezone.utc)
    stuck, _ = _submit(store, master)          # stuck in matching for 40 days
    recent, _ = _submit(store, master)         # 10 days old: not yet due
    done, _ = _submit(store, master)           # purged already
    older = new_submission_id()                # 50 days, refused, nothing stored, never purged
    audit = AuditLog(store)
    purge_submission(store, KeyRing(store, None), audit, done, "report_ready", now=now)
    statuses = [
        (stuck, now - timedelta(days=40), "matching"),
        (recent, now - timedelta(days=10), "linkage"),
        (done, now - timedelta(days=45), "done"),
        (older, (now - timedelta(days=50)).replace(tzinfo=None), "refused"),   # naive = UTC
    ]
    assert sweep_due(store, statuses, 30, now) == [older, stuck]
    # after purging them, nothing is due
    for sid in (older, stuck):
        purge_submission(store, KeyRing(store, None), audit, sid, "retention", now=now)
    assert sweep_due(store, statuses, 30, now) == []
    assert retention_due_at(statuses[0][1], 30) == now - timedelta(days=10)


def test_sweep_finds_orphan_keys_and_interrupted_purges(store, master, monkeypatch):
    now = datetime.now(timezone.utc)
    orphan, _ = _submit(store, master)        # the status table forgot it
    interrupted, _ = _submit(store, master)
    crashing = CrashingStore(store, "delete_prefix", "submissions/", 1)
    with pytest.raises(SimulatedCrash):
        purge_submission(crashing, KeyRing(crashing, None), AuditLog(crashing), interrupted,
                         "report_ready", due_at=now - timedelta(minutes=5))
    # the orphan's key is 'created' 31 days ago; nothing in the status table
    assert sweep_due(store, [], 30, now) == [interrupted]
    assert sweep_due(store, [], 30, now + timedelta(days=31)) == [interrupted, orphan]


def test_sweep_repurges_certified_submission_with_residue():
    store = MemoryStore()
    master = MasterKey.from_base64(generate_master_key())
    now = datetime(2024, 6, 1, tzinfo=timezone.utc)
    sid, _ = _submit(store, master)
    purge_submission(store, KeyRing(store, None), AuditLog(store), sid, "failed", now=now)
    statuses = [(sid, now - timedelta(days=31), "failed")]
    assert sweep_due(store, statuses, 30, now) == []
    store.put(submission_prefix(sid) + "late.bin", b"x")
    assert sweep_due(store, statuses, 30, now) == [sid]


def test_service_sweep_purges_a_submission_stuck_in_matching(store, master):
    """The purge service's own sweep and trigger handler, on the filesystem and the local S3
    server: a submission stuck in matching past the retention limit is purged and certified."""
    from jdl_events import events as ev
    from services.intake import status
    from services.purge.handlers import PurgePorts, handle_trigger, sweep

    now = datetime.now(timezone.utc)
    stuck, _ = _submit(store, master)
    fresh, _ = _submit(store, master)
    for sid, age in ((stuck, timedelta(days=40)), (fresh, timedelta(days=2))):
        at = now - age
        rec = status.apply_event(None, ev.SubmissionReceived(
            submission_id=sid, org_id="acme", setting="custody", rows_submitted=100, rows_valid=100,
            rows_rejected=0, cohort_key=f"submissions/{sid}/cohort.enc",
            programme_key=f"submissions/{sid}/programme.json", occurred_at=at, received_at=at))
        rec = status.apply_event(rec, ev.CohortLinked(submission_id=sid, linked_key="k/l", n_linked=90,
                                                      attrition={}, occurred_at=at))
        assert rec["state"] == "matching"
        status.write_status(store, rec)
    audit = AuditLog(store)
    ports = PurgePorts(store=store, keyring=KeyRing(store, None), audit=audit, retention_days=30,
                       clock=lambda: now)

    requests = sweep(ports)
    assert [r.submission_id for r in requests] == [stuck]
    assert requests[0].trigger == "retention" and requests[0].due_at < now - timedelta(days=9)
    (purged,) = handle_trigger(requests[0], ports)
    assert isinstance(purged, DataPurged) and purged.outcome == "purged" and purged.key_destroyed
    assert store.list_versions(submission_prefix(stuck)) == []
    assert not store.exists(key_object(stuck))
    assert store.list_versions(submission_prefix(fresh)) != []      # not yet due: untouched
    assert [(e.entry_type, e.payload["submission_id"]) for e in audit.entries()] == [(CERTIFICATE, stuck)]
    assert sweep(ports) == []                                       # certified: not due again
