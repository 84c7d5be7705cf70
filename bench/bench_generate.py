"""Benchmark of the synthetic national dataset: time, peak memory and size of `generate_national`
for the embedded default, 1,000,000 and 5,000,000 people (targets: < 15 s; < 60 s with < 4 GiB
peak RSS; national scale, issue 17: 5M people in < 60 s with < 8 GiB), plus loading the dataset
(the first load writes the memory-mapped shared columns, later loads map them) and drawing a
1,000-person cohort from it. Wall time on a shared machine depends on the other load: the CPU
time of the generation is printed beside it.

Each size runs in its own subprocess, which reads its own peak RSS right after generating.

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

    t, cpu = time.perf_counter(), time.process_time()
    manifest = generate_national(people=people, seed=seed, out_dir=out)
    figures = {"generate_s": time.perf_counter() - t, "generate_cpu_s": time.process_time() - cpu,
               # the peak so far is the generation's own (loading and sampling come after)
               "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               "events": manifest["row_counts"]["events"],
               "people": manifest["row_counts"]["people"],
               "overall_rate": manifest["base_rates"]["overall"],
               "bytes": sum(p.stat().st_size for p in Path(out).iterdir())}
    if cohort:
        from jdl_core.national import load_national
        from jdl_core.synth.cohort import sample_cohort

        t = time.perf_counter()
        load_national(out)
        figures["share_s"] = time.perf_counter() - t
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
    print(f"{'people':>10} {'events':>10} {'generate s':>11} {'(CPU s)':>8} {'peak RSS MiB':>13} "
          f"{'MB on disk':>11} {'rate':>6} {'share s':>8} {'load s':>7} {'cohort s':>9}")
    for people in sizes:
        with tempfile.TemporaryDirectory(prefix="jdl-bench-") as tmp:
            cmd = [sys.executable, __file__, "--seed", str(args.seed), "--child", str(people),
                   str(Path(tmp) / "national")]
            if args.no_cohort:
                cmd.append("--no-cohort")
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        f = json.loads(out.strip().splitlines()[-1])
        peak_mib = f["peak_mib"]
        print(f"{f['people']:>10,} {f['events']:>10,} {f['generate_s']:>11.1f} "
              f"{f['generate_cpu_s']:>8.1f} {peak_mib:>13.0f} "
              f"{f['bytes'] / 1e6:>11.1f} {f['overall_rate']:>6.3f} "
              f"{f.get('share_s', float('nan')):>8.1f} {f.get('load_s', float('nan')):>7.2f} "
              f"{f.get('cohort_1000_s', float('nan')):>9.2f}")


if __name__ == "__main__":
    main()
