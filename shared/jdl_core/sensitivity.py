"""Sensitivity to unmeasured confounding (beyond the JDL): the E-value of a significant rate.

Matching balances only what the national data records. The E-value (VanderWeele & Ding 2017,
Annals of Internal Medicine) says how strong an unrecorded difference would have to be to explain
the result away: the minimum risk ratio that a confounder would need with both taking part and
re-offending, beyond the recorded characteristics. For a risk ratio RR >= 1,
E = RR + sqrt(RR * (RR - 1)); below 1, the same of 1/RR. The E-value of the interval is that of
the limit nearer 1 (1 when the interval includes 1).

The risk ratio is treated rate over the weighted comparison rate; its interval is the difference
interval expressed relative to the comparison rate, (c + L) / c to (c + U) / c, which treats the
comparison rate as known (it rests on about five times as many records as the treated rate).
"""
from __future__ import annotations

import math

from .result import MeasureResult, Sensitivity


def e_value(rr: float) -> float:
    """E-value of a risk ratio (1 for no effect)."""
    if not rr > 0 or not math.isfinite(rr):
        return float("inf") if rr == 0 else float("nan")
    r = rr if rr >= 1 else 1.0 / rr
    return r + math.sqrt(r * (r - 1.0))


def rate_sensitivity(rate: MeasureResult) -> Sensitivity | None:
    """E-values for a significant rate measure; None when not significant or not estimable."""
    if rate.name != "rate" or not rate.estimable or not rate.significant:
        return None
    c = rate.comparison_value
    t = rate.treated_value
    if c is None or t is None or rate.ci_low is None or rate.ci_high is None or c <= 0:
        return None
    rr = t / c
    lo = max((c + rate.ci_low) / c, 0.0)
    hi = (c + rate.ci_high) / c
    if lo <= 1.0 <= hi:
        e_ci = 1.0
    else:
        e_ci = e_value(lo if rr >= 1 else hi) if (lo > 0 or rr >= 1) else float("inf")
    return Sensitivity(risk_ratio=rr, risk_ratio_ci_low=lo, risk_ratio_ci_high=hi,
                       e_value=e_value(rr), e_value_ci=e_ci)
