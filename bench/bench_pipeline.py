"""Pipeline benchmark on the embedded runtime: POST -> report ready for a 1,000-person cohort
against the national dataset (time by stage), throughput for 20 submissions posted at once, and
the memory of every process: resident (RSS), proportional (PSS: pages shared by several
processes, such as the memory-mapped national columns, divided between them, so the PSS sum is
what the service really occupies) and private (USS), each with their sum.

    .venv/bin/python bench/bench_pipeline.py [--size 1000] [--burst 20] [--var var/bench]
                                             [--people 100000] [--data DIR]

National scale (issue 17): ``--people 5000000 --burst 0`` (about 11 million index events;
generated into VAR/data/national-5000000 on first run, or give ``--data`` for an existing one).
Cohorts are drawn in a child process so that the supervisor's figure is the runtime's alone.
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
from jdl_cli.runtime import EmbeddedRuntime
from jdl_core.synth.cohort import sample_cohort, write_cohort


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


def memory_mib(rt: EmbeddedRuntime) -> dict[str, tuple[float, float, float]]:
    """(RSS, PSS, USS) in MiB of the supervisor, the broker and each worker (with children)."""
    procs = {"supervisor": psutil.Process()}
    if rt.broker and rt.broker.proc:
        procs["broker"] = psutil.Process(rt.broker.proc.pid)
    for p in rt.procs:
        procs[p.name] = psutil.Process(p.popen.pid)
    out = {}
    for name, proc in procs.items():
        try:
            family = [proc] if name == "supervisor" else [proc, *proc.children(recursive=True)]
            infos = [c.memory_full_info() for c in family]
        except psutil.NoSuchProcess:
            continue
        out[name] = tuple(sum(getattr(i, f) for i in infos) / 2**20 for f in ("rss", "pss", "uss"))
    return out


def print_memory(rt: EmbeddedRuntime, when: str) -> None:
    mem = memory_mib(rt)
    print(f"\nmemory {when} (MiB):      RSS      PSS      USS")
    for k, (rss, pss, uss) in mem.items():
        print(f"  {k:<14} {rss:9.0f} {pss:8.0f} {uss:8.0f}")
    total = [sum(v[i] for v in mem.values()) for i in range(3)]
    print(f"  {'sum':<14} {total[0]:9.0f} {total[1]:8.0f} {total[2]:8.0f}   "
          f"(PSS sum {total[1] / 1024:.2f} GiB; RSS sum counts shared pages once per process)")


def draw_cohort(data_dir: str, size: int, selection: str, seed: int, path: str) -> None:
    """Runs in a child process: sampling a cohort reads the whole national dataset."""
    from jdl_core.national import load_national

    national = load_national(data_dir)
    write_cohort(sample_cohort(national, size=size, setting="custody", selection=selection,
                               seed=seed)[0], Path(path), overwrite=True)


def draw_cohorts(data_dir: Path, jobs: list[tuple[int, str, int, Path]]) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        for size, selection, seed, path in jobs:
            pool.submit(draw_cohort, str(data_dir), size, selection, seed, str(path)).result()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=1000)
    ap.add_argument("--burst", type=int, default=20, help="submissions posted at once (0: none)")
    ap.add_argument("--burst-size", type=int, default=300)
    ap.add_argument("--var", type=Path, default=Path("var/bench"))
    ap.add_argument("--people", type=int, default=100_000)
    ap.add_argument("--data", type=Path, default=None, help="an existing national dataset")
    args = ap.parse_args()
    t = time.perf_counter()
    with EmbeddedRuntime(var_dir=args.var, people=args.people, data_dir=args.data,
                         quiet=False) as rt:
        print(f"runtime up in {time.perf_counter() - t:.1f} s")
        cohort_dir = rt.var_dir / "bench"
        cohort_dir.mkdir(parents=True, exist_ok=True)
        path = cohort_dir / f"cohort-{args.size}.csv"
        bursts = [(args.burst_size, "random", 100 + i, cohort_dir / f"burst-{i}.csv")
                  for i in range(args.burst)]
        draw_cohorts(rt.data_dir, [(args.size, "higher-risk", 3, path), *bursts])
        print_memory(rt, "with the service idle")
        # warm-up: the first request builds each worker's per-process state (DuckDB tables)
        t0 = time.perf_counter()
        st = wait(rt, post(rt, path))
        print(f"\nfirst (warm-up) submission: POST -> report ready {time.perf_counter() - t0:.1f} s "
              f"(state {st['state']})")
        t0 = time.perf_counter()
        st = wait(rt, post(rt, path))
        total = time.perf_counter() - t0
        print(f"\n{args.size}-person cohort: POST -> report ready {total:.1f} s (state {st['state']})")
        for k, v in stage_times(st).items():
            print(f"  {k:<16} {v:6.2f} s")
        print_memory(rt, "after the submissions")
        if args.burst:
            paths = [b[3] for b in bursts]
            t0 = time.perf_counter()
            with ThreadPoolExecutor(args.burst) as pool:
                sids = list(pool.map(lambda p: post(rt, p), paths))
            posted = time.perf_counter() - t0
            results = [wait(rt, s) for s in sids]
            elapsed = time.perf_counter() - t0
            done = sum(r["state"] == "done" for r in results)
            print(f"\n{args.burst} submissions of {args.burst_size} posted at once: all POSTs "
                  f"answered in {posted:.1f} s; {done} done, {args.burst - done} failed in "
                  f"{elapsed:.1f} s ({args.burst / elapsed * 60:.1f} submissions/minute)")
            print_memory(rt, "after the burst")
    sys.exit(0)


if __name__ == "__main__":
    main()
