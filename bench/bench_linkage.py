"""Benchmark of linkage and index-event selection: a 1,000-row noisy cohort against 1,000,000 people.

    .venv/bin/python bench/bench_linkage.py [--data DIR] [--people 1000000] [--seed 1]
                                            [--size 1000] [--setting custody] [--retrain]

Uses the national dataset in ``--data`` (default /tmp/jdl-1m), generating it first when the
directory holds none (the same as ``jdl data generate --people N --seed S --out DIR``). Trains the
linkage model once (saved beside the data; ``--retrain`` forces it), then times ``link_cohort`` on
a noisy sample cohort (first call, which builds the per-dataset DuckDB tables, and a repeat), the
same cohort with every PNC ID and prison number removed (names and dates of birth only: the
probabilistic pass on every row), and ``select_index_events``. Prints seconds, peak RSS and
precision / recall against the generator's truth. The machine may be shared: figures are noisy.
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
from jdl_core.linkage import LinkageResult, link_cohort, load_linkage_model, train_linkage_model
from jdl_core.national import load_national
from jdl_core.synth.cohort import sample_cohort
from jdl_core.synth.generator import generate_national


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def rss_mib() -> float:
    return psutil.Process().memory_info().rss / 2**20


def accuracy(result: LinkageResult, truth: pd.DataFrame) -> tuple[float, float, int, int]:
    """(precision over linked rows, recall over rows whose person is in the data, counts)."""
    joined = result.links.merge(truth, on="row_number", suffixes=("", "_true"))
    linked = joined[joined["person_key"].notna()]
    in_data = joined[joined["person_key_true"].notna()]
    precision = float((linked["person_key"] == linked["person_key_true"]).fillna(False).mean())
    recall = float((in_data["person_key"] == in_data["person_key_true"]).fillna(False).mean())
    return precision, recall, len(linked), len(in_data)


def report(label: str, seconds: float, result: LinkageResult, truth: pd.DataFrame) -> None:
    precision, recall, n_linked, n_in = accuracy(result, truth)
    print(f"{label:<38} {seconds:7.2f} s   precision {precision:.4f} ({n_linked} linked)   "
          f"recall {recall:.4f} (of {n_in})   peak RSS {peak_rss_mib():,.0f} MiB")
    print(f"{'':<38} counts {result.counts}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("/tmp/jdl-1m"))
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--size", type=int, default=1_000)
    parser.add_argument("--setting", choices=schema.SETTINGS, default="custody")
    parser.add_argument("--retrain", action="store_true")
    args = parser.parse_args(argv)

    if not (args.data / schema.MANIFEST_FILE).is_file():
        t = time.perf_counter()
        generate_national(people=args.people, seed=args.seed, out_dir=args.data)
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

    upload, truth = sample_cohort(national, args.size, args.setting, "random", seed=args.seed)
    validated = validate_cohort(upload, setting=args.setting, min_size=1, today=dt.date(2011, 6, 30))
    rows = validated.rows
    # validate_cohort numbers rows as a spreadsheet does (header = row 1); the truth counts from 1.
    truth = truth.assign(row_number=truth["row_number"] + 1)
    print(f"cohort: {len(upload):,} uploaded rows, {len(rows):,} accepted ({args.setting})")

    t = time.perf_counter()
    first = link_cohort(rows, national, model=model)
    report("link_cohort, first call (cold)", time.perf_counter() - t, first, truth)
    t = time.perf_counter()
    again = link_cohort(rows, national, model=model)
    report("link_cohort, repeat (warm)", time.perf_counter() - t, again, truth)
    names_only = rows.assign(pnc_id=pd.NA, prison_number=pd.NA)
    t = time.perf_counter()
    probabilistic = link_cohort(names_only, national, model=model)
    report("link_cohort, no identifiers (warm)", time.perf_counter() - t, probabilistic, truth)

    t = time.perf_counter()
    selection = select_index_events(again, rows, national, args.setting)
    seconds = time.perf_counter() - t
    joined = selection.events.merge(truth, on="row_number", suffixes=("", "_true"))
    right = float((joined["event_id"] == joined["event_id_true"]).mean()) if len(joined) else float("nan")
    print(f"{'select_index_events':<38} {seconds:7.2f} s   {len(selection.events):,} events, "
          f"{right:.4f} equal to the intended one; attrition {selection.attrition}")
    print(f"peak RSS {peak_rss_mib():,.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
