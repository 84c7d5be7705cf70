"""The JDL's rules on hand-built matched frames with known answers: p <= 0.05, measures 3-7 only
with >= 30 treated re-offenders, significance listed only with n*p >= 10, seriousness rows with
n*p < 10 not shown; the JDL weighted t-test; the number needed / power / detectable difference;
days free over everyone."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from jdl_core.matching import MatchSpec
from jdl_core.outcomes import (
    FURTHER_MEASURES,
    MEASURES,
    _measures,
    jdl_t_test,
    newcombe_interval,
    newcombe_p_value,
    null_result_info,
)

SPEC = MatchSpec(bootstrap_reps=0)
GATED = [m.name for m in (*MEASURES, *FURTHER_MEASURES) if m.gated]


def frame(n_t: int, reoff_t: int, n_c: int = 600, reoff_c: int = 240, *, indictable_t: int = 0,
          custodial_t: int = 0) -> pd.DataFrame:
    """n_t treated each in its own set with n_c / n_t comparison people (distinct, weight
    1/k); the first ``reoff_t`` treated re-offend, the first ``indictable_t`` of them with an
    indictable first re-offence and ``custodial_t`` with custody for it; comparisons: every
    ``n_c / reoff_c``-th re-offends (summary, one in four with custody)."""
    k = n_c // n_t
    rows = []
    for i in range(n_t):
        r = i < reoff_t
        rows.append(dict(subclass=i, treated=True, pair_weight=1.0, reoffended=int(r),
                         reoffence_count=2 * r, days_to_first=40.0 + i if r else np.nan,
                         first_seriousness=("indictable" if i < indictable_t else "summary")
                         if r else None,
                         first_custodial=int(r and i < custodial_t), custodial_sentences=int(r and i < custodial_t)))
    step = n_c / reoff_c
    for j in range(n_t * k):
        r = (j % round(step)) == 0
        rows.append(dict(subclass=j // k, treated=False, pair_weight=1.0 / k, reoffended=int(r),
                         reoffence_count=3 * r, days_to_first=90.0 + j % 50 if r else np.nan,
                         first_seriousness="summary" if r else None,
                         first_custodial=int(r and j % 4 == 0),
                         custodial_sentences=int(r and j % 4 == 0)))
    df = pd.DataFrame(rows)
    df["event_id"] = np.arange(len(df))
    df["person_key"] = df["event_id"]
    df["days_to_first"] = df["days_to_first"].astype("Float64")
    ser = df["first_seriousness"]
    df["reoffences_indictable"] = (ser == "indictable").astype(int)
    df["reoffences_either_way"] = 0
    df["reoffences_summary"] = (ser == "summary").astype(int) * df["reoffence_count"].clip(upper=1)
    return df


def _all(df: pd.DataFrame, spec: MatchSpec = SPEC) -> dict[str, object]:
    out = _measures(df, spec) + _measures(df, spec, defs=FURTHER_MEASURES)
    return {m.name: m for m in out}


@pytest.mark.parametrize(("reoffenders", "shown"), [(29, False), (30, True)])
def test_29_or_30_treated_reoffenders_switch_measures_3_to_7(reoffenders, shown):
    m = _all(frame(100, reoffenders, indictable_t=12, custodial_t=12))
    assert len(GATED) == 9   # time, 3 + 3 seriousness rows, custody, custodial sentences
    for name in GATED:
        assert (m[name].code == "too_few_treated_reoffenders") is (not shown), name
        # shown: estimated, unless a seriousness row falls to the n*p rule (no treated person's
        # first re-offence was either way here)
        assert m[name].estimable is (shown and "either_way" not in name), name
        if not shown:
            assert m[name].difference is None and "30" in m[name].reason
    # measures 1-2 and the beyond-JDL days free are never gated by it
    for name in ("rate", "frequency", "days_free"):
        assert m[name].estimable
    assert [x.jdl_measure for x in m.values()] == [1, 2, 3, 4, 4, 4, 5, 5, 5, 6, 7, None]


@pytest.mark.parametrize(("events", "listed"), [(9, False), (10, True)])
def test_np_of_9_or_10_switches_the_significance_listing(events, listed):
    # 9 or 10 of 200 treated re-offend against 40% in the comparison: highly significant,
    # but the JDL lists it as significant only when n*p >= 10
    rate = _all(frame(200, events, n_c=1000, reoff_c=400))["rate"]
    assert rate.significant and rate.p_value < 1e-6
    assert rate.treated_events == events
    assert rate.listed_significant is listed


@pytest.mark.parametrize(("indictable", "shown"), [(9, False), (10, True)])
def test_seriousness_rows_below_np_10_are_not_shown(indictable, shown):
    m = _all(frame(100, 40, indictable_t=indictable, custodial_t=20))
    row = m["first_indictable"]
    assert row.treated_events == indictable
    assert row.estimable is shown
    assert (row.code == "np_below_min") is (not shown)
    if not shown:
        assert row.treated_value is None and row.ci_low is None
    # custody for the first re-offence is not a seriousness row: shown, listed by its own n*p
    assert m["first_custodial"].estimable and m["first_custodial"].treated_events == 20


def test_significance_is_p_at_most_005_and_agrees_with_the_interval():
    z = float(stats.norm.ppf(0.975))
    rng = np.random.default_rng(0)
    for _ in range(300):
        n1, n2 = int(rng.integers(30, 400)), float(rng.uniform(50, 2000))
        p1, p2 = rng.integers(0, n1 + 1) / n1, float(rng.uniform(0, 1))
        lo, hi = newcombe_interval(p1, n1, p2, n2, z)
        p = newcombe_p_value(p1, n1, p2, n2)
        if abs(p - 0.05) > 1e-6:
            assert (p <= 0.05) == (lo > 0 or hi < 0)
    # at p = 0.05 exactly the interval's end sits on 0: that counts as significant (JDL: <=)
    p1, n1, p2, n2 = 0.30, 100, 0.42, 400
    p = newcombe_p_value(p1, n1, p2, n2)
    lo, hi = newcombe_interval(p1, n1, p2, n2, float(stats.norm.isf(p / 2)))
    assert hi == pytest.approx(0.0, abs=1e-8)


def test_jdl_weighted_t_test_is_welch_with_normalised_weights():
    rng = np.random.default_rng(1)
    yt, yc = rng.normal(1.0, 1.0, 80), rng.normal(0.7, 1.3, 300)
    y = np.r_[yt, yc]
    t = np.r_[np.ones(80, bool), np.zeros(300, bool)]
    w = np.r_[np.ones(80), np.full(300, 0.2)]        # equal comparison weights: plain Welch
    r = jdl_t_test(y, t, w, np.arange(380), 0.95)
    ref = stats.ttest_ind(yt, yc, equal_var=False)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert r.difference == pytest.approx(yt.mean() - yc.mean())
    # a record serving two sets counts once with its summed weight (wtd.t.test on records)
    w2 = w.copy()
    w2[80] = 0.4
    r2 = jdl_t_test(y, t, w2, np.arange(380), 0.95)
    dup = jdl_t_test(np.r_[y, yc[0]], np.r_[t, False], np.r_[w, 0.2], np.r_[np.arange(380), 80], 0.95)
    assert dup.p_value == pytest.approx(r2.p_value, rel=1e-12)


def test_number_needed_power_and_detectable_difference():
    # difference -4 points, 95% CI -12..+4 at n = 100: SE = 16 / (2 * 1.96) = 4.08
    info = null_result_info(-4.0, -12.0, 4.0, 100)
    z, zp = stats.norm.ppf(0.975), stats.norm.ppf(0.8)
    se = 16.0 / (2 * z)
    assert info.n_for_significance == math.ceil(100 * (z * se / 4) ** 2) == 400
    assert info.n_for_80_power == math.ceil(100 * ((z + zp) * se / 4) ** 2)
    assert info.detectable_difference == pytest.approx((z + zp) * se, rel=1e-9)
    assert null_result_info(0.0, -5, 5, 100).n_for_significance is None
    # a negligible difference: no size in the millions, a flag instead
    tiny = null_result_info(-0.01, -5.0, 5.0, 400)
    assert tiny.n_for_significance is None and tiny.n_for_80_power is None and tiny.beyond_limit
    # on a real frame: present for the non-significant rate, absent when significant
    ns = _all(frame(100, 38, n_c=600, reoff_c=200))["rate"]     # 38% against 33%
    assert not ns.significant and ns.null_result is not None
    assert ns.null_result.n_for_significance > 100
    sig = _all(frame(200, 10, n_c=1000, reoff_c=400))["rate"]
    assert sig.significant and sig.null_result is None


def test_days_free_counts_everyone_and_non_reoffenders_at_365():
    df = frame(100, 40)
    m = _all(df)["days_free"]
    t = df[df["treated"]]
    expected = np.where(t["reoffended"] == 1, t["days_to_first"].astype(float), 365.0).mean()
    assert m.treated_value == pytest.approx(expected)
    assert m.n_treated == 100 and m.higher_is_worse is False and m.jdl_measure is None
