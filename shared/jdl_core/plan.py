"""Planning a submission: from an expected group size and setting (and optionally a rate), the
width of the re-offending-rate interval the analysis will give and the smallest difference it can
detect, before any personal data is sent (``jdl plan``, ``GET /v1/plan``).

The analysis compares the treatment group's rate with the weighted rate of its matched comparison
group using Newcombe's score interval (``outcomes.newcombe_interval``), the comparison group at
its effective size. In the service (k = 5 comparisons per person, with replacement) that
effective size was 3.9-5.0 times the treatment group on the synthetic national data (cohorts of
60-500, custody and community, higher-risk selection), so the plan assumes 4 unless told
otherwise (``comparison_ratio``). The interval's width varies from analysis to analysis with the
rates observed; the plan gives its median and the range holding 95% of analyses, from a seeded
simulation of the two binomial counts through the same interval formula.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Final

import numpy as np
from scipy import stats

from .errors import InvalidArgument
from .outcomes import POWER, newcombe_interval

# One-year proven re-offending rates by setting in the synthetic national data (manifest
# base_rates of a 100,000-person dataset: 0.439 and 0.174 at the default seed, 0.440 and 0.175
# at seed 2013): used when no rate is given.
DEFAULT_RATES: Final[dict[str, float]] = {"custody": 0.44, "community": 0.175}
DEFAULT_COMPARISON_RATIO: Final = 4.0
MAX_SIZE: Final = 10_000_000
SIMULATIONS: Final = 4000


@dataclass(frozen=True)
class Plan:
    """Expected precision of the rate comparison; every figure in percentage points."""

    group_size: int
    setting: str
    rate: float                      # expected one-year re-offending rate, 0-1
    rate_source: str                 # "given" or "national default for the setting"
    comparison_effective_size: float
    ci_level: float
    expected_half_width: float       # median half-width of the interval (points)
    expected_width: float            # median width
    width_low: float                 # 95% of analyses give a width in [width_low, width_high]
    width_high: float
    detectable_difference: float     # smallest difference found with 80% power (points)
    power: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check(group_size: Any, setting: Any, rate: Any, comparison_ratio: Any) -> None:
    if isinstance(group_size, bool) or not isinstance(group_size, (int, np.integer)):
        raise InvalidArgument(f"group size must be a whole number of people, got {group_size!r}")
    if group_size < 1:
        raise InvalidArgument(f"group size must be at least 1, got {group_size}")
    if group_size > MAX_SIZE:
        raise InvalidArgument(f"group size must be at most {MAX_SIZE:,}, got {group_size:,}")
    if setting not in DEFAULT_RATES:
        raise InvalidArgument(f"setting must be one of {', '.join(DEFAULT_RATES)}, got {setting!r}")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float))
                             or not 0.0 <= float(rate) <= 1.0 or math.isnan(float(rate))):
        raise InvalidArgument(f"rate must be a proportion between 0 and 1 (e.g. 0.4 for 40%), "
                              f"got {rate!r}")
    if (isinstance(comparison_ratio, bool) or not isinstance(comparison_ratio, (int, float))
            or not 0.1 <= float(comparison_ratio) <= 1000):
        raise InvalidArgument(f"comparison ratio must be between 0.1 and 1000, got "
                              f"{comparison_ratio!r}")


def manifest_rates(manifest: dict[str, Any]) -> dict[str, float]:
    """The national rates by setting from a dataset manifest (``base_rates.by_disposal``)."""
    by = (manifest.get("base_rates") or {}).get("by_disposal") or {}
    return {k: float(v) for k, v in by.items() if k in DEFAULT_RATES and v is not None}


def plan(group_size: int, setting: str, rate: float | None = None, *,
         comparison_ratio: float = DEFAULT_COMPARISON_RATIO, ci_level: float = 0.95,
         power: float = POWER, seed: int = 0,
         national_rates: dict[str, float] | None = None) -> Plan:
    """Expected interval width and detectable difference for a group of ``group_size`` people.

    Without ``rate``, the national rate for the setting: from ``national_rates`` (a dataset's
    manifest, ``manifest_rates``) when given, else ``DEFAULT_RATES``."""
    _check(group_size, setting, rate, comparison_ratio)
    rates = {**DEFAULT_RATES, **(national_rates or {})}
    p = float(rates[setting] if rate is None else rate)
    n1 = int(group_size)
    n2 = float(comparison_ratio) * n1
    z = float(stats.norm.ppf(0.5 + ci_level / 2))
    rng = np.random.default_rng(seed)
    x1 = rng.binomial(n1, p, SIMULATIONS) / n1
    m2 = max(int(round(n2)), 1)
    x2 = rng.binomial(m2, p, SIMULATIONS) / m2
    widths = np.empty(SIMULATIONS)
    for i in range(SIMULATIONS):
        lo, hi = newcombe_interval(float(x1[i]), n1, float(x2[i]), n2, z)
        widths[i] = 100.0 * (hi - lo)
    w_lo, w_mid, w_hi = np.quantile(widths, [0.025, 0.5, 0.975])
    se = 100.0 * math.sqrt(max(p * (1 - p), 1e-12) * (1 / n1 + 1 / n2))
    mdd = (z + float(stats.norm.ppf(power))) * se
    return Plan(group_size=n1, setting=setting, rate=p,
                rate_source="given" if rate is not None else "national default for the setting",
                comparison_effective_size=n2, ci_level=ci_level,
                expected_half_width=float(w_mid) / 2, expected_width=float(w_mid),
                width_low=float(w_lo), width_high=float(w_hi), detectable_difference=mdd,
                power=power)


def plan_text(p: Plan) -> str:
    """A few plain lines (numbers only; jdl_report words the report)."""
    return "\n".join([
        f"group of {p.group_size:,} people, {p.setting}, expected re-offending rate "
        f"{100 * p.rate:.0f}% ({p.rate_source}); comparison group effective size "
        f"{p.comparison_effective_size:,.0f}",
        f"expected {100 * p.ci_level:.0f}% interval of the rate difference: about "
        f"+/-{p.expected_half_width:.1f} percentage points (width {p.expected_width:.1f}; "
        f"between {p.width_low:.1f} and {p.width_high:.1f} in 95% of analyses)",
        f"smallest difference detectable with {100 * p.power:.0f}% power: "
        f"{p.detectable_difference:.1f} percentage points",
    ])


__all__ = ["DEFAULT_COMPARISON_RATIO", "DEFAULT_RATES", "Plan", "manifest_rates", "plan",
           "plan_text"]
