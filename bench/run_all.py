"""Run every benchmark one after another (`make bench`), printing their figures and keeping each
output in bench/results/<name>.txt (git-ignored).

    .venv/bin/python bench/run_all.py [--only generate,linkage,...] [--skip pipeline]

Benchmarks run one at a time because the machine has two cores: figures measured side by side
would be measuring each other. Each is a separate script that can also be run on its own (see
its docstring for its options). Exit status is non-zero when any benchmark failed.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# name -> arguments; order: the cheap ones first, the 1M-person and pipeline runs last
BENCHMARKS: dict[str, list[str]] = {
    "report": [],
    "summary": [],
    "cohort_validation": [],
    "xlsx_memory": [],         # API RSS around four concurrent near-cap XLSX uploads
    "purge": [],
    "reconcile": [],
    "generate": [],
    "realism": [],             # the national realism hook and sample cohorts at each level
    "linkage": [],
    "matching": ["--data", "/tmp/jdl-1m"],     # the 1M-person dataset the linkage run generates
    "pipeline": [],
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default="", help="comma-separated names: " + ",".join(BENCHMARKS))
    ap.add_argument("--skip", default="", help="comma-separated names to leave out")
    args = ap.parse_args()
    only = [n for n in args.only.split(",") if n]
    skip = {n for n in args.skip.split(",") if n}
    unknown = sorted((set(only) | skip) - set(BENCHMARKS))
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    names = [n for n in (only or BENCHMARKS) if n not in skip]
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    summary: list[tuple[str, int, float]] = []
    for name in names:
        extra = BENCHMARKS[name]
        if name == "matching" and not (Path(extra[1]) / "manifest.json").exists():
            extra = []          # linkage skipped: bench_matching generates its own dataset
        cmd = [sys.executable, str(HERE / f"bench_{name}.py"), *extra]
        print(f"\n=== {name}: {' '.join(cmd[1:])}", flush=True)
        t = time.perf_counter()
        with (results / f"{name}.txt").open("w") as log:
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True)
            assert proc.stdout is not None
            for line in proc.stdout:
                print(line, end="", flush=True)
                log.write(line)
            rc = proc.wait()
        summary.append((name, rc, time.perf_counter() - t))
    print("\n=== summary (outputs in bench/results/)")
    for name, rc, secs in summary:
        print(f"  {name:<18} {'ok' if rc == 0 else f'FAILED (exit {rc})':<16} {secs:8.1f} s")
    return 0 if all(rc == 0 for _, rc, _ in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
