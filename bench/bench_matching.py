"""Benchmark of matching + outcome comparison: 1,000 treated people against comparison pools of
100k, 1M and 5M rows (targets: < 10 s at 1M, peak RSS < 6 GiB), and R MatchIt on the same
matching problem (100k and 1M) for the ratio.

Pools are custody index events (follow-up complete) of a generated national dataset, resampled
to the wanted size: each copy gets its own event id and keeps its person (so a treated person's
copies are excluded too); copies after the first get a small jitter on ogrs_score and copas_rate
so that distances do not tie. The 1,000 treated are drawn one per person with probability rising
with risk. Each pool size runs in its own subprocess; peak RSS is that process's ru_maxrss.

    .venv/bin/python bench/bench_matching.py [--data DIR | --people 200000]
        [--sizes 100000,1000000,5000000] [--r-sizes 100000,1000000]

What is timed: ``match(treated, pool, MatchSpec())`` (the propensity specification chosen by
balance from linear / flexible / interactions, matching, weights, balance with KS on every term,
the balance gate) + ``compare_outcomes`` and ``compare_further`` (the JDL's seven measures in 12
rows plus days free: score or two-way cluster-robust intervals, the JDL t-test, 999 bootstrap
replicates shared by every measure) + every sub-analysis (sex, age band and an uploaded
"completed" attribute, each matched, balance-checked and gated, with its three measures and Holm)
+ the E-value: the whole statistical analysis of ``analyse_index_events`` (issue 12: under 10 s
and 6 GiB at 1M). R: ``matchit()`` with the same settings (glm + nearest, k=5 with
replacement, caliper 0.2 SD of the logit, exact on sex; disposal is constant in the custody pool), then ``summary()`` and the
effect (``get_matches`` + ``lm`` + ``vcovCL(~subclass + person_key)``), reading the CSV excluded.
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

import numpy as np
import pandas as pd

TREATED = 1000
R_CODE = r"""
suppressPackageStartupMessages({library(MatchIt); library(sandwich)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = TRUE)
f <- treat ~ age_at_index + sex + ethnicity + prev_offences + prev_custody + age_first_contact +
  copas_rate + ogrs_score + offence_group + sentence_months + employed + on_benefit +
  index_year + region
t_match <- system.time(m <- matchit(f, data = d, method = "nearest", distance = "glm",
  link = "linear.logit", caliper = 0.2, std.caliper = TRUE, ratio = 5, replace = TRUE,
  exact = ~sex))[["elapsed"]]   # disposal: one level in a custody pool (R refuses a 1-level factor)
t_summary <- system.time(s <- summary(m))[["elapsed"]]
t_effect <- system.time({
  gm <- get_matches(m)
  fit <- lm(reoffended ~ treat, data = gm, weights = weights)
  v <- vcovCL(fit, cluster = ~subclass + person_key)
})[["elapsed"]]
cat(sprintf('{"r_matchit_s": %f, "r_summary_s": %f, "r_effect_s": %f, "r_matched": %d}\n',
            t_match, t_summary, t_effect, sum(m$weights[d$treat == 1] > 0)))
"""


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KiB on Linux


def build_problem(data: str, size: int, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    from jdl_core.analysis import with_person_columns
    from jdl_core.national import load_national

    national = load_national(data)
    ev = national.events
    src = ev[(ev["disposal"] == "custody") & ev["followup_complete"]]
    src = with_person_columns(src, national.people).reset_index(drop=True)
    del national, ev
    rng = np.random.default_rng(seed)
    # treated: one event per person, weight rising with risk (the "higher-risk" selection)
    once = src.drop_duplicates("person_key")
    w = np.exp(0.04 * (once["ogrs_score"].to_numpy(float) - 50)
               + 0.3 * np.log1p(once["prev_offences"].to_numpy(float)))
    treated = once.iloc[np.sort(rng.choice(len(once), TREATED, replace=False, p=w / w.sum()))]
    idx = np.sort(rng.integers(0, len(src), size)) if size > len(src) else \
        np.sort(rng.choice(len(src), size, replace=False))
    pool = src.take(idx).reset_index(drop=True)
    copy = pd.Series(idx).duplicated().to_numpy()          # second and later copies of a row
    n = int(copy.sum())
    if n:
        pool.loc[copy, "ogrs_score"] = np.clip(
            pool.loc[copy, "ogrs_score"].to_numpy() + rng.normal(0, 0.5, n), 0, 100).astype(np.float32)
        pool.loc[copy, "copas_rate"] = (pool.loc[copy, "copas_rate"].to_numpy()
                                        + rng.normal(0, 0.01, n)).astype(np.float32)
    pool["event_id"] = np.arange(size, dtype=np.int64) + 10_000_000
    return treated, pool


def child(data: str, size: int, r_csv: str | None) -> None:
    from jdl_core.matching import MatchSpec, match
    from jdl_core.outcomes import compare_further, compare_outcomes
    from jdl_core.sensitivity import rate_sensitivity
    from jdl_core.subgroups import analyse_subgroups

    treated, pool = build_problem(data, size)
    figures: dict[str, float | int] = {"pool_rows": size, "rss_before_mib": _rss_mib()}
    if r_csv:
        cols = ["event_id", "person_key", "disposal", "age_at_index", "sex", "ethnicity",
                "prev_offences", "prev_custody", "age_first_contact", "copas_rate", "ogrs_score",
                "offence_group", "sentence_months", "employed", "on_benefit", "index_year",
                "region", "reoffended"]
        both = pd.concat([treated[cols].assign(treat=1),
                          pool.loc[~pool["person_key"].isin(treated["person_key"]), cols].assign(treat=0)])
        for c in ("employed", "on_benefit", "reoffended"):
            both[c] = both[c].astype(int)
        for c in ("copas_rate", "ogrs_score", "sentence_months"):
            both[c] = both[c].astype(np.float64)
        both.to_csv(r_csv, index=False)
        del both
    spec = MatchSpec()
    c0 = time.process_time()   # CPU time too: on a shared machine wall time measures the others
    t0 = time.perf_counter()
    result = match(treated, pool, spec)
    t1 = time.perf_counter()
    measures = compare_outcomes(result, spec)
    compare_further(result, spec)        # JDL measures 4-7 and days free, same bootstrap
    t2 = time.perf_counter()
    attrs = pd.DataFrame({"person_key": treated["person_key"].to_numpy(),
                          "completed": np.where(np.arange(len(treated)) % 3 == 0, "no", "yes")})
    subs = analyse_subgroups(result, spec, attributes=attrs)
    rate_sensitivity(measures[0])
    t3 = time.perf_counter()
    figures.update(cpu_s=time.process_time() - c0, match_s=t1 - t0, outcomes_s=t2 - t1, subgroups_s=t3 - t2, total_s=t3 - t0,
                   peak_rss_mib=_rss_mib(), n_iter=result.propensity.n_iter_,
                   matched=result.n_treated, comparisons=result.n_comparison,
                   rate_diff=measures[0].difference or 0.0, specification=result.specification,
                   gate=result.gate.code if result.gate else "",
                   subgroups=sum(s.status == "analysed" for s in subs), subgroup_lines=len(subs))
    print(json.dumps(figures))


def run_r(csv: str) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as f:
        f.write(R_CODE)
    proc = subprocess.run(["Rscript", f.name, csv], capture_output=True, text=True)
    Path(f.name).unlink()
    if proc.returncode != 0:
        return {"r_error": " | ".join(proc.stderr.strip().splitlines()[-4:]) if proc.stderr else "failed"}  # type: ignore[dict-item]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", help="national dataset directory (generated when omitted)")
    ap.add_argument("--people", type=int, default=200_000, help="people to generate without --data")
    ap.add_argument("--sizes", default="100000,1000000,5000000")
    ap.add_argument("--r-sizes", default="100000,1000000", help="pool sizes also run in R ('' for none)")
    ap.add_argument("--child", nargs=3, metavar=("DATA", "SIZE", "RCSV"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.child[2] or None)
        return
    with tempfile.TemporaryDirectory(prefix="jdl-bench-matching-") as tmp:
        data = args.data
        if data is None:
            from jdl_core.synth.generator import generate_national

            data = str(Path(tmp) / "national")
            t = time.perf_counter()
            m = generate_national(people=args.people, seed=2013, out_dir=data)
            print(f"generated {m['row_counts']['people']:,} people, {m['row_counts']['events']:,} "
                  f"events in {time.perf_counter() - t:.0f} s (not part of the figures)")
        r_sizes = {int(s) for s in args.r_sizes.split(",") if s}
        rows = []
        for size in sorted(int(s) for s in args.sizes.split(",")):
            csv = str(Path(tmp) / f"r-{size}.csv") if size in r_sizes else ""
            proc = subprocess.run([sys.executable, __file__, "--child", data, str(size), csv],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"{size}: failed: {proc.stderr.strip().splitlines()[-1:]}")
                continue
            fig = json.loads(proc.stdout.strip().splitlines()[-1])
            if csv:
                fig.update(run_r(csv))
                Path(csv).unlink(missing_ok=True)
            rows.append(fig)
            print(json.dumps(fig))
    print()
    print(f"{'pool rows':>10} {'match s':>8} {'outcomes s':>10} {'subgroups s':>11} {'total s':>8} "
          f"{'CPU s':>6} {'peak RSS MiB':>13} {'matched':>8} {'R matchit s':>12} {'R all s':>8} {'R/ours':>7}")
    for f in rows:
        r_all = (f.get("r_matchit_s", 0) + f.get("r_summary_s", 0) + f.get("r_effect_s", 0)
                 if "r_matchit_s" in f else None)
        ratio = f"{r_all / f['total_s']:.1f}x" if r_all else "-"
        print(f"{f['pool_rows']:>10,} {f['match_s']:>8.2f} {f['outcomes_s']:>10.2f} "
              f"{f['subgroups_s']:>11.2f} {f['total_s']:>8.2f} {f['cpu_s']:>6.2f} {f['peak_rss_mib']:>13,.0f} {f['matched']:>8} "
              f"{f.get('r_matchit_s', float('nan')):>12.2f} "
              f"{r_all if r_all is not None else float('nan'):>8.2f} {ratio:>7}")


if __name__ == "__main__":
    main()
