"""Benchmark of the periodic summary: HTML and PDF (table + three forest plots) for N published
reports, target < 20 s for 200; and the catalogue read that first moves publication records on.

    .venv/bin/python bench/bench_summary.py [--reports 200] [--repeats 3]

Prints wall and CPU time per format, output sizes and peak RSS, and the time of
`publish_due` + catalogue listing over N publication records in an in-memory store.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import time
from datetime import datetime, timedelta, timezone

from jdl_report.summary import parse_period, summary_html, summary_pdf
from jdl_report.summary_examples import example_entries

TARGET_S = 20.0


def _timed(fn, *args, **kw):  # type: ignore[no-untyped-def]
    w, c = time.perf_counter(), time.process_time()
    out = fn(*args, **kw)
    return out, time.perf_counter() - w, time.process_time() - c


def bench_catalogue(n: int) -> tuple[float, int]:
    """publish_due over n records (all due) then the catalogue listing, in an in-memory store."""
    from jdl_infra import publication as pub
    from jdl_infra.objectstore import MemoryStore
    from jdl_report.publication import PublicationPolicy, start_review

    store, policy = MemoryStore(), PublicationPolicy()
    ready = datetime(2026, 9, 1, 10, tzinfo=timezone.utc)
    for e in example_entries(n, seed=5):
        store.put(pub.entry_key(e.submission_id), e.model_dump_json().encode())
        pub.write(store, start_review(e.submission_id, ready, policy))
    t = time.perf_counter()
    pub.publish_due(store, ready + timedelta(days=120), policy)
    listed = len(pub.catalogue_entries(store))
    return time.perf_counter() - t, listed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reports", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    entries = example_entries(args.reports, seed=7)
    period = parse_period("2026Q4")
    counts = {"withdrawn": 3, "refused": 2}
    print(f"summary of {args.reports} reports published in {period.label}")
    worst = 0.0
    for name, fn in (("html", summary_html), ("pdf", summary_pdf)):
        walls, cpus, size = [], [], 0
        for _ in range(args.repeats):
            out, w, c = _timed(fn, entries, period, counts=counts)
            walls.append(w)
            cpus.append(c)
            size = len(out)
        worst = max(worst, max(walls))
        print(f"  {name:<5} wall median {statistics.median(walls):.2f} s (max {max(walls):.2f}), "
              f"cpu median {statistics.median(cpus):.2f} s, {size / 1024:.0f} KiB")
    t, listed = bench_catalogue(args.reports)
    print(f"  publish_due + catalogue listing of {args.reports} records: {t:.2f} s ({listed} listed)")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak RSS {rss:.0f} MiB")
    ok = worst < TARGET_S
    print(f"  target < {TARGET_S:.0f} s per summary: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
