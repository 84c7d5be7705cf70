"""The hash-chained audit log and `jdl audit verify/show`, on the filesystem store and S3 (moto)."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from typer.testing import CliRunner

from jdl_cli.compliance import check_certificates, submissions_requiring_certificate
from jdl_cli.main import app as jdl
from jdl_events.events import new_submission_id
from jdl_infra.audit import (
    CERTIFICATE,
    GENESIS_HASH,
    PURGE_NOOP,
    AuditConflict,
    AuditError,
    AuditLog,
    canonical_json,
    entry_hash,
    entry_key,
)
from jdl_infra.crypto import KeyRing, MasterKey, generate_master_key, put_encrypted, submission_prefix
from jdl_infra.objectstore import FilesystemStore, MemoryStore, ObjectStore, S3Store
from services.purge.handlers import purge_submission

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)
runner = CliRunner()


def _fill(store: ObjectStore, n: int = 4) -> tuple[AuditLog, list[str]]:
    """n purged submissions, each with an encrypted object and a report."""
    master = MasterKey.from_base64(generate_master_key())
    log = AuditLog(store)
    sids = []
    for i in range(n):
        sid = new_submission_id()
        ring = KeyRing(store, master)
        ring.create_data_key(sid)
        put_encrypted(store, ring, sid, submission_prefix(sid) + "cohort.enc", b"rows")
        store.put(f"reports/{sid}/report.json", b"{}")
        purge_submission(store, KeyRing(store, None), log, sid, "report_ready",
                         now=T0 + timedelta(minutes=i))
        sids.append(sid)
    return log, sids


def test_entries_are_chained_and_hashed(store):
    log = AuditLog(store)
    a = log.append("note", {"b": 2, "a": [1, "x"]}, now=T0)
    b = log.append("note", {"n": 1}, now=T0)
    assert (a.seq, b.seq) == (1, 2)
    assert a.prev_hash == GENESIS_HASH and b.prev_hash == a.hash
    stored = json.loads(store.get(entry_key(1)))
    assert stored["hash"] == entry_hash(stored) == a.hash
    assert set(stored) == {"version", "seq", "prev_hash", "entry_type", "payload", "created_at",
                           "hash"}
    assert store.get(entry_key(1)) == canonical_json(stored)   # stored canonically
    report = log.verify()
    assert report.ok and report.entries == 2 and report.head_hash == b.hash
    # a second writer process continues the same chain
    c = AuditLog(store).append("note", {}, now=T0)
    assert c.seq == 3 and c.prev_hash == b.hash


def test_bad_entry_type_refused():
    with pytest.raises(AuditError, match="entry_type"):
        AuditLog(MemoryStore()).append("Certificate!", {})


def test_tampered_payload_is_named_by_seq(store):
    log, sids = _fill(store)
    body = json.loads(store.get(entry_key(2)))
    body["payload"]["objects_deleted"] = []          # hide what was deleted
    store.put(entry_key(2), json.dumps(body).encode())
    report = AuditLog(store).verify()
    assert not report.ok and report.first_bad_seq == 2
    kinds = {(p.kind, p.seq) for p in report.problems}
    assert ("hash_mismatch", 2) in kinds
    if isinstance(store, S3Store):
        assert ("rewritten", 2) in kinds              # the original version is still there
    assert "seq 2" in report.summary()


def test_tamper_with_recomputed_hash_breaks_the_next_link(store):
    _fill(store)
    body = json.loads(store.get(entry_key(2)))
    body["payload"]["trigger"] = "manual"
    body["hash"] = entry_hash(body)                  # a forger who recomputes the hash
    store.put(entry_key(2), canonical_json(body))
    report = AuditLog(store).verify()
    kinds = {(p.kind, p.seq) for p in report.problems}
    assert ("broken_link", 3) in kinds
    assert ("hash_mismatch", 2) not in kinds
    assert report.first_bad_seq == (2 if isinstance(store, S3Store) else 3)


def test_deleted_entry_is_a_gap(store):
    _fill(store)
    if isinstance(store, S3Store):
        store.client.remove_object(store.bucket, entry_key(3))
    else:
        (store.root / entry_key(3)).unlink()
    report = AuditLog(store).verify()
    assert not report.ok and report.first_bad_seq == 3
    gap = [p for p in report.problems if p.kind == "seq_gap"]
    assert len(gap) == 1 and gap[0].seq == 3 and "entry 3 is missing" in gap[0].detail
    if isinstance(store, S3Store):
        assert any(p.kind == "deleted" and p.seq == 3 for p in report.problems)


def test_truncated_tail_caught_by_anchor(tmp_path):
    store = FilesystemStore(tmp_path / "s")
    log, _ = _fill(store, 3)
    anchor = (3, log.verify().head_hash)
    assert log.verify(anchor=anchor).ok
    (store.root / entry_key(3)).unlink()              # truncation leaves a valid shorter chain
    assert AuditLog(store).verify().ok
    report = AuditLog(store).verify(anchor=anchor)
    assert [(p.kind, p.seq) for p in report.problems] == [("anchor_mismatch", 3)]


def test_unreadable_entry_is_named(tmp_path):
    store = FilesystemStore(tmp_path / "s")
    _fill(store, 3)
    store.put(entry_key(2), b"{not json")
    report = AuditLog(store).verify()
    assert [(p.kind, p.seq) for p in report.problems] == [("unreadable", 2)]


def test_invalid_certificate_payload_is_named(tmp_path):
    store = FilesystemStore(tmp_path / "s")
    log = AuditLog(store)
    log.append(CERTIFICATE, {"submission_id": "sub-0"}, now=T0)
    report = log.verify()
    assert [(p.kind, p.seq) for p in report.problems] == [("bad_certificate", 1)]


class _RacingStore(MemoryStore):
    """Another writer appends between our listing and our write (once)."""

    def __init__(self) -> None:
        super().__init__()
        self.raced = False

    def put_if_absent(self, key: str, data: bytes) -> bool:
        if key.startswith("audit/log/") and not self.raced:
            self.raced = True
            AuditLog(self).append("note", {"from": "other writer"}, now=T0)
        return super().put_if_absent(key, data)


def test_append_retries_after_a_concurrent_append():
    store = _RacingStore()
    log = AuditLog(store)
    mine = log.append("note", {"from": "me"}, now=T0)
    assert mine.seq == 2
    entries = AuditLog(store).entries()
    assert [e.payload["from"] for e in entries] == ["other writer", "me"]
    assert entries[1].prev_hash == entries[0].hash
    assert AuditLog(store).verify().ok


class _OverwritingStore(MemoryStore):
    """A store whose conditional create is not atomic: another writer overwrites our entry
    right after we create it."""

    def put_if_absent(self, key: str, data: bytes) -> bool:
        created = super().put_if_absent(key, data)
        if key.startswith("audit/log/"):
            super().put(key, data.replace(b"me", b"it"))
        return created


def test_append_detects_an_overwrite():
    with pytest.raises(AuditConflict, match="single writer"):
        AuditLog(_OverwritingStore()).append("note", {"from": "me"}, now=T0)


def test_certificate_lookup(store):
    log, sids = _fill(store, 2)
    purge_submission(store, KeyRing(store, None), log, sids[0], "manual", now=T0)   # a no-op
    certs = log.certificates()
    assert [(c.submission_id, c.outcome) for c in certs] == [
        (sids[0], "purged"), (sids[1], "purged"), (sids[0], "already_purged")]
    assert log.certificate(sids[0]).outcome == "purged"
    assert log.certificate(new_submission_id()) is None
    assert [e.entry_type for e in log.certificate_entries(sids[0])] == [CERTIFICATE, PURGE_NOOP]


def test_required_submissions_and_certificate_coverage():
    store = MemoryStore()
    now = datetime(2024, 6, 1, tzinfo=timezone.utc)
    log, [purged] = _fill(store, 1)
    done, failed, running, old = (new_submission_id() for _ in range(4))
    for sid, state, age in [(done, "done", 1), (failed, "failed", 1), (running, "matching", 2),
                            (old, "linkage", 31)]:
        store.put(f"status/{sid}.json", json.dumps(
            {"submission_id": sid, "state": state,
             "received_at": (now - timedelta(days=age)).isoformat()}).encode())
    need = submissions_requiring_certificate(store, retention_days=30, now=now)
    assert set(need) == {purged, done, failed, old}
    assert need[purged] == "report ready" and "retention" in need[old]
    problems = check_certificates(store, log, need)
    assert sorted((p.kind, p.submission_id) for p in problems) == sorted(
        ("missing_certificate", s) for s in (done, failed, old))
    # a certified submission that has data again is reported
    store.put(submission_prefix(purged) + "late.bin", b"x")
    assert ("residual_data", purged) in {(p.kind, p.submission_id)
                                         for p in check_certificates(store, log, [])}



def test_only_terminal_states_of_the_vocabulary_count_as_finished():
    store = MemoryStore()
    now = datetime(2024, 6, 1, tzinfo=timezone.utc)
    refused, stale_state, stage_key = (new_submission_id() for _ in range(3))
    # "report_ready" and a "stage" key were never written by the status projection
    for sid, record in [(refused, {"state": "refused"}), (stale_state, {"state": "report_ready"}),
                        (stage_key, {"stage": "done"})]:
        store.put(f"status/{sid}.json", json.dumps(
            {"submission_id": sid, "received_at": (now - timedelta(days=1)).isoformat(),
             **record}).encode())
    assert submissions_requiring_certificate(store, retention_days=30, now=now) == {
        refused: "state refused"}
    with pytest.raises(TypeError):      # the one retention setting is passed, never defaulted
        submissions_requiring_certificate(store)  # type: ignore[call-arg]


# -- CLI -------------------------------------------------------------------------------------
def _url(store: FilesystemStore) -> str:
    return f"file://{store.root}"


def test_cli_verify_ok_then_tampered(tmp_path):
    store = FilesystemStore(tmp_path / "s")
    _fill(store, 3)
    ok = runner.invoke(jdl, ["audit", "verify", "--store-url", _url(store)])
    assert ok.exit_code == 0, ok.output
    assert "audit log OK: 3 entries" in ok.output and "3 finished or expired" in ok.output
    anchor = ok.output.split("--anchor ")[1].split()[0]

    body = json.loads(store.get(entry_key(2)))
    body["payload"]["key_id_destroyed"] = "dk-ffffffffffffffff"
    store.put(entry_key(2), canonical_json(body))
    bad = runner.invoke(jdl, ["audit", "verify", "--store-url", _url(store)])
    assert bad.exit_code == 1
    assert f"FAIL entry seq 2 ({entry_key(2)}): hash_mismatch" in bad.output
    assert "first bad entry: seq 2" in bad.output

    as_json = runner.invoke(jdl, ["audit", "verify", "--store-url", _url(store), "--json",
                                  "--anchor", anchor])
    assert as_json.exit_code == 1
    doc = json.loads(as_json.output)
    assert doc["ok"] is False and doc["first_bad_seq"] == 2
    assert doc["problems"][0] == {"kind": "hash_mismatch", "seq": 2, "submission_id": None,
                                  "detail": doc["problems"][0]["detail"]}


def test_cli_verify_reports_missing_certificate(tmp_path):
    store = FilesystemStore(tmp_path / "s")
    _fill(store, 1)
    missing = new_submission_id()
    store.put(f"reports/{missing}/report.pdf", b"%PDF")
    res = runner.invoke(jdl, ["audit", "verify", "--store-url", _url(store)])
    assert res.exit_code == 1
    assert f"submission {missing}: missing_certificate" in res.output
    chain = runner.invoke(jdl, ["audit", "verify", "--store-url", _url(store), "--chain-only"])
    assert chain.exit_code == 0, chain.output


def test_cli_verify_uses_env_settings_and_s3(s3_server, monkeypatch):
    bucket = f"a-{uuid.uuid4().hex[:12]}"
    store = S3Store(s3_server.endpoint, bucket, "test", "test")
    _fill(store, 2)
    monkeypatch.setenv("JDL_STORE_URL", f"s3://{bucket}")
    monkeypatch.setenv("JDL_S3_ENDPOINT", s3_server.endpoint)
    res = runner.invoke(jdl, ["audit", "verify"])
    assert res.exit_code == 0, res.output
    assert "2 entries" in res.output
    store.client.remove_object(bucket, entry_key(1))
    res = runner.invoke(jdl, ["audit", "verify"])
    assert res.exit_code == 1 and "entry seq 1" in res.output


def test_cli_show(tmp_path):
    store = FilesystemStore(tmp_path / "s")
    log, [sid] = _fill(store, 1)
    purge_submission(store, KeyRing(store, None), log, sid, "retention", now=T0)
    res = runner.invoke(jdl, ["audit", "show", sid, "--store-url", _url(store)])
    assert res.exit_code == 0, res.output
    cert = log.certificate(sid)
    assert f"Deletion certificate for submission {sid}" in res.output
    assert "outcome           purged" in res.output
    assert f"{submission_prefix(sid)}cohort.enc  [1 version(s)" in res.output
    assert f"{cert.key_id_destroyed} destroyed" in res.output
    assert "verification      PASSED" in res.output
    assert "seq 2  purge_noop  already_purged" in res.output
    js = runner.invoke(jdl, ["audit", "show", sid, "--json", "--store-url", _url(store)])
    doc = json.loads(js.output)
    assert doc["purge_id"] == cert.purge_id and doc["audit_entry"]["seq"] == 1


def test_cli_show_errors(tmp_path):
    store = FilesystemStore(tmp_path / "s")
    res = runner.invoke(jdl, ["audit", "show", new_submission_id(), "--store-url", _url(store)])
    assert res.exit_code == 1 and "no deletion certificate" in res.output
    res = runner.invoke(jdl, ["audit", "show", "Jane Doe", "--store-url", _url(store)])
    assert res.exit_code == 2 and "not a submission id" in res.output and "Jane" not in res.output
    res = runner.invoke(jdl, ["audit", "verify", "--store-url", f"file://{tmp_path}/nope"])
    assert res.exit_code == 2 and "no such directory" in res.output
    res = runner.invoke(jdl, ["audit", "verify", "--store-url", _url(store), "--anchor", "x"])
    assert res.exit_code == 2 and "SEQ:HASH" in res.output


# -- unreadable entries ---------------------------------------------------------------------------
def test_unreadable_entry_is_named_and_purging_continues_past_it(store):
    """A corrupt entry in the middle: verify names it (CLI exits 1, no traceback); a freshly
    started purge service still lists certificates, purges and appends after it."""
    log, sids = _fill(store, 3)
    store.put(entry_key(2), b'{"seq": 2, "truncated')
    fresh_seen: list[int] = []
    fresh = AuditLog(store, on_unreadable=fresh_seen.append)    # a freshly started service
    assert [e.seq for e in fresh.entries()] == [1, 3]
    assert fresh.unreadable.keys() == {2} and fresh_seen == [2]
    assert fresh.certificate(sids[0]).outcome == "purged"

    master = MasterKey.from_base64(generate_master_key())
    sid = new_submission_id()
    KeyRing(store, master).create_data_key(sid)
    put_encrypted(store, KeyRing(store, master), sid, submission_prefix(sid) + "c.enc", b"rows")
    cert = purge_submission(store, KeyRing(store, None), fresh, sid, "failed", now=T0)
    assert cert.outcome == "purged" and store.list_versions(submission_prefix(sid)) == []
    assert fresh.entry_of(cert).seq == 4
    assert fresh_seen == [2]        # the hook fires once per entry, not on every read

    report = AuditLog(store).verify()
    kinds = {(p.kind, p.seq) for p in report.problems}
    # on the versioned bucket the overwrite that corrupted it is reported too
    assert kinds == ({("unreadable", 2)} if isinstance(store, FilesystemStore)
                     else {("unreadable", 2), ("rewritten", 2)})
    root = store.root.as_uri() if isinstance(store, FilesystemStore) else None
    if root:
        result = runner.invoke(jdl, ["audit", "verify", "--store-url", root, "--chain-only"])
        assert result.exit_code == 1
        assert "entry seq 2 (audit/log/000000000002.json): unreadable" in result.output
        assert "Traceback" not in result.output and result.exception is None or \
            isinstance(result.exception, SystemExit)


def test_append_after_an_unreadable_head_chains_to_its_bytes():
    store = MemoryStore()
    log = AuditLog(store)
    log.append("note", {"n": 1}, now=T0)
    store.put(entry_key(2), b"not json")
    fresh = AuditLog(store)
    after = fresh.append("note", {"n": 3}, now=T0)
    assert after.seq == 3
    import hashlib
    assert after.prev_hash == hashlib.sha256(b"not json").hexdigest()
    assert [(p.kind, p.seq) for p in fresh.verify().problems] == [("unreadable", 2)]


def test_purge_service_hook_raises_the_unreadable_gauge_and_still_purges():
    """The purge service's hook (services.purge.app) sets jdl_audit_unreadable_entries, the
    gauge behind the JdlAuditEntryUnreadable alert, and the purge goes through."""
    from prometheus_client import REGISTRY

    from jdl_events.events import PurgeRequested
    from services.purge.app import _unreadable_entry
    from services.purge.handlers import PurgePorts, handle_trigger

    store = MemoryStore()
    _fill(store, 2)
    store.put(entry_key(1), b"\x00garbage")
    audit = AuditLog(store, on_unreadable=lambda seq: _unreadable_entry(audit, seq))
    master = MasterKey.from_base64(generate_master_key())
    sid = new_submission_id()
    KeyRing(store, master).create_data_key(sid)
    put_encrypted(store, KeyRing(store, master), sid, submission_prefix(sid) + "c.enc", b"rows")
    ports = PurgePorts(store=store, keyring=KeyRing(store, None), audit=audit, retention_days=30)
    (purged,) = handle_trigger(PurgeRequested(submission_id=sid, trigger="manual"), ports)
    assert purged.outcome == "purged" and purged.certificate_key == entry_key(3)
    assert REGISTRY.get_sample_value("jdl_audit_unreadable_entries") == 1
    assert store.list_versions(submission_prefix(sid)) == []
