"""Two purge processes (real processes) append to one audit log at the same moment, on the
filesystem store and on the moto S3 server: no sequence number is ever written twice, the chain
verifies, and every purge is certified exactly once."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from jdl_events.events import new_submission_id
from jdl_infra.audit import CERTIFICATE, AuditLog
from jdl_infra.crypto import KeyRing, MasterKey, generate_master_key, put_encrypted, submission_prefix
from jdl_infra.objectstore import FilesystemStore, ObjectStore, S3Store

ROOT = Path(__file__).resolve().parents[2]
PER_WRITER_SUBMISSIONS = 4
PER_WRITER_NOTES = 16


@pytest.fixture(params=["filesystem", "s3", "s3-lease"])
def target(request, tmp_path) -> tuple[ObjectStore, str, dict[str, str], int, int]:
    """(store, url, env of the writers, submissions and notes per writer)."""
    if request.param == "filesystem":
        store = FilesystemStore(tmp_path / "store")
        return store, store.root.as_uri(), {}, PER_WRITER_SUBMISSIONS, PER_WRITER_NOTES
    server = request.getfixturevalue("s3_server")
    bucket = f"w-{uuid.uuid4().hex[:12]}"
    env = {"JDL_S3_ENDPOINT": server.endpoint}
    if request.param == "s3-lease":     # the fallback for endpoints ignoring If-None-Match
        env.update(JDL_S3_CONDITIONAL_WRITES="lease", AUDIT_WRITER_LEASE_SETTLE="0.1")
        return S3Store(server.endpoint, bucket, "test", "test"), f"s3://{bucket}", env, 2, 8
    return (S3Store(server.endpoint, bucket, "test", "test"), f"s3://{bucket}", env,
            PER_WRITER_SUBMISSIONS, PER_WRITER_NOTES)


def _submissions(store: ObjectStore, n: int) -> list[str]:
    master = MasterKey.from_base64(generate_master_key())
    ring = KeyRing(store, master)
    sids = []
    for _ in range(n):
        sid = new_submission_id()
        ring.create_data_key(sid)
        put_encrypted(store, ring, sid, submission_prefix(sid) + "cohort.enc", b"rows")
        sids.append(sid)
    return sids


def test_two_purge_processes_never_write_the_same_sequence(target, tmp_path):
    store, url, extra_env, n_subs, n_notes = target
    mine, theirs = _submissions(store, n_subs), _submissions(store, n_subs)
    env = {**os.environ, **extra_env}
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-m", "tests.service.audit_writer", url, str(go),
                               str(n_notes), *sids], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for sids in (mine, theirs)]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == b"ready", \
            (p.stderr.read().decode()[-2000:] if p.stderr else "")
    go.touch()                          # both are connected: start appending together
    for p in procs:
        _out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()[-2000:]

    log = AuditLog(store)
    entries = log.entries()
    expected = 2 * (n_subs + n_notes)
    assert [e.seq for e in entries] == list(range(1, expected + 1))
    # each seq was written exactly once (on the versioned bucket a second write would leave a
    # second version of the same key)
    versions = [k for k, _v in store.list_versions("audit/log/")]
    assert len(versions) == len(set(versions)) == expected
    report = log.verify()
    assert report.ok, [str(p) for p in report.problems]
    certified = [e.payload["submission_id"] for e in entries if e.entry_type == CERTIFICATE]
    assert sorted(certified) == sorted(mine + theirs)
    # the two writers really interleaved (otherwise this test proves nothing); under the lease
    # one writer may well take a run of seqs, and the test shows only that none is written twice
    if "JDL_S3_CONDITIONAL_WRITES" not in extra_env:
        writers = [e.payload["writer"] for e in entries if e.entry_type == "note"]
        switches = sum(a != b for a, b in zip(writers, writers[1:]))
        assert switches >= 2, writers
