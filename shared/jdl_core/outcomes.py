"""Outcome comparison after matching: the three headline measures, their intervals and tests,
subgroups, and the plain-words statements of what the organisation can and cannot say.

Estimation follows MatchIt's guidance for matching with replacement ("Estimating effects after
matching"): on the long-format matched data (one row per unit per matched set, MatchIt's
``get_matches``), weighted least squares of the outcome on treatment, with weight 1 for the
treated unit and 1/k_i for each of the k_i comparison records of set i. The coefficient is the
difference between the treated mean and the weighted comparison mean. Its standard error is
cluster-robust, two-way on matched set and on person (a comparison record serving several sets,
and a person with several index events in the pool, are not independent) as in Austin & Cafri
(2020) and ``sandwich::vcovCL(fit, cluster = ~subclass + id)`` with HC1; ``MatchSpec.cluster =
"subclass"`` clusters on matched set only. The interval uses Student's t with min(G) - 1 degrees
of freedom (G the numbers of clusters). A cluster bootstrap (resampling matched sets, percentile
interval) is reported beside it as a cross-check.

Time to first re-offence is compared among re-offenders only, in both groups: the same
regression on the rows of people who re-offended.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .errors import DataError
from .matching.core import MatchResult
from .matching.spec import MatchSpec
from .result import MeasureName, MeasureResult, Statements, SubgroupResult


@dataclass(frozen=True)
class MeasureDef:
    name: MeasureName
    label: str
    unit: str
    difference_unit: str
    column: str
    scale: float                 # 100 turns a 0/1 outcome into a percentage
    higher_is_worse: bool
    among_reoffenders: bool


MEASURES: Final[tuple[MeasureDef, ...]] = (
    MeasureDef("rate", "One-year proven re-offending rate", "%", "percentage points",
               "reoffended", 100.0, True, False),
    MeasureDef("frequency", "Frequency of one-year proven re-offending", "re-offences per person",
               "re-offences per person", "reoffence_count", 1.0, True, False),
    MeasureDef("days_to_first", "Time to first proven re-offence (re-offenders only)", "days",
               "days", "days_to_first", 1.0, False, True),
)
OUTCOME_COLUMNS: Final = ("reoffended", "reoffence_count", "days_to_first")

# Age bands for subgroups: (label, lowest age, highest age)
AGE_BANDS: Final[tuple[tuple[str, int, int], ...]] = (
    ("Under 18", 0, 17), ("18-24", 18, 24), ("25-34", 25, 34), ("35-49", 35, 49), ("50+", 50, 200))


def age_band(age: pd.Series) -> pd.Series:
    labels = [b[0] for b in AGE_BANDS]
    bins = [AGE_BANDS[0][1] - 0.5] + [b[2] + 0.5 for b in AGE_BANDS]
    return pd.cut(age.astype(float), bins=bins, labels=labels).astype(str)


# -- the estimator --------------------------------------------------------------------------

@dataclass(frozen=True)
class Estimate:
    treated_mean: float
    comparison_mean: float
    difference: float
    se: float
    df: int
    ci_low: float
    ci_high: float
    p_value: float
    boot_low: float | None
    boot_high: float | None


def _rowsum(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Sum of the rows of ``values`` (n x p) within each group code."""
    codes, g = np.unique(groups, return_inverse=True)
    out = np.zeros((len(codes), values.shape[1]))
    for j in range(values.shape[1]):
        out[:, j] = np.bincount(g, weights=values[:, j], minlength=len(codes))
    return out


