"""Benchmark of the data's realism (synth/noise.py): what the national hook adds to generation
(time, CPU, peak memory, alias rows) and how long a 1,000-person sample cohort takes at each
level, with the share of its rows the truth expects to be analysed.

The national hook runs on the generator's own clean tables, so its cost is measured alone.

    .venv/bin/python bench/bench_realism.py [--people 1000000] [--seed 2013]
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--people", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=2013)
    args = ap.parse_args()

    from jdl_core.national import load_national
    from jdl_core.synth import generator as gen
    from jdl_core.synth import noise
    from jdl_core.synth.cohort import sample_cohort

    data = gen.build_tables(args.people, args.seed, "clean")
    people = data.people.drop(["nationality"])
    print(f"{args.people:,} people, {data.aliases.num_rows:,} aliases from the generator")
    for level in noise.REALISMS:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t, c = time.perf_counter(), time.process_time()
        _, aliases = noise.national_realism(people, data.aliases, level, args.seed)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"national_realism {level:8s}: {time.perf_counter() - t:5.2f} s wall, "
              f"{time.process_time() - c:5.2f} s CPU, peak RSS +{(after - before) / 1024:,.0f} MiB "
              f"(running peak {after / 1024:,.0f} MiB), aliases {aliases.num_rows:,}")
    del data, people

    with tempfile.TemporaryDirectory() as tmp:
        gen.generate_national(min(args.people, 200_000), args.seed, f"{tmp}/d")
        national = load_national(f"{tmp}/d")
        for level in noise.REALISMS:
            for setting in ("custody", "community"):
                t = time.perf_counter()
                _, truth = sample_cohort(national, 1000, setting, seed=1, realism=level)
                share = (truth["expected"] == "analysed").mean()
                print(f"sample_cohort 1,000 {setting:9s} {level:8s}: "
                      f"{time.perf_counter() - t:5.2f} s, {len(truth):,} rows, "
                      f"{share:.1%} expected analysed with perfect linkage")


if __name__ == "__main__":
    main()
