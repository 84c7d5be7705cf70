"""Benchmark of reconciler passes over N status records (default 10,000), on the filesystem
store and on an S3 server (moto, run as its own process as a real server would be). Target
(issue 14): < 5 s filesystem, < 30 s S3.

The records are a steady state with a little to do: most submissions done and purged, some open
and moving, some stalled (re-driven from their markers) and a few finished without a
certificate (purged and certified during the first pass). Printed: the first (cold) pass, which
reads every record, and the time it spent purging; the next pass of the same process; a pass of
a new process (reads only the unsettled records, thanks to reconcile/settled.json).

    .venv/bin/python bench/bench_reconcile.py [--n 10000] [--stores filesystem,s3]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

from jdl_cli.tansu import free_port, wait_for_port
from jdl_events import events as ev
from jdl_infra.audit import AuditLog
from jdl_infra.crypto import KeyRing, MasterKey, generate_master_key, put_encrypted, submission_prefix
from jdl_infra.objectstore import FilesystemStore, ObjectStore, S3Store
from jdl_pipeline.stage import make_marker, marker_key
from services.purge.handlers import PurgePorts, handle_trigger
from services.purge.reconcile import ReconcileConfig, Reconciler

STALLED, UNPURGED, OPEN = 20, 5, 100


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
    assert result.records == n and result.read == n
    assert len(result.actions.get("redrive", [])) == STALLED, result.actions.keys()
    assert len(result.actions.get("purge_terminal", [])) == UNPURGED
    t = time.perf_counter()
    second = rec.run(now + timedelta(seconds=1001))          # the next pass: nothing to purge
    second_s = time.perf_counter() - t
    t = time.perf_counter()
    fresh = Reconciler(store, AuditLog(store), purge, ReconcileConfig(stall_seconds=900)).run(
        now + timedelta(seconds=1002))                       # a restarted purge service
    fresh_s = time.perf_counter() - t
    assert len(fresh.actions.get("redrive", [])) == STALLED
    return {"setup_s": setup_s, "cold_pass_s": pass_s, "of_which_purging_s": result.purge_seconds,
            "next_pass_s": second_s, "next_pass_read": second.read,
            "new_process_pass_s": fresh_s, "new_process_read": fresh.read,
            "redriven": STALLED, "purged": UNPURGED}


@contextlib.contextmanager
def moto_process():  # type: ignore[no-untyped-def]
    """moto's S3 server in its own process (in-process, it would share this one's GIL)."""
    port = free_port()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1",
                             "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
            with moto_process() as endpoint:
                figures = run(S3Store(endpoint, f"bench-{uuid.uuid4().hex[:8]}", "b", "b"), args.n)
                show(kind, args.n, figures)
            continue
        show(kind, args.n, figures)
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def show(kind: str, n: int, figures: dict) -> None:
    print(f"{kind:10s} n={n} " + "  ".join(
            f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()), flush=True)


if __name__ == "__main__":
    main()
