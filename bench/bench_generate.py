"""Benchmark of the synthetic national dataset: time, peak memory and size of `generate_national`
for the embedded default and for 1,000,000 people (targets: < 15 s, and < 60 s with < 4 GiB peak
RSS), plus loading the dataset and drawing a 1,000-person cohort from it.

Each size runs in its own subprocess; the parent reads that child's peak RSS with
resource.getrusage(RUSAGE_CHILDREN) (sizes run smallest first, so the running maximum is the
child's own peak).

    .venv/bin/python bench/bench_generate.py [--sizes 100000,1000000] [--seed 2013]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def child(people: int, seed: int, out: str, cohort: bool) -> None:
    from jdl_core.synth.generator import generate_national

    t = time.perf_counter()
    manifest = generate_national(people=people, seed=seed, out_dir=out)
    figures = {"generate_s": time.perf_counter() - t, "events": manifest["row_counts"]["events"],
               "people": manifest["row_counts"]["people"],
               "overall_rate": manifest["base_rates"]["overall"],
               "bytes": sum(p.stat().st_size for p in Path(out).iterdir())}
    if cohort:
        from jdl_core.national import load_national
        from jdl_core.synth.cohort import sample_cohort

        t = time.perf_counter()
        national = load_national(out)
        figures["load_s"] = time.perf_counter() - t
        t = time.perf_counter()
        sample_cohort(national, 1000, "custody", "higher-risk", seed=1)
        figures["cohort_1000_s"] = time.perf_counter() - t
    print(json.dumps(figures))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100000,1000000", help="comma-separated people counts")
    ap.add_argument("--seed", type=int, default=2013)
    ap.add_argument("--no-cohort", action="store_true", help="skip load + cohort sampling")
    ap.add_argument("--child", nargs=2, metavar=("PEOPLE", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(int(args.child[0]), args.seed, args.child[1], not args.no_cohort)
        return
    sizes = sorted(int(s) for s in args.sizes.split(","))
    print(f"{'people':>10} {'events':>10} {'generate s':>11} {'peak RSS MiB':>13} "
          f"{'MB on disk':>11} {'rate':>6} {'load s':>7} {'cohort s':>9}")
    for people in sizes:
        with tempfile.TemporaryDirectory(prefix="jdl-bench-") as tmp:
            cmd = [sys.executable, __file__, "--seed", str(args.seed), "--child", str(people),
                   str(Path(tmp) / "national")]
            if args.no_cohort:
                cmd.append("--no-cohort")
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # kB on Linux
        f = json.loads(out.strip().splitlines()[-1])
        print(f"{f['people']:>10,} {f['events']:>10,} {f['generate_s']:>11.1f} {peak_mib:>13.0f} "
              f"{f['bytes'] / 1e6:>11.1f} {f['overall_rate']:>6.3f} "
              f"{f.get('load_s', float('nan')):>7.1f} {f.get('cohort_1000_s', float('nan')):>9.2f}")


if __name__ == "__main__":
    main()
