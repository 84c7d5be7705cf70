"""Covariate balance before and after matching, computed as R MatchIt's ``summary()`` does.

Standardised mean difference (SMD) = (treated mean - comparison mean) / SD, where for the ATT the
SD is that of the treated group *before* matching, used both before and after so the two are
comparable. Binary variables (all values 0 or 1, including each level of a categorical covariate)
use sqrt(p(1-p)); others the unbiased SD. When the treated SD is zero, MatchIt's pooled SD is used
instead. After matching, means and variances use the matching weights. Variance ratios (treated
over comparison) are given for non-binary variables only. SMDs are fractions of an SD: 0.05 is 5%.

Means can balance while distributions do not (a cohort of 19- and 45-year-olds against 32-year-
olds), so every non-binary variable also gets the Kolmogorov-Smirnov statistic: the largest gap
between the treated and the (weighted) comparison empirical CDFs, before and after matching, as
cobalt's ``bal.tab(stats = "ks")``. Before matching, on pools above ``KS_SAMPLE`` rows, the
comparison eCDF is taken from a fixed random sample of that many records (an eCDF from 200,000
records is within about 0.003 of the full one), which keeps a 1M-row pool fast.
"""
from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd

from ..result import BalanceRow
from .propensity import category_levels, covariate_kind, level_codes

_EPS = np.sqrt(np.finfo(float).eps)
GOOD, ACCEPTABLE = 0.05, 0.10   # |SMD| below 5% good, up to 10% acceptable, above poor
KS_SAMPLE = 200_000


def flag(smd: float | None) -> str:
    if smd is None or not np.isfinite(smd):
        return "poor"
    a = abs(smd)
    return "good" if a < GOOD else "acceptable" if a <= ACCEPTABLE else "poor"


def balance_variables(frame: pd.DataFrame, covariates: Sequence[str]
                      ) -> Iterator[tuple[str, np.ndarray]]:
    """Each covariate as the numeric variables balance is judged on: one per categorical level.

    Yielded one at a time so that millions of rows never hold every indicator at once.
    """
    for cov in covariates:
        if covariate_kind(cov) == "categorical":
            levels = category_levels(cov, frame[cov])
            # compare integer codes, not strings: much faster on millions of rows
            codes = level_codes(frame[cov], levels)
            for i, level in enumerate(levels):
                yield f"{cov}: {level}", (codes == i).astype(np.float64)
        else:
            yield cov, frame[cov].to_numpy(dtype=np.float64)


def _wmean(x: np.ndarray, w: np.ndarray) -> float:
    return float(np.sum(x * w) / np.sum(w))


def _wvar(x: np.ndarray, binary: bool, w: np.ndarray) -> float:
    # MatchIt's wvar: p(1-p) for binary, reliability-weighted unbiased variance otherwise
    w = w / np.sum(w)
    mx = float(np.sum(w * x))
    if binary:
        return max(mx * (1 - mx), 0.0)  # rounding can make p(1-p) a hair below 0
    denom = 1 - float(np.sum(w * w))
    return float(np.sum(w * (x - mx) ** 2) / denom) if denom > 0 else np.nan


def _pooled_sd(x: np.ndarray, t: np.ndarray, binary: bool) -> float:
    # MatchIt's pooled_sd(contribution = "proportional") with unit sampling weights
    n = len(x)
    if binary:
        v = 0.0
        for g in (True, False):
            sx = float(x[t == g].sum())
            ng = int((t == g).sum())
            if ng:
                v += sx * (1 - sx / ng) / n
        return float(np.sqrt(v))
    xc = x.copy()
    for g in (True, False):
        if (t == g).any():
            xc[t == g] -= xc[t == g].mean()
    return float(np.sqrt(np.sum(xc ** 2) / (n - 2)))


