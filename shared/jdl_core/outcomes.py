"""Outcome comparison after matching: the JDL's seven measures (and one beyond them), their
intervals and tests, the JDL's small-number rules, subgroups, what a null result means, and the
plain-words statements of what the organisation can and cannot say.

Estimation follows MatchIt's guidance for matching with replacement ("Estimating effects after
matching"): on the long-format matched data (one row per unit per matched set, MatchIt's
``get_matches``), weighted least squares of the outcome on treatment, with weight 1 for the
treated unit and 1/k_i for each of the k_i comparison records of set i. The coefficient is the
difference between the treated mean and the weighted comparison mean. Its standard error is
cluster-robust, two-way on matched set and on person (a comparison record serving several sets,
and a person with several index events in the pool, are not independent) as in Austin & Cafri
(2020) and ``sandwich::vcovCL(fit, cluster = ~subclass + id)`` with HC1; ``MatchSpec.cluster =
"subclass"`` clusters on matched set only. The interval uses Student's t with min(G) - 1 degrees
of freedom (G the numbers of clusters): "cluster_t".

Proportions (the rate, the seriousness of the first re-offence, custody for it) use Newcombe's
hybrid score interval (Newcombe 1998, method 10) by default: each group's Wilson interval, the
treated group at its size and the weighted comparison group at its Kish effective size, combined
by the square-and-add rule. A Wald interval gives a group with 0% or 100% no variance at all
(0 of 60 re-offending gave [-60.8, -49.9], as if the treated rate were known exactly); the score
interval keeps each group's own uncertainty. Its p-value is the level at which the interval just
reaches 0 (found by root-finding), so "p <= 0.05" and "the interval excludes 0" always agree.

Cross-checks stored beside every interval (``MeasureResult.other_intervals``): the cluster-robust
t interval; the JDL's weighted two-sample t-test (Welch, comparison weights normalised to mean 1,
as ``weights::wtd.t.test``); and a bootstrap that respects shared controls: the treated outcomes
are resampled by matched set and the comparison outcomes by person, each person's outcome
entering every set it serves with the same bootstrap weight (resampling matched sets as if
independent ignores that sets share controls, and on Lalonde gave an interval excluding 0 where
the analytic one did not).

JDL rules: significant iff p <= 0.05; measures 3-7 only when the treatment group has at least
``spec.min_reoffenders`` (30) re-offenders, else not estimable with code
"too_few_treated_reoffenders"; a result is listed as significant only when n*p (treated people
with the outcome) >= ``spec.min_np`` (10); seriousness rows (measures 4 and 5) with n*p below it
are not shown (code "np_below_min").

Time to first re-offence is compared among re-offenders only, in both groups (JDL measure 3).
Beyond the JDL, "days_free" is the restricted mean of days free of proven re-offending within the
year over everyone (non-re-offenders at 365), which a programme that prevents re-offending among
lower-risk people cannot move in the wrong direction the way the re-offenders-only mean can.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats

from . import schema
from .errors import DataError
from .matching.core import MatchResult
from .matching.spec import MatchSpec
from .result import (
    IntervalResult,
    MeasureCode,
    MeasureName,
    MeasureResult,
    NullResultInfo,
    Statements,
    SubgroupResult,
)


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
    jdl_measure: int | None = None   # None: beyond the JDL
    proportion: bool = False         # a 0/1 outcome: score interval, n*p rule
    gated: bool = False              # JDL: needs spec.min_reoffenders treated re-offenders
    hide_below_np: bool = False      # JDL: seriousness rows with n*p < spec.min_np not shown
    null_info: bool = False          # number needed / power / detectable difference when ns


MEASURES: Final[tuple[MeasureDef, ...]] = (
    MeasureDef("rate", "One-year proven re-offending rate", "%", "percentage points",
               "reoffended", 100.0, True, False, 1, proportion=True, null_info=True),
    MeasureDef("frequency", "Frequency of one-year proven re-offending", "re-offences per person",
               "re-offences per person", "reoffence_count", 1.0, True, False, 2),
    MeasureDef("days_to_first", "Time to first proven re-offence (re-offenders only)", "days",
               "days", "days_to_first", 1.0, False, True, 3, gated=True),
)
_SER_LABEL: Final = {"indictable": "indictable", "either_way": "triable either way",
                     "summary": "summary"}
FURTHER_MEASURES: Final[tuple[MeasureDef, ...]] = (
    *(MeasureDef(f"first_{s}", f"First proven re-offence {_SER_LABEL[s]}", "%",  # type: ignore[arg-type]
                 "percentage points", f"first_{s}", 100.0, True, False, 4, proportion=True,
                 gated=True, hide_below_np=True) for s in schema.SERIOUSNESS),
    *(MeasureDef(f"reoffences_{s}", f"Proven re-offences {_SER_LABEL[s]}",  # type: ignore[arg-type]
                 "re-offences per person", "re-offences per person", f"reoffences_{s}", 1.0,
                 True, False, 5, gated=True, hide_below_np=True) for s in schema.SERIOUSNESS),
    MeasureDef("first_custodial", "Custodial sentence for the first proven re-offence", "%",
               "percentage points", "first_custodial", 100.0, True, False, 6, proportion=True,
               gated=True),
    MeasureDef("custodial_sentences", "Custodial sentences for proven re-offences",
               "sentences per person", "sentences per person", "custodial_sentences", 1.0, True,
               False, 7, gated=True),
    MeasureDef("days_free", "Days free of proven re-offending in the year (everyone)", "days",
               "days", "days_free", 1.0, False, False, None),
)
OUTCOME_COLUMNS: Final = ("reoffended", "reoffence_count", "days_to_first")
FURTHER_COLUMNS: Final = ("first_seriousness", "reoffences_indictable", "reoffences_either_way",
                          "reoffences_summary", "first_custodial", "custodial_sentences")
POWER: Final = 0.8   # for the group size needed and the detectable difference
# Above this many people a "number needed" says only that the difference is negligible (a JDL
# cohort is at most a few thousand; millions would be more than the national data holds).
NUMBER_NEEDED_LIMIT: Final = 100_000

# Age bands for subgroups: (label, lowest age, highest age)
AGE_BANDS: Final[tuple[tuple[str, int, int], ...]] = (
    ("Under 18", 0, 17), ("18-24", 18, 24), ("25-34", 25, 34), ("35-49", 35, 49), ("50+", 50, 200))


def age_band(age: pd.Series) -> pd.Series:
    labels = [b[0] for b in AGE_BANDS]
    bins = [AGE_BANDS[0][1] - 0.5] + [b[2] + 0.5 for b in AGE_BANDS]
    return pd.cut(age.astype(float), bins=bins, labels=labels).astype(str)


# -- the estimators --------------------------------------------------------------------------

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
              person: np.ndarray, spec: MatchSpec, draws: "BootstrapDraws | None") -> Estimate:
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
    boot = draws.interval(y, t, w, subclass, person) if draws is not None else (None, None)
    return Estimate(tm, cm, diff, se, df, diff - q * se, diff + q * se, p, *boot)


class BootstrapDraws:
    """Bootstrap counts for one matched design, drawn once and shared by every measure.

    Treated outcomes are resampled by matched set; comparison outcomes by person, so a person
    serving several sets (or with several events) carries one bootstrap weight into all of
    them. The matched design (who serves which set, with which weight) is held fixed, as the
    analytic variance does. A measure on a subset of rows (re-offenders only) uses the same
    draws restricted to its rows: the statistic of each bootstrap sample, computed on the subset.
    """

    def __init__(self, long: pd.DataFrame | None, spec: MatchSpec, rng: np.random.Generator, *,
                 subclass: np.ndarray | None = None, person: np.ndarray | None = None,
                 treated: np.ndarray | None = None) -> None:
        if long is not None:
            treated = long["treated"].to_numpy(dtype=bool)
            subclass, person = long["subclass"].to_numpy(), long["person_key"].to_numpy()
        assert subclass is not None and person is not None and treated is not None
        self.level = spec.ci_level
        self.sets = pd.Index(pd.unique(subclass[treated]))
        self.people = pd.Index(pd.unique(person[~treated]))
        reps = spec.bootstrap_reps
        self.ks = _counts(rng, reps, len(self.sets)) if reps else None
        self.kc = _counts(rng, reps, len(self.people)) if reps else None

    def interval(self, y: np.ndarray, t: np.ndarray, w: np.ndarray, subclass: np.ndarray,
                 person: np.ndarray) -> tuple[float | None, float | None]:
        """Percentile interval of the difference for these rows; (None, None) when off or
        degenerate."""
        if self.ks is None or self.kc is None or len(self.sets) < 2 or len(self.people) < 2:
            return None, None
        s = self.sets.get_indexer(subclass[t])
        c = self.people.get_indexer(person[~t])
        if (s < 0).any() or (c < 0).any():
            raise DataError("bootstrap rows are not part of the matched design they were drawn for")
        S, C = len(self.sets), len(self.people)
        Ty = np.bincount(s, weights=y[t], minlength=S)
        Tn = np.bincount(s, minlength=S).astype(np.float64)
        Cy = np.bincount(c, weights=(w * y)[~t], minlength=C)
        Cw = np.bincount(c, weights=w[~t], minlength=C)
        # one float32 product per group (the counts are float32; mixing in float64 would copy
        # them on every call)
        tt = self.ks @ np.column_stack([Ty, Tn]).astype(np.float32)
        cc = self.kc @ np.column_stack([Cy, Cw]).astype(np.float32)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = (tt[:, 0].astype(np.float64) / tt[:, 1] - cc[:, 0].astype(np.float64) / cc[:, 1])
        ok = np.isfinite(out)
        if ok.mean() < 0.9:
            return None, None
        alpha = 1 - self.level
        lo, hi = np.quantile(out[ok], [alpha / 2, 1 - alpha / 2])
        return float(lo), float(hi)


def bootstrap_interval(y: np.ndarray, t: np.ndarray, w: np.ndarray, subclass: np.ndarray,
                       person: np.ndarray, spec: MatchSpec, rng: np.random.Generator
                       ) -> tuple[float | None, float | None]:
    """Percentile interval of the difference from a bootstrap that respects shared controls
    (``BootstrapDraws``), for one outcome on its own."""
    t = t.astype(bool)
    draws = BootstrapDraws(None, spec, rng, subclass=subclass, person=person, treated=t)
    return draws.interval(y, t, w, subclass, person)


def _counts(rng: np.random.Generator, b: int, n: int) -> np.ndarray:
    """b rows of bootstrap counts (how often each of n units was drawn; each row sums to n), as
    float32 (exact for counts; halves the memory of b x n)."""
    out = np.empty((b, n), dtype=np.float32)
    chunk = max(1, 4_000_000 // max(n, 1))
    for start in range(0, b, chunk):
        m = min(chunk, b - start)
        idx = rng.integers(0, n, size=(m, n)) + (np.arange(m) * n)[:, None]
        out[start:start + m] = np.bincount(idx.ravel(), minlength=m * n).reshape(m, n)
    return out


def wilson_interval(p: float, n: float, z: float) -> tuple[float, float]:
    """Wilson's score interval for a proportion p observed on n (possibly effective) people."""
    if n <= 0:
        return 0.0, 1.0
    z2n = z * z / n
    centre = (p + z2n / 2) / (1 + z2n)
    half = z * math.sqrt(max(p * (1 - p) / n + z * z / (4 * n * n), 0.0)) / (1 + z2n)
    return max(centre - half, 0.0), min(centre + half, 1.0)


