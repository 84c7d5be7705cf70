"""JDL measures 4-7 and the beyond-JDL days free against the generator's truth: the seriousness
and custody outcomes follow the documented model (risk_model.json), null cohorts are covered,
a planted effect on custody for the first re-offence is recovered within its interval, and days
free over everyone reports a prevention effect the re-offenders-only days cannot."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jdl_core import schema
from jdl_core.analysis import with_person_columns
from jdl_core.matching import MatchSpec, match
from jdl_core.outcomes import FURTHER_MEASURES, _measures, compare_further, compare_outcomes
from jdl_core.synth import risk
from tests.matching_synth import select_cohort


@pytest.fixture(scope="module")
def reoffenders(national) -> pd.DataFrame:
    ev = national.events
    return ev[ev["reoffended"] == 1]


def test_outcome_columns_are_consistent(national):
    ev = national.events
    by = ev[["reoffences_indictable", "reoffences_either_way", "reoffences_summary"]].astype(int)
    assert (by.sum(axis=1) == ev["reoffence_count"].astype(int)).all()
    none = ev["reoffended"] == 0
    assert ev.loc[none, "first_seriousness"].isna().all()
    assert (ev.loc[none, ["first_custodial", "custodial_sentences"]].astype(int) == 0).all().all()
    assert ev.loc[~none, "first_seriousness"].isin(schema.SERIOUSNESS).all()
    assert (ev["custodial_sentences"].astype(int) >= ev["first_custodial"].astype(int)).all()
    assert (ev["custodial_sentences"] <= ev["reoffence_count"]).all()
    # the first re-offence is counted under its own seriousness
    for s in schema.SERIOUSNESS:
        first = ev["first_seriousness"] == s
        assert (ev.loc[first.fillna(False), f"reoffences_{s}"] >= 1).all()


def test_seriousness_follows_the_model_by_offence_group(national, reoffenders):
    model = national.risk_model["seriousness_model"]["by_offence_group"]
    for group, probs in model.items():
        sub = reoffenders[reoffenders["offence_group"] == group]
        if len(sub) < 400:
            continue
        for s, p in zip(schema.SERIOUSNESS, probs):
            observed = float((sub["first_seriousness"] == s).mean())
            se = np.sqrt(p * (1 - p) / len(sub))
            assert abs(observed - p) < 4 * se + 1e-9, (group, s, observed, p)
    # overall: indictable-only a few per cent, either-way and summary sharing the rest
    share = reoffenders["first_seriousness"].value_counts(normalize=True)
    assert 0.02 < share["indictable"] < 0.07 and 0.4 < share["either_way"] < 0.6


def test_custody_for_the_first_reoffence_follows_the_model(national, reoffenders):
    codes = reoffenders["first_seriousness"].map(
        {s: i for i, s in enumerate(schema.SERIOUSNESS)}).to_numpy(dtype=int)
    p = risk.custody_probability(codes, reoffenders["prev_custody"], reoffenders["prev_offences"],
                                 (reoffenders["disposal"] == "custody").to_numpy(),
                                 national.risk_model)
    y = reoffenders["first_custodial"].to_numpy(dtype=float)
    for s in range(3):
        k = codes == s
        se = np.sqrt(np.sum(p[k] * (1 - p[k]))) / k.sum()
        assert abs(y[k].mean() - p[k].mean()) < 4 * se, (s, y[k].mean(), p[k].mean())
    # more likely after custody than after a community order (documented calibration)
    rate = reoffenders.groupby("disposal")["first_custodial"].mean()
    assert rate["custody"] > rate["community"] + 0.08


# The measures are under test here, not the matching: a linear propensity model and no gate keep
# the repeated matches quick (the chosen specification and the gate are tested in test_matching).
def _events(national, years=(2004, 2008)) -> pd.DataFrame:
    ev = national.events
    ev = ev[(ev["disposal"] == "custody") & ev["index_year"].between(*years)]
    return with_person_columns(ev, national.people)


def _plant_custody(frame: pd.DataFrame, rng: np.random.Generator, share: float = 0.6
                   ) -> tuple[pd.DataFrame, float]:
    """The programme keeps ``share`` of the treated people jailed for their first re-offence
    out of custody; returns the new frame and the true change in points."""
    out = frame.copy()
    treated = out["treated"].to_numpy(dtype=bool) if "treated" in out else np.ones(len(out), bool)
    jailed = treated & (out["first_custodial"] == 1).to_numpy()
    spared = jailed & (rng.random(len(out)) < share)
    out.loc[spared, "first_custodial"] = 0
    out.loc[spared, "custodial_sentences"] = out.loc[spared, "custodial_sentences"] - 1
    return out, -100.0 * spared.sum() / treated.sum()


def test_null_and_planted_cohorts_are_covered_on_measures_4_to_7(national):
    events = _events(national)
    spec = MatchSpec(bootstrap_reps=0, terms="linear", gate=False)
    cover, planted = [], []
    for rep in range(30):
        cohort = select_cohort(events, 300, seed=700 + rep, strength=1.5)
        result = match(cohort, events, spec)
        further = _measures(result.matched, spec, defs=FURTHER_MEASURES)
        cover.append({m.name: m.ci_low <= 0 <= m.ci_high for m in further if m.estimable})
        # outcomes do not enter matching: plant on the matched treated rows directly
        shifted, truth = _plant_custody(result.matched, np.random.default_rng(rep))
        m = _measures(shifted, spec, defs=FURTHER_MEASURES[6:7])[0]
        assert m.name == "first_custodial"
        planted.append(m.ci_low <= truth <= m.ci_high)
    rates = pd.DataFrame(cover)[["first_custodial", "custodial_sentences", "days_free",
                                 "first_summary", "first_either_way"]].mean()
    print(rates.round(3).to_dict(), "planted:", np.mean(planted))
    # 30 repeats: with 95% coverage, 26 or more cover with probability about 0.98
    assert (rates >= 0.86).all() and np.mean(planted) >= 0.86


@pytest.fixture(scope="module")
def planted_base(national):
    events = _events(national)
    cohort = select_cohort(events, 800, seed=91, strength=1.5)
    spec = MatchSpec(bootstrap_reps=0, terms="linear", gate=False)
    return events, cohort, spec, compare_further(match(cohort, events, spec), spec)


def test_planted_effect_on_custody_for_the_first_reoffence_is_recovered(planted_base):
    events, cohort, spec, before = planted_base
    shifted, truth = _plant_custody(cohort, np.random.default_rng(5))
    assert truth < -5
    after = {m.name: m for m in compare_further(match(shifted, events, spec), spec)}
    was = {m.name: m for m in before}
    m = after["first_custodial"]
    # the estimate moves by exactly the planted change, and finds it
    assert m.difference - was["first_custodial"].difference == pytest.approx(truth, abs=1e-9)
    assert m.ci_high < 0 and m.significant and m.listed_significant and m.direction == "reduction"
    assert not was["first_custodial"].significant                 # no effect before planting
    spared = (cohort["first_custodial"] == 1).sum() - (shifted["first_custodial"] == 1).sum()
    c = after["custodial_sentences"]
    assert c.difference - was["custodial_sentences"].difference == pytest.approx(
        -spared / len(shifted), abs=1e-9)
    # nothing else moved: seriousness rows are unchanged
    for s in schema.SERIOUSNESS:
        assert after[f"first_{s}"].difference == was[f"first_{s}"].difference


def test_days_free_sees_prevention_that_the_reoffenders_only_days_misread(planted_base):
    events, cohort, spec, before = planted_base
    # the programme prevents re-offending among the lower-risk half of its re-offenders, and
    # changes nobody's timing
    shifted = cohort.copy()
    re = (shifted["reoffended"] == 1).to_numpy()
    low = re & (shifted["ogrs_score"] < shifted.loc[re, "ogrs_score"].median()).to_numpy()
    gain = (365 - shifted.loc[low, "days_to_first"].astype(float)).sum() / len(shifted)
    for col in ("reoffended", "reoffence_count", "first_custodial", "custodial_sentences",
                "reoffences_indictable", "reoffences_either_way", "reoffences_summary"):
        shifted.loc[low, col] = 0
    shifted.loc[low, ["days_to_first", "first_seriousness"]] = pd.NA
    result = match(shifted, events, spec)
    days_free = {m.name: m for m in compare_further(result, spec)}["days_free"]
    was = {m.name: m for m in before}["days_free"]
    assert days_free.difference - was.difference == pytest.approx(gain, abs=1e-6)
    assert days_free.ci_low <= gain <= days_free.ci_high and days_free.difference > 0
    # the re-offenders-only time is a different quantity: it moved although no timing changed
    base_days = compare_outcomes(match(cohort, events, spec), spec)[2]
    days = compare_outcomes(result, spec)[2]
    assert days.difference != pytest.approx(base_days.difference, abs=0.5)