def balance_one(x: np.ndarray, t: np.ndarray, w_after: np.ndarray) -> dict[str, float | None]:
    """Balance of one variable: ``t`` marks treated rows, ``w_after`` the matching weights."""
    binary = bool(np.all((x == 0) | (x == 1)))
    ones = np.ones(len(x))
    xt, xc = x[t], x[~t]
    mt_b, mc_b = float(xt.mean()), float(xc.mean())
    wt, wc = w_after[t], w_after[~t]
    matched = wt.sum() > 0 and wc.sum() > 0
    mt_a = _wmean(xt, wt) if matched else np.nan
    mc_a = _wmean(xc, wc) if matched else np.nan
    std = np.sqrt(_wvar(xt, binary, ones[t]))
    if not np.isfinite(std) or std < _EPS:
        std = _pooled_sd(x, t, binary)

    def smd(d: float) -> float:
        if not np.isfinite(d):
            return np.nan
        # MatchIt reports the raw difference when it is numerically zero
        return d if abs(d) <= _EPS or std < _EPS else d / std

    row: dict[str, float | None] = {
        "mean_treated_before": mt_b, "mean_comparison_before": mc_b,
        "smd_before": smd(mt_b - mc_b),
        "mean_treated_after": mt_a, "mean_comparison_after": mc_a,
        "smd_after": smd(mt_a - mc_a),
        "var_ratio_before": None, "var_ratio_after": None,
    }
    if not binary:
        vc_b = _wvar(xc, False, ones[~t])
        row["var_ratio_before"] = _wvar(xt, False, ones[t]) / vc_b if vc_b > 0 else None
        if matched and (wt > 0).sum() > 1 and (wc > 0).sum() > 1:
            vc_a = _wvar(xc[wc > 0], False, wc[wc > 0])
            vt_a = _wvar(xt[wt > 0], False, wt[wt > 0])
            row["var_ratio_after"] = vt_a / vc_a if vc_a > 0 else None
    return row


def ks_statistic(xt: np.ndarray, wt: np.ndarray, xc: np.ndarray, wc: np.ndarray) -> float:
    """Largest gap between the weighted empirical CDFs of ``xt`` and ``xc``."""
    if wt.sum() <= 0 or wc.sum() <= 0:
        return float("nan")
    vals = np.unique(np.concatenate([xt, xc]))
    ft = np.bincount(np.searchsorted(vals, xt), weights=wt, minlength=len(vals)).cumsum() / wt.sum()
    fc = np.bincount(np.searchsorted(vals, xc), weights=wc, minlength=len(vals)).cumsum() / wc.sum()
    return float(np.max(np.abs(ft - fc)))


def balance_table(frame: pd.DataFrame, treated: np.ndarray, weights: np.ndarray,
                  covariates: Sequence[str], distance: np.ndarray | None = None, *,
                  before: bool = True, seed: int = 0) -> pd.DataFrame:
    """One row per balance variable (covariate, or covariate level) plus the distance.

    ``frame`` holds every unit of the matching problem (treated and the whole pool),
    ``weights`` the matching weights (0 for unmatched units). ``before=False`` computes the
    after-matching figures only (the before columns are NaN), on the treated and the comparison
    records used: what a sub-analysis needs, without passing over a million-row pool again.
    """
    t = np.asarray(treated, dtype=bool)
    w = np.asarray(weights, dtype=np.float64)
    if before and int((~t).sum()) > KS_SAMPLE:
        return _sampled(frame, t, w, covariates, distance, seed)
    if not before:
        rows_used = t | (w > 0)
        frame = frame[rows_used]
        t, w = t[rows_used], w[rows_used]
        if distance is not None:
            distance = np.asarray(distance)[rows_used]
    n_c = int((~t).sum())
    ks_rows = np.flatnonzero(~t)
    if before and n_c > KS_SAMPLE:
        ks_rows = np.sort(np.random.default_rng(seed).choice(ks_rows, KS_SAMPLE, replace=False))
    used = np.flatnonzero(~t & (w > 0))
    rows = []

    def one(name: str, x: np.ndarray, tt: np.ndarray, ww: np.ndarray, kr: np.ndarray,
            us: np.ndarray) -> dict[str, object]:
        row: dict[str, object] = {"covariate": name, **balance_one(x, tt, ww)}
        if not before:
            for k in ("mean_comparison_before", "smd_before", "var_ratio_before"):
                row[k] = np.nan if k != "var_ratio_before" else None
        binary = bool(np.all((x == 0) | (x == 1)))
        ks_b = ks_a = np.nan
        if not binary:
            xt = x[tt]
            ones_t = np.ones(len(xt))
            if before:
                ks_b = ks_statistic(xt, ones_t, x[kr], np.ones(len(kr)))
            ks_a = ks_statistic(xt, ww[tt], x[us], ww[us])
        row["ks_before"], row["ks_after"] = ks_b, ks_a
        return row

    if distance is not None:
        # units outside the common support have no finite logit
        d = np.asarray(distance, dtype=np.float64)
        ok = np.isfinite(d)
        pos = np.cumsum(ok) - 1
        rows.append(one("distance", d[ok], t[ok], w[ok], pos[ks_rows[ok[ks_rows]]],
                        pos[used[ok[used]]]))
    for name, x in balance_variables(frame, covariates):
        rows.append(one(name, x, t, w, ks_rows, used))
    out = pd.DataFrame(rows)
    out["flag"] = [flag(v) for v in out["smd_after"]]
    return out