def newcombe_interval(p1: float, n1: float, p2: float, n2: float, z: float) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p1 - p2 (method 10 of Newcombe 1998)."""
    l1, u1 = wilson_interval(p1, n1, z)
    l2, u2 = wilson_interval(p2, n2, z)
    d = p1 - p2
    return (d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
            d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))


def newcombe_p_value(p1: float, n1: float, p2: float, n2: float) -> float:
    """Two-sided p-value matching the Newcombe interval: the level at which it reaches 0."""
    d = p1 - p2
    if d == 0:
        return 1.0

    def bound(z: float) -> float:
        lo, hi = newcombe_interval(p1, n1, p2, n2, z)
        return lo if d > 0 else -hi            # > 0 while the interval excludes 0

    z_max = 40.0
    if bound(z_max) > 0:
        return float(2 * stats.norm.sf(z_max))
    z_star = optimize.brentq(bound, 0.0, z_max, xtol=1e-10)
    return float(2 * stats.norm.sf(z_star))


def kish_size(w: np.ndarray, unit: np.ndarray) -> float:
    """Kish effective size of a weighted mean whose weights are summed per unit (person)."""
    _, u = np.unique(unit, return_inverse=True)
    W = np.bincount(u, weights=w)
    return float(W.sum() ** 2 / np.sum(W ** 2)) if W.size else 0.0


def jdl_t_test(y: np.ndarray, t: np.ndarray, w: np.ndarray, record: np.ndarray,
               ci_level: float) -> IntervalResult:
    """The JDL's weighted two-sample t-test (``weights::wtd.t.test``, Welch): treated weights 1;
    each comparison record weighted by its total matching weight, normalised to mean 1."""
    yt = y[t]
    _, r = np.unique(record[~t], return_inverse=True)
    wc = np.bincount(r, weights=w[~t])
    yc = np.bincount(r, weights=(w * y)[~t]) / wc        # a record's outcome (same in every set)
    wc = wc / wc.mean()
    n1, n2 = float(yt.size), float(wc.sum())
    if n1 < 2 or n2 < 2:
        return IntervalResult(method="jdl_weighted_t")
    m1, m2 = float(yt.mean()), float(np.sum(wc * yc) / n2)
    v1 = float(np.var(yt, ddof=1))
    v2 = float(np.sum(wc * (yc - m2) ** 2) / (n2 - 1))
    se2 = v1 / n1 + v2 / n2
    if not se2 > 0:
        return IntervalResult(method="jdl_weighted_t", difference=m1 - m2)
    df = se2 ** 2 / ((v1 / n1) ** 2 / (n1 - 1) + (v2 / n2) ** 2 / (n2 - 1))
    se = math.sqrt(se2)
    q = float(stats.t.ppf(0.5 + ci_level / 2, df))
    tval = (m1 - m2) / se
    return IntervalResult(method="jdl_weighted_t", difference=m1 - m2, ci_low=m1 - m2 - q * se,
                          ci_high=m1 - m2 + q * se, p_value=float(2 * stats.t.sf(abs(tval), df)),
                          df=float(df))


def null_result_info(difference: float, ci_low: float, ci_high: float, n: int,
                     ci_level: float = 0.95, power: float = POWER) -> NullResultInfo:
    """What a non-significant difference means, from its interval and the group size n.

    The interval's half-width gives the standard error at n (SE = width / 2z), which scales
    as 1/sqrt(n) when both groups grow in proportion: the JDL's "number needed" is the n at
    which the observed difference would reach p = 0.05 (z * SE(n) = |d|); the group for 80%
    power needs (z + z_power) * SE(n) = |d|; the smallest difference detectable with 80% power
    at the size analysed is (z + z_power) * SE.
    """
    z = float(stats.norm.ppf(0.5 + ci_level / 2))
    zp = float(stats.norm.ppf(power))
    se = (ci_high - ci_low) / (2 * z)
    d = abs(difference)
    if d == 0 or not se > 0:
        return NullResultInfo(n_for_significance=None, n_for_80_power=None,
                              detectable_difference=(z + zp) * se)
    n_sig = int(math.ceil(n * (z * se / d) ** 2))
    n_pow = int(math.ceil(n * ((z + zp) * se / d) ** 2))
    if n_pow > NUMBER_NEEDED_LIMIT:
        return NullResultInfo(n_for_significance=n_sig if n_sig <= NUMBER_NEEDED_LIMIT else None,
                              n_for_80_power=None, detectable_difference=(z + zp) * se,
                              beyond_limit=True)
    return NullResultInfo(n_for_significance=n_sig, n_for_80_power=n_pow,
                          detectable_difference=(z + zp) * se)


# -- measures --------------------------------------------------------------------------------

def _not_estimable(m: MeasureDef, reason: str, n_t: int = 0, n_c: int = 0,
                   code: MeasureCode | None = None,
                   treated_events: int | None = None) -> MeasureResult:
    return MeasureResult(name=m.name, label=m.label, unit=m.unit, difference_unit=m.difference_unit,
                         estimable=False, reason=reason, n_treated=n_t, n_comparison=n_c,
                         higher_is_worse=m.higher_is_worse, jdl_measure=m.jdl_measure, code=code,
                         treated_events=treated_events)


def _derive(long: pd.DataFrame, names: set[str]) -> pd.DataFrame:
    """Add the derived 0/1 and days columns the further measures read (on a copy)."""
    add: dict[str, np.ndarray] = {}
    if "first_seriousness" in long.columns:
        ser = long["first_seriousness"].astype("string")
        for s in schema.SERIOUSNESS:
            if f"first_{s}" in names:
                add[f"first_{s}"] = (ser == s).fillna(False).to_numpy(dtype=np.float64)
    if "days_free" in names and "days_to_first" in long.columns:
        re = long["reoffended"].to_numpy(dtype=np.float64, na_value=np.nan)
        days = long["days_to_first"].to_numpy(dtype=np.float64, na_value=np.nan)
        add["days_free"] = np.where(re == 1, days, np.where(re == 0, float(schema.FOLLOWUP_DAYS),
                                                            np.nan))
    return long.assign(**add) if add else long


def _measure(m: MeasureDef, long: pd.DataFrame, spec: MatchSpec,
             rng: np.random.Generator | BootstrapDraws | None = None) -> MeasureResult:
    """One measure; ``rng`` is the analysis's shared bootstrap draws (or a generator to draw
    them for this frame alone, or None when the bootstrap is off)."""
    draws = (BootstrapDraws(long, spec, rng) if isinstance(rng, np.random.Generator)
             and spec.bootstrap_reps else rng if isinstance(rng, BootstrapDraws) else None)
    t_all = long["treated"].to_numpy(dtype=bool)
    reoff = long["reoffended"].to_numpy(dtype=np.float64, na_value=np.nan) == 1
    if m.gated:
        n_reoff = int((reoff & t_all).sum())
        if n_reoff < spec.min_reoffenders:
            return _not_estimable(m, (
                f"only {n_reoff} people in the treatment group re-offended; the JDL shows this "
                f"measure only with at least {spec.min_reoffenders} re-offenders, as lower "
                "numbers could give misleading results"),
                int(t_all.sum()) if not m.among_reoffenders else n_reoff,
                int(long.loc[~t_all, "event_id"].nunique()), code="too_few_treated_reoffenders")
    rows = reoff if m.among_reoffenders else np.ones(len(long), dtype=bool)
    sub = long[rows]
    t = t_all[rows]
    n_t = int(t.sum())
    n_c = int(sub.loc[~t, "event_id"].nunique())
    if n_t < 2 or n_c < 2:
        return _not_estimable(m, "too few people in one of the groups to compare", n_t, n_c,
                              code="too_few_people")
    y = sub[m.column].to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isnan(y).any():
        raise DataError(f"outcome {m.column!r} is missing for {int(np.isnan(y).sum())} matched "
                        "record(s); only events with complete follow-up may be analysed")
    # n*p: treated people with the outcome (a 0/1 outcome's count; with any, for counts)
    events = None if m.among_reoffenders or m.name == "days_free" else int(np.sum(y[t] > 0))
    if m.hide_below_np and events is not None and events < spec.min_np:
        return _not_estimable(m, (
            f"n*p is {events} in the treatment group; the JDL does not show seriousness rows "
            f"below {spec.min_np}"), n_t, n_c, code="np_below_min", treated_events=events)
    y = y * m.scale
    score = m.proportion and spec.proportion_interval == "newcombe_wilson"
    if np.ptp(y) == 0 and not score:     # a score interval is informative even at 0% or 100%
        return _not_estimable(m, (
            f"everyone in both groups has the same {m.label.lower()} ({y[0]:g}), so there is no "
            "variation to estimate a difference and its uncertainty from"), n_t, n_c,
            code="no_variation", treated_events=events)
    w = sub["pair_weight"].to_numpy(dtype=np.float64)
    person = sub["person_key"].to_numpy()
    e = _estimate(y, t, w, sub["subclass"].to_numpy(), person, spec, draws)
    alpha = 1 - spec.ci_level
    others = [IntervalResult(method="cluster_t", difference=e.difference, ci_low=e.ci_low,
                             ci_high=e.ci_high, p_value=e.p_value if e.se > 0 else None,
                             df=float(e.df))]
    jdl = jdl_t_test(y, t, w, sub["event_id"].to_numpy(), spec.ci_level)
    others.append(jdl)
    if e.boot_low is not None:
        others.append(IntervalResult(method="bootstrap_two_sample", difference=e.difference,
                                     ci_low=e.boot_low, ci_high=e.boot_high))
    if score:
        z = float(stats.norm.ppf(0.5 + spec.ci_level / 2))
        p1, p2 = e.treated_mean / m.scale, e.comparison_mean / m.scale
        n2 = kish_size(w[~t], person[~t])
        lo, hi = newcombe_interval(p1, n_t, p2, n2, z)
        ci_low, ci_high = lo * m.scale, hi * m.scale
        p_value = newcombe_p_value(p1, n_t, p2, n2)
        method = "newcombe_wilson"
    else:
        if not e.se > 0:
            return _not_estimable(m, "the difference has no estimable uncertainty (no variation "
                                     "within the groups)", n_t, n_c, code="no_uncertainty",
                                  treated_events=events)
        ci_low, ci_high, p_value, method = e.ci_low, e.ci_high, e.p_value, "cluster_t"
        others = others[1:]
    significant = bool(p_value <= alpha + 1e-12)     # JDL: p <= 0.05
    listed = significant and (events is None or events >= spec.min_np)
    info = (null_result_info(e.difference, ci_low, ci_high, n_t, spec.ci_level)
            if m.null_info and not significant else None)
    return MeasureResult(
        name=m.name, label=m.label, unit=m.unit, difference_unit=m.difference_unit,
        n_treated=n_t, n_comparison=n_c, treated_value=e.treated_mean,
        comparison_value=e.comparison_mean, difference=e.difference, ci_low=ci_low,
        ci_high=ci_high, p_value=p_value, significant=significant,
        bootstrap_ci_low=e.boot_low, bootstrap_ci_high=e.boot_high,
        direction="reduction" if e.difference < 0 else "increase" if e.difference > 0 else "none",
        higher_is_worse=m.higher_is_worse, jdl_measure=m.jdl_measure, interval_method=method,
        treated_events=events, listed_significant=listed, other_intervals=others,
        null_result=info)


def _measures(long: pd.DataFrame, spec: MatchSpec, seed_offset: int = 0,
              defs: Sequence[MeasureDef] = MEASURES) -> list[MeasureResult]:
    base = [c for c in (*OUTCOME_COLUMNS, "subclass", "treated", "pair_weight", "person_key",
                        "event_id") if c not in long.columns]
    if base:
        raise DataError(f"the matched data has no column(s) {base}")
    long = _derive(long, {m.column for m in defs})
    missing = sorted({m.column for m in defs} - set(long.columns))
    if missing:
        raise DataError(f"the matched data has no column(s) {missing}")
    # one set of bootstrap draws for every measure of this matched design (drawing is the
    # costly part; sharing it also makes the measures' bootstrap samples the same people)
    draws = (BootstrapDraws(long, spec, np.random.default_rng([spec.random_state, seed_offset]))
             if spec.bootstrap_reps else None)
    return [_measure(m, long, spec, draws) for m in defs]


def compare_outcomes(match_result: MatchResult, spec: MatchSpec | None = None) -> list[MeasureResult]:
    """The three headline measures, treated versus the matched comparison group."""
    spec = spec or match_result.spec
    return _measures(match_result.matched, spec)


def has_further_outcomes(frame: pd.DataFrame) -> bool:
    """True when the data carry the measure 4-7 columns (datasets of version 1.1 on)."""
    return all(c in frame.columns for c in FURTHER_COLUMNS)


def compare_further(match_result: MatchResult, spec: MatchSpec | None = None) -> list[MeasureResult]:
    """JDL measures 4-7 and the beyond-JDL days free, with the JDL's gates (module docstring)."""
    spec = spec or match_result.spec
    return _measures(match_result.matched, spec, seed_offset=10_000, defs=FURTHER_MEASURES)


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
        listed = m.listed_significant if m.listed_significant is not None else m.significant
        if listed:
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
