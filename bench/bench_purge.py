"""Benchmark of purge and audit verification: time per purge and to verify an N-entry audit log,
on the filesystem store and on the local S3 server (moto).

    .venv/bin/python bench/bench_purge.py [--n 30] [--stores filesystem,s3]
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # tests/ (the moto S3 server)

from jdl_events.events import new_submission_id
from jdl_infra.audit import AuditLog
from jdl_infra.crypto import KeyRing, MasterKey, generate_master_key, put_encrypted, submission_prefix
from jdl_infra.objectstore import FilesystemStore, ObjectStore, S3Store
from services.purge.handlers import purge_submission
from tests.moto_s3 import MotoS3Server

PAYLOAD = b"x" * 20_000    # a small encrypted parquet cohort (moto keeps every version in memory)


def run(store: ObjectStore, n: int) -> dict[str, float]:
    master = MasterKey.from_base64(generate_master_key())
    writer, purger, log = KeyRing(store, master), KeyRing(store, None), AuditLog(store)
    sids = []
    t = time.perf_counter()
    for _ in range(n):
        sid = new_submission_id()
        writer.create_data_key(sid)
        for name in ("cohort.enc", "linked.enc", "matched.enc"):
            put_encrypted(store, writer, sid, submission_prefix(sid) + name, PAYLOAD)
        sids.append(sid)
    write_s = time.perf_counter() - t
    t = time.perf_counter()
    for sid in sids:
        purge_submission(store, purger, log, sid, "report_ready")
    purge_s = time.perf_counter() - t
    t = time.perf_counter()
    report = AuditLog(store).verify()
    verify_s = time.perf_counter() - t
    assert report.ok and report.entries == n
    return {"write_ms_per_submission": 1000 * write_s / n, "purge_ms_per_submission": 1000 * purge_s / n,
            "verify_s": verify_s, "verify_ms_per_entry": 1000 * verify_s / n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=30, help="submissions to write and purge")
    ap.add_argument("--stores", default="filesystem,s3")
    args = ap.parse_args()
    for kind in args.stores.split(","):
        if kind == "filesystem":
            with tempfile.TemporaryDirectory() as d:
                figures = run(FilesystemStore(d), args.n)
        else:
            with MotoS3Server() as server:
                figures = run(S3Store(server.endpoint, f"bench-{uuid.uuid4().hex[:8]}", "b", "b"), args.n)
        print(f"{kind:10s} n={args.n} " + "  ".join(f"{k}={v:.2f}" for k, v in figures.items()))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
