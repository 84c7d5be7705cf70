"""The balance gate: is the matched comparison group balanced enough to support a finding?

A key variable (methodology.md section 4: age, sex, previous offences, Copas rate, OGRS score,
index offence; with age and previous offences also judged through their flexible terms: age band,
log previous offences, first offender) fails when its |SMD| after matching is above BOTH

* the 10% rule (|SMD| > 0.10, the JDL's and MatchIt's usual line), and
* what chance gives at this size: ``spec.gate_quantile`` (default 99%) of the largest key-variable
  |SMD| when the matched people are split at random into a "treated" group of the same size and a
  "comparison" group carrying the same matching weights. At n = 60 chance alone puts some key
  |SMD| above 0.10 in most analyses (fidelity review: 94% of n = 60 analyses flagged), so the
  10% rule on its own would block nearly every small cohort; at n = 1,000 the chance line is near
  0.10 and the 10% rule decides.

The split reference is a permutation distribution: 500 random splits, fixed seed, on the matched
units only (a few thousand rows whatever the pool size).
"""
from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from ..result import BalanceGate
from .balance import ACCEPTABLE, balance_variables
from .spec import MatchSpec

KEY_COVARIATES: Final[tuple[str, ...]] = (
    "age_at_index", "sex", "prev_offences", "copas_rate", "ogrs_score", "offence_group",
    "age_band", "log_prev_offences", "first_offender")
SPLITS: Final = 500


def is_key(name: str) -> bool:
    return name.split(":")[0] in KEY_COVARIATES


def chance_threshold(x: np.ndarray, treated: np.ndarray, w: np.ndarray, den: np.ndarray,
                     quantile: float, seed: int, splits: int = SPLITS) -> float:
    """``quantile`` of max_j |SMD_j| over random splits of the units (rows of ``x``) into
    ``treated.sum()`` pseudo-treated (weight 1) and the rest, carrying the comparison weights."""
    n = len(x)
    n_t = int(treated.sum())
    wc = w[~treated]
    if n_t < 2 or len(wc) < 1 or x.shape[1] == 0:
        return float("inf")
    rng = np.random.default_rng(seed)
    vals = np.concatenate([np.full(n_t, 1.0 / n_t), -wc / wc.sum()])
    out = np.empty(splits)
    step = max(1, 4_000_000 // max(n, 1))
    for s in range(0, splits, step):
        b = min(step, splits - s)
        perm = rng.permuted(np.tile(np.arange(n), (b, 1)), axis=1)
        a = np.zeros((b, n))
        np.put_along_axis(a, perm, np.broadcast_to(vals, (b, n)), axis=1)
        out[s:s + b] = np.max(np.abs(a @ x) / den, axis=1)
    return float(np.quantile(out, quantile))


def evaluate(both: pd.DataFrame, is_t: np.ndarray, result, t_sel: np.ndarray | None,
             c_sel: np.ndarray | None, spec: MatchSpec) -> BalanceGate:
    """The gate for a MatchResult made on ``both`` (treated rows first); code left "balanced"
    or "no_reliable_comparison" by pass/fail, the caller sets the final code."""
    w = np.asarray(result.unit_weights, dtype=np.float64)
    n_t_all = int(is_t.sum())
    sel_t = np.zeros(len(both), dtype=bool)
    sel_t[:n_t_all] = True if t_sel is None else t_sel
    units = np.flatnonzero(w > 0)
    covs = [c for c in KEY_COVARIATES if c in both.columns]
    names: list[str] = []
    cols_u: list[np.ndarray] = []
    dens: list[float] = []
    sub_t = both.iloc[np.flatnonzero(sel_t)]
    t_vals = dict(balance_variables(sub_t, covs))
    for name, x in balance_variables(both.iloc[units], covs):
        xt = t_vals.get(name)
        if xt is None:
            continue
        binary = bool(np.all((xt == 0) | (xt == 1)))
        sd = np.sqrt(xt.mean() * (1 - xt.mean())) if binary else float(np.std(xt, ddof=1))
        if not sd > 1e-12:
            sd = float(np.std(x))
        if not sd > 1e-12:
            continue  # constant among everyone analysed: nothing to balance
        names.append(name)
        cols_u.append(x)
        dens.append(sd)
    x_u = np.column_stack(cols_u) if cols_u else np.zeros((len(units), 0))
    chance = chance_threshold(x_u, is_t[units], w[units], np.asarray(dens), spec.gate_quantile,
                              spec.random_state)
    threshold = max(ACCEPTABLE, chance) if np.isfinite(chance) else ACCEPTABLE
    b = result.balance
    failing = [str(r.covariate) for r in b.itertuples(index=False)
               if is_key(str(r.covariate)) and (not np.isfinite(r.smd_after)
                                                or abs(r.smd_after) > threshold)
               and str(r.covariate) in names]
    return BalanceGate(code="balanced" if not failing else "no_reliable_comparison",
                       passed=not failing, threshold=float(threshold),
                       chance_threshold=float(chance) if np.isfinite(chance) else 0.0,
                       failing=failing)
