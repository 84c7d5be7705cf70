"""Benchmark of linkage and index-event selection: a 1,000-row noisy cohort against 1,000,000 people.

    .venv/bin/python bench/bench_linkage.py [--data DIR] [--people 1000000] [--seed 1]
                                            [--size 1000] [--setting custody] [--retrain]
                                            [--realism typical] [--sweep]

National scale (issue 17): ``--data DIR --people 5000000`` (target: under 10 s for the 1,000
rows). Wall time on a shared machine depends on the other load; CPU time is printed beside it.

Uses the national dataset in ``--data`` (default /tmp/jdl-1m), generating it first when the
directory holds none (the same as ``jdl data generate --people N --seed S --out DIR``). Trains the
linkage model once (saved beside the data; ``--retrain`` forces it), then times ``link_cohort`` on
a noisy sample cohort (first call, which builds the per-dataset DuckDB tables, and a repeat), the
same cohort with every PNC ID and prison number removed (names and dates of birth only: the
probabilistic pass on every row), and ``select_index_events``. Prints seconds, peak RSS and
precision / recall against the generator's truth (``jdl_core.linkage.quality.accuracy``: precision
over linked rows, recall over the distinct people submitted who are in the national data). The
cohort is drawn at ``--realism`` (a dataset it generates is made at the same level).

``--sweep`` then prints the precision/recall trade-off behind the default threshold and margin
(services/linkage/README.md): four cohorts (custody and community, two seeds), identifiers as
given and names and dates of birth only, over thresholds and margins. The machine may be shared:
timings are noisy.
"""
from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
import time
from pathlib import Path

import pandas as pd
import psutil

from jdl_core import schema
from jdl_core.cohort import validate_cohort
from jdl_core.index_events import select_index_events
from jdl_core.linkage import (
    LinkageModel,
    LinkageResult,
    link_cohort,
    load_linkage_model,
    train_linkage_model,
)
from jdl_core.linkage.quality import accuracy
from jdl_core.national import NationalData, load_national
from jdl_core.synth.cohort import sample_cohort
from jdl_core.synth.generator import generate_national
from jdl_core.synth.noise import DEFAULT_REALISM, REALISMS


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def rss_mib() -> float:
    return psutil.Process().memory_info().rss / 2**20


def report(label: str, seconds: float, result: LinkageResult, truth: pd.DataFrame,
           cpu: float) -> None:
    acc = accuracy(result.links, truth)
    print(f"{label:<38} {seconds:7.2f} s ({cpu:.2f} s CPU)   precision {acc.precision:.4f} ({acc.linked_rows} linked)   "
          f"recall {acc.recall:.4f} (of {acc.people_in_data})   linked twice {acc.people_linked_twice}   "
          f"peak RSS {peak_rss_mib():,.0f} MiB")
    print(f"{'':<38} counts {result.counts}")


THRESHOLDS = (0.5, 0.8, 0.9, 0.95)
MARGINS = (3.0, 5.0)


