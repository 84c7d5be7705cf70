"""Pipeline benchmark on the embedded runtime: POST -> report ready for a 1,000-person cohort
against the default national dataset (time by stage), throughput for 20 submissions posted at
once, and resident memory of the broker and workers.

    .venv/bin/python bench/bench_pipeline.py [--size 1000] [--burst 20] [--var var/bench]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx
import psutil

from jdl_cli.pipeline_cmd import demo_programme
from jdl_core.national import load_national
from jdl_core.synth.cohort import sample_cohort, write_cohort
from jdl_cli.runtime import EmbeddedRuntime


def post(rt: EmbeddedRuntime, path: Path) -> str:
    with path.open("rb") as f:
        r = httpx.post(f"{rt.api_url}/v1/submissions", files={"file": (path.name, f)},
                       data={"programme": json.dumps(demo_programme("custody"))},
                       headers={"Authorization": f"Bearer {rt.tokens['demo-org']}"}, timeout=120)
    r.raise_for_status()
    return r.json()["submission_id"]


def wait(rt: EmbeddedRuntime, sid: str, timeout: float = 900) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = httpx.get(f"{rt.api_url}/v1/submissions/{sid}",
                       headers={"Authorization": f"Bearer {rt.tokens['demo-org']}"}).json()
        if st["state"] in ("done", "failed"):
            return st
        time.sleep(0.2)
    raise TimeoutError(sid)


def stage_times(st: dict) -> dict[str, float]:
    at = {s["event"]: datetime.fromisoformat(s["at"]) for s in st["stages"]}
    t0 = datetime.fromisoformat(st["received_at"])
    order = [("linkage", "submission.received", "cohort.linked"), ("matching", "cohort.linked", "control.matched"),
             ("reporting", "control.matched", "report.ready")]
    out = {"intake->queued": (at["submission.received"] - t0).total_seconds()}
    for name, a, b in order:
        if a in at and b in at:
            out[name] = (at[b] - at[a]).total_seconds()
    return out


def rss_mb(rt: EmbeddedRuntime) -> dict[str, float]:
    out = {}
    if rt.broker and rt.broker.proc:
        out["broker"] = psutil.Process(rt.broker.proc.pid).memory_info().rss / 2**20
    for p in rt.procs:
        try:
            proc = psutil.Process(p.popen.pid)
            out[p.name] = sum(c.memory_info().rss for c in [proc, *proc.children(recursive=True)]) / 2**20
        except psutil.NoSuchProcess:
            pass
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=1000)
    ap.add_argument("--burst", type=int, default=20)
    ap.add_argument("--burst-size", type=int, default=300)
    ap.add_argument("--var", type=Path, default=Path("var/bench"))
    ap.add_argument("--people", type=int, default=100_000)
    args = ap.parse_args()
    t = time.perf_counter()
    with EmbeddedRuntime(var_dir=args.var, people=args.people, quiet=False) as rt:
        print(f"runtime up in {time.perf_counter() - t:.1f} s")
        national = load_national(rt.data_dir)
        cohort_dir = rt.var_dir / "bench"
        cohort_dir.mkdir(parents=True, exist_ok=True)
        path = cohort_dir / "cohort-1000.csv"
        write_cohort(sample_cohort(national, size=args.size, setting="custody", selection="higher-risk", seed=3)[0], path)
        # warm-up: first request loads the national data into each worker
        wait(rt, post(rt, path))
        t0 = time.perf_counter()
        st = wait(rt, post(rt, path))
        total = time.perf_counter() - t0
        print(f"\n{args.size}-person cohort: POST -> report ready {total:.1f} s (state {st['state']})")
        for k, v in stage_times(st).items():
            print(f"  {k:<16} {v:6.2f} s")
        paths = []
        for i in range(args.burst):
            p = cohort_dir / f"burst-{i}.csv"
            write_cohort(sample_cohort(national, size=args.burst_size, setting="custody",
                                       selection="random", seed=100 + i)[0], p)
            paths.append(p)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.burst) as pool:
            sids = list(pool.map(lambda p: post(rt, p), paths))
        posted = time.perf_counter() - t0
        results = [wait(rt, s) for s in sids]
        elapsed = time.perf_counter() - t0
        done = sum(r["state"] == "done" for r in results)
        print(f"\n{args.burst} submissions of {args.burst_size} posted at once: all POSTs answered in "
              f"{posted:.1f} s; {done} done, {args.burst - done} failed in {elapsed:.1f} s "
              f"({args.burst / elapsed * 60:.1f} submissions/minute)")
        print("\nresident memory (MiB):")
        for k, v in rss_mb(rt).items():
            print(f"  {k:<12} {v:8.1f}")
    sys.exit(0)


if __name__ == "__main__":
    main()
