"""Placebo cohorts selected NON-LINEARLY on recorded characteristics (short sentences, prolific
offenders, young prolific, first offenders, older on long sentences; no effect planted):
with the propensity specification chosen by balance and the balance gate, the 95% intervals of
the rate cover zero about 95% of the time, while the naive comparison with everyone else is
clearly biased (fidelity review, issue 12: 84.5% with the linear model).

The default test runs 120 cohorts of 100 people on one year of custody events of the session
fixture (about 25 s): with true coverage 0.95, P(fewer than 108 of 120 cover) is about 0.01; with
0.85, P(at least 108) is about 0.05, so it tells 95% from 85%. The issue's full check (200
cohorts at n = 1,000 and at n = 100, coverage 93-97%) is the slow test.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jdl_core.analysis import with_person_columns
from jdl_core.matching import MatchSpec, match
from jdl_core.outcomes import compare_outcomes
from tests.matching_synth import NONLINEAR_RULES, select_nonlinear

RULES = list(NONLINEAR_RULES)


def _events(national, years: tuple[int, int]) -> pd.DataFrame:
    ev = national.events
    ev = ev[(ev["disposal"] == "custody") & ev["followup_complete"] & ev["index_year"].between(*years)]
    return with_person_columns(ev, national.people).reset_index(drop=True)


def _run(events: pd.DataFrame, size: int, repeats: int, seed: int) -> pd.DataFrame:
    spec = MatchSpec(bootstrap_reps=0)
    rows = []
    person = events["person_key"].to_numpy()
    reoff = events["reoffended"].to_numpy(dtype=float)
    for rep in range(repeats):
        rule = RULES[rep % len(RULES)]
        cohort = select_nonlinear(events, size, seed + rep, rule)
        r = match(cohort, events, spec)
        rate, freq = compare_outcomes(r, spec)[:2]
        rest = ~np.isin(person, cohort["person_key"].to_numpy())
        naive = 100 * (cohort["reoffended"].to_numpy(dtype=float).mean() - reoff[rest].mean())
        rows.append({"rule": rule, "gate": r.gate.code, "spec": r.gate.specification,
                     "rate": rate.difference, "rate_cover": rate.ci_low <= 0 <= rate.ci_high,
                     "freq_cover": freq.ci_low <= 0 <= freq.ci_high, "naive": naive})
    return pd.DataFrame(rows)


def _report(df: pd.DataFrame, label: str) -> pd.Series:
    ok = df[df["gate"] != "no_reliable_comparison"]
    by = df.groupby("rule").agg(rate=("rate", "mean"), naive=("naive", "mean"),
                                naive_se=("naive", lambda v: v.std(ddof=1) / np.sqrt(len(v))),
                                cover=("rate_cover", "mean"))
    print(f"\n{label}: rate coverage {ok['rate_cover'].mean():.3f}, frequency "
          f"{ok['freq_cover'].mean():.3f}, gated {1 - len(ok) / len(df):.3f}, specifications "
          f"{df['spec'].value_counts().to_dict()}\n{by.round(2)}")
    return by


def _check_naive_biased(by: pd.DataFrame) -> None:
    # every rule moves the naive difference by far more than its Monte Carlo error
    assert (by["naive"].abs() > 4 * by["naive_se"]).all(), by
    assert (by["naive"].abs() > 2.5).all(), by       # percentage points, in one direction per rule


def test_nonlinear_placebo_coverage_n100(national):
    events = _events(national, (2009, 2009))
    df = _run(events, size=100, repeats=120, seed=31_000)
    by = _report(df, "n=100")
    ok = df[df["gate"] != "no_reliable_comparison"]
    assert len(ok) >= 0.95 * len(df)                 # chance imbalance does not block null cohorts
    assert 0.90 <= ok["rate_cover"].mean() <= 0.995
    assert ok["freq_cover"].mean() >= 0.90
    _check_naive_biased(by)
    assert df["spec"].str.startswith(("flexible", "interactions")).mean() > 0.5


@pytest.mark.slow
@pytest.mark.parametrize("size,years", [(1000, (2006, 2009)), (100, (2009, 2009))])
def test_nonlinear_placebo_coverage_200_repeats(national, size, years):
    events = _events(national, years)
    df = _run(events, size=size, repeats=200, seed=41_000 + size)
    by = _report(df, f"n={size}")
    ok = df[df["gate"] != "no_reliable_comparison"]
    assert len(ok) >= 0.95 * len(df)
    # 93-97% (issue 12); measured 0.965 at n = 1,000 and 0.970 at n = 100 (the analytic interval
    # is a little conservative at small n: issue 12 finding 6, jdl_core.outcomes, part B)
    assert 0.93 <= ok["rate_cover"].mean() <= 0.97
    _check_naive_biased(by)
