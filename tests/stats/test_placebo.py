"""Statistical behaviour on the national fixture: placebo cohorts (selected on observed risk, no
effect) are covered by the 95% intervals about 95% of the time while the naive comparison is
biased; planted effects are recovered.

Repeats run on the events table directly (linkage is not under test here). 100 repeats tell 95%
coverage from 80%: with true coverage 0.95, P(fewer than 88 of 100 cover) is about 0.001; with
0.80, P(at least 88) is about 0.03. The bigger versions are marked slow.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jdl_core.analysis import with_person_columns
from jdl_core.matching import MatchSpec, match
from jdl_core.outcomes import compare_outcomes, statements
from tests.matching_synth import plant_frequency_effect, plant_rate_effect, select_cohort


def _eligible(national, setting: str, years: tuple[int, int]) -> pd.DataFrame:
    ev = national.events
    ev = ev[(ev["disposal"] == setting) & ev["followup_complete"]
            & ev["index_year"].between(*years)]
    return with_person_columns(ev, national.people)


def _naive_rejects(cohort: pd.DataFrame, events: pd.DataFrame) -> bool:
    """Unmatched comparison with everyone else: does its 95% interval exclude zero?"""
    rest = events[~events["person_key"].isin(cohort["person_key"])]
    yt = cohort["reoffended"].to_numpy(dtype=float)
    yc = rest["reoffended"].to_numpy(dtype=float)
    se = np.sqrt(yt.var(ddof=1) / len(yt) + yc.var(ddof=1) / len(yc))
    return bool(abs(yt.mean() - yc.mean()) > 1.96 * se)


def _placebo(events: pd.DataFrame, repeats: int, size: int, spec: MatchSpec, seed: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per repeat: analytic CI covers 0 (per measure), bootstrap CI covers 0, naive rejects."""
    cover, boot, naive = [], [], []
    disposal = str(events["disposal"].iloc[0])
    for rep in range(repeats):
        cohort = select_cohort(events, size, seed=seed + rep, strength=1.5, disposal=disposal)
        measures = compare_outcomes(match(cohort, events, spec), spec)
        cover.append([m.ci_low <= 0 <= m.ci_high for m in measures if m.estimable])
        boot.append([m.bootstrap_ci_low <= 0 <= m.bootstrap_ci_high
                     for m in measures if m.estimable and m.bootstrap_ci_low is not None])
        naive.append(_naive_rejects(cohort, events))
    return np.array(cover, dtype=float), np.array(boot, dtype=float), np.array(naive)


def test_placebo_intervals_cover_zero_about_95_percent(national):
    events = _eligible(national, "custody", (2005, 2006))
    cover, _, naive = _placebo(events, repeats=100, size=150,
                               spec=MatchSpec(bootstrap_reps=0), seed=1000)
    rate, frequency = cover[:, 0].mean(), cover[:, 1].mean()
    print(f"placebo coverage: rate {rate:.2f}, frequency {frequency:.2f}; "
          f"naive rejects {naive.mean():.2f}")
    assert rate >= 0.88 and frequency >= 0.88
    assert rate <= 0.995                             # not vacuous: some intervals miss
    assert naive.mean() >= 0.8                       # the unmatched comparison is biased


@pytest.mark.slow
@pytest.mark.parametrize("setting", ["custody", "community"])
def test_placebo_coverage_at_scale(national, setting):
    events = _eligible(national, setting, (2002, 2009))
    cover, boot, naive = _placebo(events, repeats=200, size=300,
                                  spec=MatchSpec(bootstrap_reps=199), seed=5000)
    print(f"{setting}: coverage {cover.mean(axis=0).round(3)}, bootstrap "
          f"{boot.mean(axis=0).round(3)}, naive rejects {naive.mean():.2f}")
    assert (cover.mean(axis=0) >= 0.91).all()
    assert (boot.mean(axis=0) >= 0.88).all()
    assert naive.mean() >= 0.9


@pytest.fixture(scope="module")
def planted(national):
    events = _eligible(national, "custody", (2004, 2007))
    cohort = select_cohort(events, 400, seed=77, strength=1.5)
    spec = MatchSpec(bootstrap_reps=199)
    base = match(cohort, events, spec)
    return events, cohort, spec, base, compare_outcomes(base, spec)


def _rematch(events: pd.DataFrame, cohort: pd.DataFrame, spec: MatchSpec):
    # the treated rows carry the planted outcomes; the pool keeps the national ones
    return compare_outcomes(match(cohort, events, spec), spec)


def test_planted_rate_reduction_is_recovered(planted):
    events, cohort, spec, base, before = planted
    shifted, truth = plant_rate_effect(cohort, 10.0, seed=3)
    assert truth == pytest.approx(-10.0, abs=0.13)
    rate = _rematch(events, shifted, spec)[0]
    # outcomes do not enter the matching: the estimate moves by exactly the planted shift
    assert rate.difference - before[0].difference == pytest.approx(truth, abs=1e-9)
    assert rate.ci_low <= truth <= rate.ci_high
    assert rate.significant and rate.direction == "reduction"
    said = statements([rate], "taking part in X").can_say[0]
    assert "may decrease the proportion of people who commit a proven re-offence" in said


def test_planted_frequency_increase_is_recovered(planted):
    events, cohort, spec, base, before = planted
    shifted, truth = plant_frequency_effect(cohort, 1, seed=4)
    freq = _rematch(events, shifted, spec)[1]
    assert freq.difference - before[1].difference == pytest.approx(truth, abs=1e-9)
    assert freq.ci_low <= truth <= freq.ci_high
    assert freq.significant and freq.direction == "increase"


@pytest.mark.slow
def test_planted_effect_coverage(national):
    """Over many cohorts the interval covers the planted truth about 95% of the time."""
    events = _eligible(national, "custody", (2002, 2009))
    spec = MatchSpec(bootstrap_reps=0)
    hits = []
    for rep in range(100):
        cohort = select_cohort(events, 300, seed=9000 + rep, strength=1.5)
        shifted, truth = plant_rate_effect(cohort, 10.0, seed=rep)
        rate = compare_outcomes(match(shifted, events, spec), spec)[0]
        hits.append(rate.ci_low <= truth <= rate.ci_high)
    assert np.mean(hits) >= 0.88