_AFTER = ("mean_treated_after", "mean_comparison_after", "smd_after", "var_ratio_after", "ks_after")


def _sampled(frame: pd.DataFrame, t: np.ndarray, w: np.ndarray, covariates: Sequence[str],
             distance: np.ndarray | None, seed: int) -> pd.DataFrame:
    """Balance on a pool above KS_SAMPLE records: the before-matching figures from the treated
    and a fixed random sample of KS_SAMPLE comparison records (a mean from 200,000 records is
    within about 0.002 SD of the pool's), the after-matching ones exactly, from the treated and
    the records used. Two passes over a fifth of the rows instead of one over all of them."""
    ctrl = np.flatnonzero(~t)
    sample = np.sort(np.random.default_rng(seed).choice(ctrl, KS_SAMPLE, replace=False))
    rows_b = np.concatenate([np.flatnonzero(t), sample])
    rows_a = np.flatnonzero(t | (w > 0))
    d = None if distance is None else np.asarray(distance)
    tb = balance_table(frame.iloc[rows_b], t[rows_b], np.zeros(len(rows_b)), covariates,
                       None if d is None else d[rows_b], before=True, seed=seed)
    ta = balance_table(frame.iloc[rows_a], t[rows_a], w[rows_a], covariates,
                       None if d is None else d[rows_a], before=False, seed=seed)
    after = ta.set_index("covariate")
    out = tb.copy()
    for col in _AFTER:
        got = out["covariate"].map(after[col]) if col in after else np.nan
        out[col] = got
    # a level no treated person and no record used has: both after-means are 0
    missing = out["smd_after"].isna() & ~out["covariate"].isin(after.index)
    out.loc[missing, ["mean_treated_after", "mean_comparison_after", "smd_after"]] = 0.0
    out["flag"] = [flag(v) for v in out["smd_after"]]
    return out


def balance_rows(table: pd.DataFrame) -> list[BalanceRow]:
    """The balance table as result rows (SMDs as fractions of an SD)."""

    def num(v: Any) -> float | None:
        return None if v is None or (isinstance(v, float) and not np.isfinite(v)) else float(v)

    return [BalanceRow(covariate=r.covariate, smd_before=num(r.smd_before),
                       smd_after=num(r.smd_after), var_ratio_before=num(r.var_ratio_before),
                       var_ratio_after=num(r.var_ratio_after), ks_before=num(r.ks_before),
                       ks_after=num(r.ks_after), flag=r.flag)
            for r in table.itertuples(index=False)]
