"""Outcome comparison: the estimator and its standard errors against known answers and
statsmodels, the bootstrap, not-estimable cases, subgroups and the plain-words statements."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from jdl_core.matching import MatchSpec, match
from jdl_core.outcomes import (
    MEASURES,
    cluster_vcov,
    compare_outcomes,
    compare_subgroups,
    statements,
)
from jdl_core.result import MeasureResult
from tests.matching_synth import select_cohort, synth_events


@pytest.fixture(scope="module")
def matched():
    events = synth_events(8000, seed=5)[1]
    treated = select_cohort(events, 300, seed=6)
    return match(treated, events[events["disposal"] == "custody"],
                 MatchSpec(bootstrap_reps=199, subgroup_min=40))


def _long(rows: list[tuple[int, bool, float, int, int, float]]) -> pd.DataFrame:
    """(subclass, treated, pair_weight, reoffended, count, days) -> a matched long frame."""
    df = pd.DataFrame(rows, columns=["subclass", "treated", "pair_weight", "reoffended",
                                     "reoffence_count", "days_to_first"])
    df["event_id"] = np.arange(len(df)) + 100
    df["person_key"] = df["event_id"]
    df["days_to_first"] = df["days_to_first"].astype("Float64")
    return df


class _Fake:
    """Just enough of a MatchResult for compare_outcomes."""

    def __init__(self, long: pd.DataFrame, spec: MatchSpec) -> None:
        self.matched, self.spec = long, spec


@pytest.mark.parametrize("clusters", [1, 2])
def test_cluster_se_equals_statsmodels(clusters):
    rng = np.random.default_rng(0)
    n = 600
    t = rng.random(n) < 0.3
    y = rng.normal(size=n) + 0.4 * t
    w = rng.uniform(0.2, 1.0, n)
    g = [rng.integers(0, 90, n), rng.integers(0, 70, n)][:clusters]
    beta, V, sizes = cluster_vcov(y, t, w, g)
    groups = g[0] if clusters == 1 else np.column_stack(g)
    fit = sm.WLS(y, sm.add_constant(t.astype(float)), weights=w).fit(
        cov_type="cluster", cov_kwds={"groups": groups})
    np.testing.assert_allclose(beta, fit.params, rtol=1e-12)
    np.testing.assert_allclose(V, fit.cov_params(), rtol=1e-10)
    assert sizes == [len(np.unique(x)) for x in g]


def test_known_answer_weighted_means():
    # set 1: treated re-offends (2 offences, day 10); controls 1/2 each: one re-offends
    # set 2: treated does not; one control, re-offends (1 offence, day 30)
    rows = [(1, True, 1.0, 1, 2, 10.0), (1, False, 0.5, 1, 3, 20.0), (1, False, 0.5, 0, 0, None),
            (2, True, 1.0, 0, 0, None), (2, False, 1.0, 1, 1, 30.0)]
    rows = [(s + 2 * copy, *rest) for copy in range(3) for s, *rest in rows]  # three of each set
    spec = MatchSpec(bootstrap_reps=0, min_reoffenders=2, cluster="subclass")
    rate, freq, days = compare_outcomes(_Fake(_long(rows), spec), spec)  # type: ignore[arg-type]
    assert rate.treated_value == pytest.approx(50.0)
    assert rate.comparison_value == pytest.approx(100 * (0.5 + 1.0) / 2)   # weighted: 75%
    assert rate.difference == pytest.approx(-25.0)
    assert freq.treated_value == pytest.approx(1.0)
    assert freq.comparison_value == pytest.approx((0.5 * 3 + 1.0 * 1) / 2)
    assert days.treated_value == pytest.approx(10.0)
    assert days.comparison_value == pytest.approx((0.5 * 20 + 1.0 * 30) / 1.5)
    assert days.higher_is_worse is False and rate.higher_is_worse is True
    assert rate.n_treated == 6 and rate.n_comparison == 9
    assert days.n_treated == 3                                # re-offenders only


def test_measures_on_a_matched_cohort(matched):
    rate, freq, days = compare_outcomes(matched)
    for m in (rate, freq, days):
        assert m.estimable and m.ci_low < m.difference < m.ci_high
        assert m.significant == (m.p_value <= 0.05)          # JDL: p <= 0.05
        assert m.significant == (m.ci_low > 0 or m.ci_high < 0)
        assert m.bootstrap_ci_low < m.difference < m.bootstrap_ci_high
        # the bootstrap cross-check is in the same range as the analytic interval
        assert (m.bootstrap_ci_high - m.bootstrap_ci_low) == pytest.approx(m.ci_high - m.ci_low, rel=0.35)
        assert m.direction == ("reduction" if m.difference < 0 else "increase")
    assert 0 <= rate.treated_value <= 100 and rate.unit == "%"
    assert rate.difference == pytest.approx(rate.treated_value - rate.comparison_value)
    assert days.n_treated < rate.n_treated
    assert [m.name for m in (rate, freq, days)] == [d.name for d in MEASURES]


def test_bootstrap_is_reproducible_and_optional(matched):
    a, b = compare_outcomes(matched)[0], compare_outcomes(matched)[0]
    assert (a.bootstrap_ci_low, a.bootstrap_ci_high) == (b.bootstrap_ci_low, b.bootstrap_ci_high)
    off = compare_outcomes(matched, matched.spec.model_copy(update={"bootstrap_reps": 0}))[0]
    assert off.bootstrap_ci_low is None and off.ci_low == a.ci_low


def test_one_way_clustering_is_narrower_when_controls_are_reused(matched):
    # the cluster-robust t interval (frequency's own; the rate's is stored beside its score
    # interval, which takes the comparison group's effective size per person either way)
    two = compare_outcomes(matched)
    one = compare_outcomes(matched, matched.spec.model_copy(update={"cluster": "subclass"}))
    assert one[1].difference == two[1].difference
    assert (one[1].ci_high - one[1].ci_low) < (two[1].ci_high - two[1].ci_low)
    ct = [{i.method: i for i in m.other_intervals}["cluster_t"] for m in (one[0], two[0])]
    assert (ct[0].ci_high - ct[0].ci_low) < (ct[1].ci_high - ct[1].ci_low)


def test_not_estimable_cases_do_not_crash():
    spec = MatchSpec(bootstrap_reps=0)
    nobody = [(i, True, 1.0, 0, 0, None) for i in range(70)] + \
             [(i, False, 1.0, 0, 0, None) for i in range(70)]
    rate, freq, days = compare_outcomes(_Fake(_long(nobody), spec), spec)  # type: ignore[arg-type]
    # 0% in both groups: the score interval still says how large a difference is compatible
    # with 70 people each (the Wald interval has no variance to work with)
    assert rate.estimable and rate.difference == 0 and rate.p_value == 1.0
    assert rate.ci_low < -2 and rate.ci_high > 2 and not rate.significant
    wald = spec.model_copy(update={"proportion_interval": "cluster_t"})
    rate_w = compare_outcomes(_Fake(_long(nobody), wald), wald)[0]  # type: ignore[arg-type]
    assert not rate_w.estimable and "same" in rate_w.reason and rate_w.code == "no_variation"
    assert not freq.estimable
    assert not days.estimable and "re-offended" in days.reason and days.ci_low is None
    few = [(i, True, 1.0, int(i < 3), int(i < 3), 5.0 if i < 3 else None) for i in range(70)] + \
          [(i, False, 1.0, int(i % 2), int(i % 2), 9.0 if i % 2 else None) for i in range(70)]
    rate, _, days = compare_outcomes(_Fake(_long(few), spec), spec)  # type: ignore[arg-type]
    assert rate.estimable
    assert not days.estimable and "only 3 people in the treatment group" in days.reason


def test_subgroups_need_enough_treated_people(matched):
    subs = compare_subgroups(matched)
    counts = matched.matched[matched.matched["treated"]]["sex"].value_counts()
    sexes = {s.level: s for s in subs if s.variable == "sex"}
    assert set(sexes) == {lv for lv, n in counts.items() if n >= 40}
    for s in subs:
        assert s.n_treated >= 40 and len(s.measures) == 3
    # a subgroup's estimate is the estimate on the matched sets of its treated people
    m = matched.matched
    men_sets = m.loc[m["treated"] & (m["sex"] == "M"), "subclass"]
    part = m[m["subclass"].isin(men_sets)]
    direct = compare_outcomes(_Fake(part, matched.spec), matched.spec)[0]  # type: ignore[arg-type]
    assert sexes["M"].measures[0].difference == pytest.approx(direct.difference)
    assert sexes["M"].n_treated == int(counts["M"])


def _measure(name: str, diff: float, lo: float, hi: float, p: float) -> MeasureResult:
    d = {m.name: m for m in MEASURES}[name]
    return MeasureResult(name=name, label=d.label, unit=d.unit, difference_unit=d.difference_unit,
                         treated_value=1, comparison_value=1, difference=diff, ci_low=lo,
                         ci_high=hi, p_value=p, significant=p < 0.05,
                         direction="reduction" if diff < 0 else "increase",
                         higher_is_worse=d.higher_is_worse)


def test_statements_follow_significance_and_direction():
    s = statements([_measure("rate", -8.2, -12.6, -3.8, 0.001),
                    _measure("frequency", 0.3, -0.1, 0.7, 0.2),
                    _measure("days_to_first", 21, 4.4, 37.6, 0.01)], "taking part in X")
    assert ("This analysis provides evidence that taking part in X may decrease the proportion of "
            "people who commit a proven re-offence in a one-year period by between 4 and 13 "
            "percentage points.") in s.can_say
    assert any("does not provide clear evidence" in c and "number of proven re-offences" in c
               for c in s.can_say)
    assert any("lengthen the average time to first proven re-offence" in c and "between 4 and 38 days" in c
               for c in s.can_say)
    assert any("taking part in X increases the proportion" in c for c in s.cannot_say)
    assert any("has no effect on the number of proven re-offences" in c for c in s.cannot_say)


def test_statements_small_intervals_keep_enough_decimals():
    s = statements([_measure("rate", -2.0, -3.6, -0.3, 0.03)])
    assert "between 0.3 and 3.6 percentage points" in s.can_say[0]
    s = statements([_measure("frequency", 0.2, 0.11, 0.29, 0.01)])
    assert "may increase the number of proven re-offences" in s.can_say[0]
    assert "between 0.11 and 0.29 offences per person" in s.can_say[0]


def test_statements_for_a_measure_that_could_not_be_estimated():
    m = MeasureResult(name="days_to_first", label="Time to first proven re-offence", unit="days",
                      difference_unit="days", estimable=False, reason="too few re-offenders")
    s = statements([m])
    assert s.can_say == [] and "too few re-offenders" in s.cannot_say[0]
