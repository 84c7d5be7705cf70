"""Benchmark of one reconciler pass over N status records (default 10,000), on the filesystem
store and on the local S3 server (moto). Target (issue 14): < 5 s filesystem, < 30 s S3.

The records are a steady state with a little to do: most submissions done and purged, some open
and moving, some stalled (re-driven from their markers) and some finished without a certificate
(purged and certified during the pass, which the timing includes).

    .venv/bin/python bench/bench_reconcile.py [--n 10000] [--stores filesystem,s3]
"""
from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

from jdl_events import events as ev
from jdl_infra.audit import AuditLog
from jdl_infra.crypto import KeyRing, MasterKey, generate_master_key, put_encrypted, submission_prefix
from jdl_infra.local import MotoS3Server
from jdl_infra.objectstore import FilesystemStore, ObjectStore, S3Store
from jdl_infra.stage import make_marker, marker_key
from services.purge.app import PurgePorts, handle_trigger
from services.purge.reconcile import ReconcileConfig, Reconciler

STALLED, UNPURGED, OPEN = 20, 20, 100


def record(sid: str, state: str, at: datetime, purged: bool) -> bytes:
    return json.dumps({"submission_id": sid, "org_id": "bench", "state": state,
                       "received_at": at.isoformat(), "updated_at": at.isoformat(),
                       "completed_at": at.isoformat() if state == "done" else None,
                       "purged": purged, "purge_outcome": "purged" if purged else None,
                       "certificate_key": None, "history": [], "counts": {}}).encode()


def populate(store: ObjectStore, n: int, now: datetime) -> list[str]:
    ring = KeyRing(store, MasterKey.from_base64(generate_master_key()))
    # the pass runs at now + 1000 s (markers carry the real time of writing): old and markers
    # are past the 900 s stall limit, fresh ones are not
    old, fresh = now - timedelta(hours=2), now + timedelta(seconds=500)
    jobs = []
    for i in range(n):
        sid = ev.new_submission_id()
        if i < STALLED:
            jobs.append((sid, "matching", old, False))
        elif i < STALLED + UNPURGED:
            jobs.append((sid, "done", old, False))
        elif i < STALLED + UNPURGED + OPEN:
            jobs.append((sid, "linkage", fresh, False))
        else:
            jobs.append((sid, "done", old, True))

    def put(job):  # type: ignore[no-untyped-def]
        sid, state, at, purged = job
        store.put(f"status/{sid}.json", record(sid, state, at, purged))
        if state == "matching":
            linked = ev.CohortLinked(submission_id=sid, linked_key=f"submissions/{sid}/l", n_linked=70)
            store.put(marker_key(sid, "linkage"), make_marker("linkage", [linked]))
        if state == "done" and not purged:
            ring.create_data_key(sid)
            put_encrypted(store, ring, sid, submission_prefix(sid) + "cohort.enc", b"x" * 2000)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, jobs))
    return [j[0] for j in jobs]


def run(store: ObjectStore, n: int) -> dict[str, float]:
    now = datetime.now(timezone.utc)
    t = time.perf_counter()
    populate(store, n, now)
    setup_s = time.perf_counter() - t
    ports = PurgePorts(store=store, keyring=KeyRing(store, None), audit=AuditLog(store), retention_days=30)

    def purge(sid, why):  # type: ignore[no-untyped-def]
        return handle_trigger(ev.PurgeRequested(submission_id=sid, trigger=why), ports)[0]

    rec = Reconciler(store, ports.audit, purge, ReconcileConfig(stall_seconds=900))
    t = time.perf_counter()
    result = rec.run(now + timedelta(seconds=1000))
    pass_s = time.perf_counter() - t
    assert result.records == n
    assert len(result.actions.get("redrive", [])) == STALLED, result.actions.keys()
    assert len(result.actions.get("purge_terminal", [])) == UNPURGED
    t = time.perf_counter()
    rec.run(now + timedelta(seconds=1001))                   # the next pass: nothing to purge
    second_s = time.perf_counter() - t
    return {"setup_s": setup_s, "pass_s": pass_s, "second_pass_s": second_s,
            "redriven": STALLED, "purged": UNPURGED}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=10_000, help="status records")
    ap.add_argument("--stores", default="filesystem,s3")
    args = ap.parse_args()
    for kind in args.stores.split(","):
        if kind == "filesystem":
            with tempfile.TemporaryDirectory() as d:
                figures = run(FilesystemStore(d), args.n)
        else:
            with MotoS3Server() as server:
                figures = run(S3Store(server.endpoint, f"bench-{uuid.uuid4().hex[:8]}", "b", "b"), args.n)
        print(f"{kind:10s} n={args.n} " + "  ".join(
            f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()))
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
