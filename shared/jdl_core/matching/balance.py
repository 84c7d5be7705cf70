"""Covariate balance before and after matching, computed as R MatchIt's ``summary()`` does.

Standardised mean difference (SMD) = (treated mean - comparison mean) / SD, where for the ATT the
SD is that of the treated group *before* matching, used both before and after so the two are
comparable. Binary variables (all values 0 or 1, including each level of a categorical covariate)
use sqrt(p(1-p)); others the unbiased SD. When the treated SD is zero, MatchIt's pooled SD is used
instead. After matching, means and variances use the matching weights. Variance ratios (treated
over comparison) are given for non-binary variables only. SMDs are fractions of an SD: 0.05 is 5%.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from ..result import BalanceRow
from .propensity import category_levels, covariate_kind

_EPS = np.sqrt(np.finfo(float).eps)
GOOD, ACCEPTABLE = 0.05, 0.10   # |SMD| below 5% good, up to 10% acceptable, above poor


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
            codes = pd.Categorical(frame[cov], categories=levels).codes
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


def balance_table(frame: pd.DataFrame, treated: np.ndarray, weights: np.ndarray,
                  covariates: Sequence[str], distance: np.ndarray | None = None) -> pd.DataFrame:
    """One row per balance variable (covariate, or covariate level) plus the distance.

    ``frame`` holds every unit of the matching problem (treated and the whole pool),
    ``weights`` the matching weights (0 for unmatched units).
    """
    t = np.asarray(treated, dtype=bool)
    w = np.asarray(weights, dtype=np.float64)
    rows = []
    if distance is not None:
        # units outside the common support have no finite logit
        d = np.asarray(distance, dtype=np.float64)
        ok = np.isfinite(d)
        rows.append({"covariate": "distance", **balance_one(d[ok], t[ok], w[ok])})
    for name, x in balance_variables(frame, covariates):
        rows.append({"covariate": name, **balance_one(x, t, w)})
    out = pd.DataFrame(rows)
    out["flag"] = [flag(v) for v in out["smd_after"]]
    return out


def balance_rows(table: pd.DataFrame) -> list[BalanceRow]:
    """The balance table as result rows (SMDs as fractions of an SD)."""

    def num(v: object) -> float | None:
        return None if v is None or (isinstance(v, float) and not np.isfinite(v)) else float(v)

    return [BalanceRow(covariate=r.covariate, smd_before=num(r.smd_before),
                       smd_after=num(r.smd_after), var_ratio_before=num(r.var_ratio_before),
                       var_ratio_after=num(r.var_ratio_after), flag=r.flag)
            for r in table.itertuples(index=False)]
