"""E-values (jdl_core.sensitivity) against VanderWeele & Ding's worked values, and in a result."""
from __future__ import annotations

import math

import pytest

from jdl_core.result import MeasureResult
from jdl_core.sensitivity import e_value, rate_sensitivity


def _rate(t: float, c: float, lo: float, hi: float, significant: bool) -> MeasureResult:
    return MeasureResult(name="rate", label="rate", unit="%", difference_unit="percentage points",
                         treated_value=t, comparison_value=c, difference=t - c, ci_low=lo,
                         ci_high=hi, p_value=0.01 if significant else 0.4, significant=significant)


def test_e_value_known_answers():
    # VanderWeele & Ding (2017): RR 3.9 -> E 7.26; protective RR 0.8 -> 1/0.8 = 1.25 -> 1.81
    assert e_value(3.9) == pytest.approx(7.26, abs=0.01)
    assert e_value(0.8) == pytest.approx(1.25 + math.sqrt(1.25 * 0.25), rel=1e-12)
    assert e_value(1.0) == 1.0


def test_rate_sensitivity_for_a_significant_reduction():
    # 34.7% vs 42.0%, difference -7.3 (-10.8 to -3.6): RR 0.826, upper limit (42 - 3.6) / 42
    s = rate_sensitivity(_rate(34.7, 42.0, -10.8, -3.6, True))
    assert s is not None
    assert s.risk_ratio == pytest.approx(34.7 / 42.0)
    assert s.risk_ratio_ci_high == pytest.approx(38.4 / 42.0)
    assert s.e_value == pytest.approx(e_value(34.7 / 42.0))
    assert s.e_value_ci == pytest.approx(e_value(38.4 / 42.0))
    assert 1.0 < s.e_value_ci < s.e_value


def test_no_sensitivity_without_a_significant_rate():
    assert rate_sensitivity(_rate(40.0, 42.0, -6.0, 2.0, False)) is None
    nope = _rate(40.0, 42.0, -6.0, 2.0, True).model_copy(update={"estimable": False})
    assert rate_sensitivity(nope) is None


def test_significant_headline_carries_e_values(national):
    from jdl_core.analysis import analyse_index_events
    from jdl_core.matching import MatchSpec
    from jdl_core.result import ProgrammeInfo
    from jdl_core.synth.cohort import sample_cohort
    from tests.matching_synth import plant_rate_effect

    _, truth = sample_cohort(national, 400, "custody", "higher-risk", seed=22, realism="clean")
    treated = national.events[national.events["event_id"].isin(truth["event_id"])]
    planted, _ = plant_rate_effect(treated, 20.0, seed=1)
    r = analyse_index_events(planted, national, MatchSpec(bootstrap_reps=0), programme=ProgrammeInfo(
        organisation="O", programme="P", setting="custody"))
    rate = r.measure("rate")
    assert rate.significant and r.verdict
    assert r.sensitivity is not None
    assert r.sensitivity.risk_ratio == pytest.approx(rate.treated_value / rate.comparison_value)
    assert r.sensitivity.e_value > r.sensitivity.e_value_ci > 1.0