def sweep(national: NationalData, realism: str, size: int, model: LinkageModel) -> None:
    """Mean (and worst) precision and recall of four cohorts at each threshold and margin."""
    cohorts = []
    for setting in schema.SETTINGS:
        for seed in (1, 2):
            upload, truth = sample_cohort(national, size, setting, "random", seed=seed, realism=realism)
            rows = validate_cohort(upload, setting=setting, min_size=1, today=dt.date(2011, 6, 30)).rows
            cohorts.append((rows, truth.assign(row_number=truth["row_number"] + 1)))
    print(f"sweep: {len(cohorts)} cohorts of {size:,} people ({realism}), "
          f"{len(national.people):,} national people")
    print(f"{'identifiers':<12} {'margin':>6} {'threshold':>9}   {'precision (worst)':<18} recall (worst)")
    for names_only in (False, True):
        for margin in MARGINS:
            for threshold in THRESHOLDS:
                scores = []
                for rows, truth in cohorts:
                    given = rows.assign(pnc_id=pd.NA, prison_number=pd.NA) if names_only else rows
                    result = link_cohort(given, national, model=model, threshold=threshold,
                                         margin_bits=margin)
                    scores.append(accuracy(result.links, truth))
                p = [a.precision for a in scores]
                r = [a.recall for a in scores]
                print(f"{'names+DOB' if names_only else 'as given':<12} {margin:>6.0f} {threshold:>9.2f}   "
                      f"{sum(p) / len(p):.4f} ({min(p):.4f})    {sum(r) / len(r):.4f} ({min(r):.4f})",
                      flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("/tmp/jdl-1m"))
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--size", type=int, default=1_000)
    parser.add_argument("--setting", choices=schema.SETTINGS, default="custody")
    parser.add_argument("--retrain", action="store_true")
    parser.add_argument("--realism", choices=REALISMS, default=DEFAULT_REALISM)
    parser.add_argument("--sweep", action="store_true", help="print the threshold/margin trade-off")
    args = parser.parse_args(argv)

    if not (args.data / schema.MANIFEST_FILE).is_file():
        t = time.perf_counter()
        generate_national(people=args.people, seed=args.seed, out_dir=args.data, realism=args.realism)
        print(f"generate {args.people:,} people            {time.perf_counter() - t:7.2f} s")
    t = time.perf_counter()
    national = load_national(args.data)
    print(f"load national data ({len(national.people):,} people, {len(national.aliases):,} aliases, "
          f"{len(national.events):,} events)  {time.perf_counter() - t:.2f} s   RSS {rss_mib():,.0f} MiB")

    t = time.perf_counter()
    model = train_linkage_model(national) if args.retrain else load_linkage_model(national)
    print(f"linkage model ({'trained' if args.retrain else 'loaded, trained if absent'})"
          f"        {time.perf_counter() - t:7.2f} s   training took {model.training['seconds']} s "
          f"(EM sample {model.training['em_sample_people']:,} people)")

    upload, truth = sample_cohort(national, args.size, args.setting, "random", seed=args.seed,
                                  realism=args.realism)
    validated = validate_cohort(upload, setting=args.setting, min_size=1, today=dt.date(2011, 6, 30))
    rows = validated.rows
    # validate_cohort numbers rows as a spreadsheet does (header = row 1); the truth counts from 1.
    truth = truth.assign(row_number=truth["row_number"] + 1)
    print(f"cohort: {len(upload):,} uploaded rows, {len(rows):,} accepted ({args.setting})")

    t, c = time.perf_counter(), time.process_time()
    first = link_cohort(rows, national, model=model)
    report("link_cohort, first call (cold)", time.perf_counter() - t, first, truth,
           time.process_time() - c)
    t, c = time.perf_counter(), time.process_time()
    again = link_cohort(rows, national, model=model)
    report("link_cohort, repeat (warm)", time.perf_counter() - t, again, truth,
           time.process_time() - c)
    names_only = rows.assign(pnc_id=pd.NA, prison_number=pd.NA)
    t, c = time.perf_counter(), time.process_time()
    probabilistic = link_cohort(names_only, national, model=model)
    report("link_cohort, no identifiers (warm)", time.perf_counter() - t, probabilistic, truth,
           time.process_time() - c)

    t = time.perf_counter()
    selection = select_index_events(again, rows, national, args.setting)
    seconds = time.perf_counter() - t
    joined = selection.events.merge(truth, on="row_number", suffixes=("", "_true"))
    right = float((joined["event_id"] == joined["event_id_true"]).mean()) if len(joined) else float("nan")
    print(f"{'select_index_events':<38} {seconds:7.2f} s   {len(selection.events):,} events, "
          f"{right:.4f} equal to the intended one; attrition {selection.attrition}")
    print(f"peak RSS {peak_rss_mib():,.0f} MiB")
    if args.sweep:
        sweep(national, args.realism, args.size, model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