def cluster_vcov(y: np.ndarray, t: np.ndarray, w: np.ndarray,
                 clusters: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """WLS of y on (1, t) with multiway cluster-robust covariance (sandwich::vcovCL, HC1).

    Returns (coefficients, covariance, number of clusters of each clustering variable).
    Two-way follows Cameron, Gelbach & Miller: V_a + V_b - V_ab, each with its G/(G-1).
    """
    n = len(y)
    X = np.column_stack([np.ones(n), t.astype(np.float64)])
    xtwx = X.T @ (X * w[:, None])
    bread = np.linalg.inv(xtwx)
    beta = bread @ (X.T @ (w * y))
    ef = X * (w * (y - X @ beta))[:, None]      # estimating functions, as sandwich::estfun
    terms: list[tuple[int, np.ndarray]] = [(1, c) for c in clusters]
    if len(clusters) == 2:
        a, b = clusters
        inter = pd.MultiIndex.from_arrays([a, b]).codes
        terms.append((-1, np.asarray(inter[0], np.int64) * (int(inter[1].max()) + 1) + inter[1]))
    meat = np.zeros((2, 2))
    sizes: list[int] = []
    for sign, cl in terms:
        u = _rowsum(ef, cl)
        g = u.shape[0]
        sizes.append(g)
        meat += sign * (g / (g - 1) if g > 1 else 1.0) * (u.T @ u)
    meat *= (n - 1) / (n - 2)                     # HC1: k = 2 coefficients
    return beta, bread @ meat @ bread, sizes[:len(clusters)]


def _estimate(y: np.ndarray, t: np.ndarray, w: np.ndarray, subclass: np.ndarray,
              person: np.ndarray, spec: MatchSpec, rng: np.random.Generator) -> Estimate:
    clusters = [subclass, person] if spec.cluster == "subclass+id" else [subclass]
    beta, V, sizes = cluster_vcov(y, t, w, clusters)
    var = V[1, 1]
    if len(clusters) == 2 and not var > 0:
        # the two-way estimate can come out non-positive; fall back to the larger one-way one
        var = max(cluster_vcov(y, t, w, [c])[1][1, 1] for c in clusters)
    se = float(np.sqrt(var)) if var > 0 else 0.0
    df = max(min(sizes) - 1, 1)
    diff = float(beta[1])
    q = float(stats.t.ppf(0.5 + spec.ci_level / 2, df))
    p = float(2 * stats.t.sf(abs(diff) / se, df)) if se > 0 else float("nan")
    tm = float(np.sum(y[t]) / t.sum())
    cm = float(np.sum((w * y)[~t]) / np.sum(w[~t]))
    boot = _cluster_bootstrap(y, t, w, subclass, spec, rng)
    return Estimate(tm, cm, diff, se, df, diff - q * se, diff + q * se, p, *boot)


def _cluster_bootstrap(y: np.ndarray, t: np.ndarray, w: np.ndarray, subclass: np.ndarray,
                       spec: MatchSpec, rng: np.random.Generator) -> tuple[float | None, float | None]:
    """Percentile interval of the difference, resampling whole matched sets."""
    reps = spec.bootstrap_reps
    if reps == 0:
        return None, None
    codes, s = np.unique(subclass, return_inverse=True)
    S = len(codes)
    T = np.bincount(s, weights=y * t, minlength=S)
    N = np.bincount(s, weights=t.astype(float), minlength=S)
    C = np.bincount(s, weights=w * y * ~t, minlength=S)
    Wc = np.bincount(s, weights=w * ~t, minlength=S)
    out = np.empty(reps)
    chunk = max(1, 2_000_000 // max(S, 1))     # bound the index matrix to ~16 MB
    for start in range(0, reps, chunk):
        b = min(chunk, reps - start)
        idx = rng.integers(0, S, size=(b, S))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start:start + b] = T[idx].sum(1) / N[idx].sum(1) - C[idx].sum(1) / Wc[idx].sum(1)
    ok = np.isfinite(out)
    if ok.mean() < 0.9:
        return None, None
    alpha = 1 - spec.ci_level
    lo, hi = np.quantile(out[ok], [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


# -- measures --------------------------------------------------------------------------------

def _not_estimable(m: MeasureDef, reason: str, n_t: int = 0, n_c: int = 0) -> MeasureResult:
    return MeasureResult(name=m.name, label=m.label, unit=m.unit, difference_unit=m.difference_unit,
                         estimable=False, reason=reason, n_treated=n_t, n_comparison=n_c,
                         higher_is_worse=m.higher_is_worse)


def _measure(m: MeasureDef, long: pd.DataFrame, spec: MatchSpec,
             rng: np.random.Generator) -> MeasureResult:
    t_all = long["treated"].to_numpy(dtype=bool)
    if m.among_reoffenders:
        rows = long["reoffended"].to_numpy(dtype=np.float64) == 1
    else:
        rows = np.ones(len(long), dtype=bool)
    sub = long[rows]
    t = t_all[rows]
    n_t = int(t.sum())
    n_c = int(sub.loc[~t, "event_id"].nunique())
    if m.among_reoffenders:
        if n_t < spec.min_reoffenders or n_c < spec.min_reoffenders:
            who = "treatment" if n_t < spec.min_reoffenders else "comparison"
            return _not_estimable(m, (
                f"only {min(n_t, n_c)} people in the {who} group re-offended; at least "
                f"{spec.min_reoffenders} re-offenders in each group are needed to compare the time "
                "to first re-offence"), n_t, n_c)
    elif n_t < 2 or n_c < 2:
        return _not_estimable(m, "too few people in one of the groups to compare", n_t, n_c)
    y = sub[m.column].to_numpy(dtype=np.float64, na_value=np.nan) * m.scale
    if np.isnan(y).any():
        raise DataError(f"outcome {m.column!r} is missing for {int(np.isnan(y).sum())} matched "
                        "record(s); only events with complete follow-up may be analysed")
    if np.ptp(y) == 0:
        return _not_estimable(m, (
            f"everyone in both groups has the same {m.label.lower()} ({y[0]:g}), so there is no "
            "variation to estimate a difference and its uncertainty from"), n_t, n_c)
    w = sub["pair_weight"].to_numpy(dtype=np.float64)
    e = _estimate(y, t, w, sub["subclass"].to_numpy(), sub["person_key"].to_numpy(), spec, rng)
    if not e.se > 0:
        return _not_estimable(m, "the difference has no estimable uncertainty (no variation "
                                 "within the groups)", n_t, n_c)
    alpha = 1 - spec.ci_level
    return MeasureResult(
        name=m.name, label=m.label, unit=m.unit, difference_unit=m.difference_unit,
        n_treated=n_t, n_comparison=n_c, treated_value=e.treated_mean,
        comparison_value=e.comparison_mean, difference=e.difference, ci_low=e.ci_low,
        ci_high=e.ci_high, p_value=e.p_value, significant=bool(e.p_value < alpha),
        bootstrap_ci_low=e.boot_low, bootstrap_ci_high=e.boot_high,
        direction="reduction" if e.difference < 0 else "increase" if e.difference > 0 else "none",
        higher_is_worse=m.higher_is_worse)


def _measures(long: pd.DataFrame, spec: MatchSpec, seed_offset: int = 0) -> list[MeasureResult]:
    missing = [c for c in (*OUTCOME_COLUMNS, "subclass", "treated", "pair_weight", "person_key",
                           "event_id") if c not in long.columns]
    if missing:
        raise DataError(f"the matched data has no column(s) {missing}")
    out = []
    for i, m in enumerate(MEASURES):
        rng = np.random.default_rng([spec.random_state, seed_offset, i])
        out.append(_measure(m, long, spec, rng))
    return out


def compare_outcomes(match_result: MatchResult, spec: MatchSpec | None = None) -> list[MeasureResult]:
    """The three headline measures, treated versus the matched comparison group."""
    spec = spec or match_result.spec
    return _measures(match_result.matched, spec)


def compare_subgroups(match_result: MatchResult, spec: MatchSpec | None = None, *,
                      setting_column: str = "disposal") -> list[SubgroupResult]:
    """Measures within subgroups of the treated people (sex, age band, setting).

    A matched set belongs to the subgroup of its treated person. A subgroup is reported only when
    it has at least ``spec.subgroup_min`` treated people, and a variable only when the treated
    people fall in more than one of its levels.
    """
    spec = spec or match_result.spec
    long = match_result.matched
    tr = long[long["treated"]]
    variables: dict[str, pd.Series] = {}
    if "sex" in tr:
        variables["sex"] = tr["sex"].astype(str)
    if "age_at_index" in tr:
        variables["age_band"] = age_band(tr["age_at_index"])
    if setting_column in tr:
        variables["setting"] = tr[setting_column].astype(str)
    results: list[SubgroupResult] = []
    for v_i, (var, values) in enumerate(variables.items()):
        counts = values.value_counts()
        if len(counts) < 2:
            continue
        set_level = pd.Series(values.to_numpy(), index=tr["subclass"].to_numpy())
        level_of_row = set_level.reindex(long["subclass"].to_numpy()).to_numpy()
        order = [b[0] for b in AGE_BANDS] if var == "age_band" else sorted(counts.index)
        for l_i, level in enumerate(lv for lv in order if lv in counts.index):
            n = int(counts[level])
            if n < spec.subgroup_min:
                continue
            part = long[level_of_row == level]
            results.append(SubgroupResult(variable=var, level=str(level), n_treated=n,
                                          measures=_measures(part, spec, 1 + 100 * v_i + l_i)))
    return results


# -- plain words -----------------------------------------------------------------------------

def _fmt_range(a: float, b: float, decimals: int) -> tuple[str, str]:
    """Magnitudes of a one-signed interval, smaller first, with enough decimals to differ."""
    lo, hi = sorted((abs(a), abs(b)))
    d = decimals
    while d < 3 and (round(lo, d) == 0 or round(lo, d) == round(hi, d)):
        d += 1
    return f"{lo:.{d}f}", f"{hi:.{d}f}"


_WHAT: Final[dict[str, tuple[str, str, str, int]]] = {
    # name: (what changes, rise verb, fall verb, decimals)
    "rate": ("the proportion of people who commit a proven re-offence in a one-year period",
             "increase", "decrease", 0),
    "frequency": ("the number of proven re-offences committed in a one-year period",
                  "increase", "decrease", 2),
    "days_to_first": ("the average time to first proven re-offence, among those who re-offended",
                      "lengthen", "shorten", 0),
}
_UNIT_WORDS: Final[dict[str, str]] = {"rate": "percentage points", "frequency": "offences per person",
                                      "days_to_first": "days"}


def statements(measures: Sequence[MeasureResult], programme: str = "the programme") -> Statements:
    """What the organisation can and cannot say, from significance and direction (JDL wording)."""
    can: list[str] = []
    cannot: list[str] = []
    for m in measures:
        what, up, down, dec = _WHAT[m.name]
        if not m.estimable:
            cannot.append(f"Anything about {what} ({m.label.lower()}): it could not be estimated "
                          f"because {m.reason}.")
            continue
        assert m.ci_low is not None and m.ci_high is not None and m.difference is not None
        if m.significant:
            verb = up if m.difference > 0 else down
            other = down if verb == up else up
            lo, hi = _fmt_range(m.ci_low, m.ci_high, dec)
            can.append(f"This analysis provides evidence that {programme} may {verb} {what} by "
                       f"between {lo} and {hi} {_UNIT_WORDS[m.name]}.")
            cannot.append(f"This analysis shows that {programme} {other}s {what}.")
            cannot.append(f"This analysis shows that {programme} changes {what} by exactly "
                          f"{abs(m.difference):.{max(dec, 1)}f} {_UNIT_WORDS[m.name]}: the effect "
                          f"may lie anywhere in the interval.")
        else:
            can.append(f"This analysis does not provide clear evidence on whether {programme} "
                       f"{up}s or {down}s {what}; more people would "
                       "be needed to detect an effect, if there is one.")
            cannot.append(f"This analysis shows that {programme} {up}s or {down}s {what}.")
            cannot.append(f"This analysis shows that {programme} has no effect on {what}: a result "
                          "that is not significant is not evidence of no effect.")
    return Statements(can_say=can, cannot_say=cannot)
