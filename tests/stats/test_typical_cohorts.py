"""Typical sample cohorts (synth/noise.py, the default realism) through the service's core, as the
stages run it: the file's bytes -> ``parse_upload`` -> ``validate_cohort`` (intake) ->
``link_cohort`` -> ``select_index_events`` (linkage stage) -> ``comparison_pool`` + ``match`` ->
``compare_outcomes`` (matching stage), on the session's national fixture (40,000 people, typical).

* Retention: over 50 cohorts (seeds 0-49, both settings, every selection rule, 200 people) the
  people analysed are 65-75% of the rows submitted, as in real JDL submissions (Leeds IOM 2017:
  142 of 203), and every row lost is counted once under its reason; each reason's share is
  printed.
* Placebo: no effect is planted, so the 95% intervals of the rate and frequency cover zero in
  about 95% of those cohorts. At least 43 of 50 must cover: with true coverage 0.95, P(fewer) is
  0.003; a coverage of 0.75 passes with probability 0.045. This checks that messy identities
  and linkage errors do not break the intervals; telling 95% from 85% takes the 120-cohort
  placebo tests on the events table (test_placebo.py, test_selection_placebo.py).
* Planted effects are recovered from a typical cohort as from a clean one.

Matching uses the linear propensity specification without the balance gate (one fit instead of
four, to keep 50 cohorts to about half a minute); the service's default chooses among four
specifications by balance, which moves the caliper losses by a few people at most.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from jdl_core.analysis import comparison_pool, with_person_columns
from jdl_core.cohort import parse_upload, validate_cohort
from jdl_core.index_events import select_index_events
from jdl_core.linkage import link_cohort, load_linkage_model
from jdl_core.matching import MatchResult, MatchSpec, match
from jdl_core.outcomes import compare_outcomes
from jdl_core.synth.cohort import SELECTIONS, sample_cohort
from tests.matching_synth import plant_frequency_effect, plant_rate_effect

SPEC = MatchSpec(bootstrap_reps=0, terms="linear", gate=False)
SIZE = 200
COHORTS = 50


@dataclass
class Run:
    setting: str
    selection: str
    submitted: int
    analysed: int
    lost: dict[str, int]              # attrition reason -> rows (intake, linkage, index, matching)
    beyond_max_gap: int
    result: MatchResult
    treated: pd.DataFrame


def through_service(national, realism: str, setting: str, selection: str, seed: int,
                    size: int = SIZE) -> Run:
    upload, _ = sample_cohort(national, size, setting, selection, seed=seed, realism=realism)
    parsed = parse_upload(upload.to_csv(index=False).encode(), "cohort.csv")
    w = national.window
    valid = validate_cohort(parsed, setting=setting, coverage_start=w.index_start,
                            coverage_end=w.intake_end, coverage_note=w.note())
    links = link_cohort(valid.rows, national)
    chosen = select_index_events(links, valid.rows, national, setting)
    attrition = chosen.to_attrition(invalid_rows=valid.counts.invalid,
                                    intake_duplicates=valid.counts.duplicates)
    ev = national.events
    treated = with_person_columns(ev[ev["event_id"].isin(chosen.events["event_id"])],
                                  national.people)
    result = match(treated, comparison_pool(national, treated), SPEC)
    lost = {s.reason: s.removed for s in attrition.steps}
    for reason, n in result.dropped_counts().items():
        lost[reason] = lost.get(reason, 0) + n
    return Run(setting, selection, attrition.submitted, result.n_treated, lost,
               chosen.beyond_max_gap, result, treated)


@pytest.fixture(scope="module")
def runs(national) -> list[Run]:
    load_linkage_model(national)      # trained once per dataset (cached beside it)
    return [through_service(national, "typical", ("custody", "community")[seed % 2],
                            SELECTIONS[(seed // 2) % len(SELECTIONS)], seed)
            for seed in range(COHORTS)]


def test_typical_cohorts_keep_65_to_75_percent_and_count_every_loss(runs):
    submitted = np.array([r.submitted for r in runs])
    analysed = np.array([r.analysed for r in runs])
    retention = analysed / submitted
    reasons = sorted({k for r in runs for k in r.lost})
    lost = pd.DataFrame([{k: r.lost.get(k, 0) for k in reasons} for r in runs])
    share = lost.sum() / submitted.sum()
    gap = sum(r.beyond_max_gap for r in runs) / submitted.sum()
    print(f"\nretention over {len(runs)} typical cohorts: mean {retention.mean():.3f}, "
          f"min {retention.min():.3f}, max {retention.max():.3f}; lost by reason (share of rows "
          f"submitted):\n{share.round(4).to_string()}\n(of no_index_event, beyond the maximum "
          f"gap: {gap:.4f})")
    # every submitted row is analysed or counted once under a reason
    assert (lost.sum(axis=1).to_numpy() + analysed == submitted).all()
    assert 0.65 <= retention.mean() <= 0.75
    assert 0.60 <= retention.min() and retention.max() <= 0.80
    # the realistic causes all show: no sentence in the window or too far from one, identifiers
    # and names that do not link, invalid rows and duplicates
    for reason in ("invalid_row", "duplicate", "not_found", "no_index_event"):
        assert share[reason] > 0.01, reason
    assert share["no_index_event"] > gap > 0.03
    assert share["no_index_event"] == share.max()    # the biggest loss, as in real submissions


def test_placebo_intervals_cover_zero_on_typical_cohorts(runs):
    cover = np.array([[m.ci_low <= 0 <= m.ci_high for m in compare_outcomes(r.result, SPEC)[:2]]
                      for r in runs], dtype=float)
    print(f"\nplacebo coverage on typical cohorts: rate {cover[:, 0].mean():.2f}, "
          f"frequency {cover[:, 1].mean():.2f}")
    assert cover[:, 0].mean() >= 0.86 and cover[:, 1].mean() >= 0.86
    assert cover.mean() <= 0.995                          # not vacuous: some intervals miss


@pytest.mark.parametrize("realism", ["clean", "typical"])
def test_planted_effects_are_recovered(national, realism):
    """A 10-point reduction in the rate and one more re-offence per re-offender, planted on the
    people a 400-person higher-risk cohort analyses, are found with intervals covering them."""
    run = through_service(national, realism, "custody", "higher-risk", seed=77, size=400)
    matched = run.result
    before = compare_outcomes(matched, SPEC)
    pool = comparison_pool(national, run.treated)

    shifted, truth = plant_rate_effect(run.treated, 10.0, seed=3)
    rate = compare_outcomes(match(shifted, pool, SPEC), SPEC)[0]
    # outcomes do not enter the matching: the estimate moves by exactly the planted shift
    assert rate.difference - before[0].difference == pytest.approx(truth, abs=1e-9)
    assert rate.ci_low <= truth <= rate.ci_high and truth < -9
    assert rate.significant and rate.direction == "reduction"

    shifted, truth = plant_frequency_effect(run.treated, 1, seed=4)
    freq = compare_outcomes(match(shifted, pool, SPEC), SPEC)[1]
    assert freq.difference - before[1].difference == pytest.approx(truth, abs=1e-9)
    assert freq.ci_low <= truth <= freq.ci_high
    assert freq.significant and freq.direction == "increase"
