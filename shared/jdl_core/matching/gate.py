"""The balance gate: is the matched comparison group balanced enough to support a finding?

A key variable (methodology.md section 4: age, sex, previous offences, Copas rate, OGRS score,
index offence; with age and previous offences also judged through their flexible terms: age band,
log previous offences, first offender) fails when its |SMD| after matching is above BOTH

* the 10% rule (|SMD| > 0.10, the JDL's and MatchIt's usual line), and
* what chance gives at this size: the line that random splits of the matched people into a
  "treated" group of the same size and a "comparison" group carrying the same matching weights
  cross, for any key variable, with probability 1 - ``spec.gate_quantile`` (default 1%). At n = 60 chance alone puts some key
  |SMD| above 0.10 in most analyses (fidelity review: 94% of n = 60 analyses flagged), so the
  10% rule on its own would block nearly every small cohort; at n = 1,000 the chance line is near
  0.10 and the 10% rule decides.

The random-split spread is computed in closed form (the variance of a difference of a mean and a
weighted mean from one population), from the spreads *within* each group: a real difference
between the groups must not widen the reference and excuse the imbalance the gate is for. The
comparison group counts with its effective size (Kish), but never as fewer than the treated: a
comparison resting on a few re-used records is thin, not a licence for large imbalances.
``tests/unit/test_gate.py`` checks the closed form against actual random splits.
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


def is_key(name: str) -> bool:
    return name.split(":")[0] in KEY_COVARIATES


def ess(w: np.ndarray) -> float:
    """Kish's effective sample size of weights: (sum w)^2 / sum w^2."""
    w = np.asarray(w, dtype=np.float64)
    return float(w.sum() ** 2 / np.sum(w * w)) if np.sum(w * w) > 0 else 0.0


def chance_sd(x: np.ndarray, treated: np.ndarray, w: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Per variable (column of ``x``, units = treated + comparison records used), the standard
    deviation of its SMD when a group of the same size is split at random from one population:
    sqrt(s_t^2 / n_t + s_c^2 / n_c) / den, with s_t and s_c the spreads within each group (so a
    real difference between them does not widen it) and n_c the comparison group's effective size,
    taken as at least n_t (k comparison records per person give more): a comparison group resting on a few re-used records is
    thin, and must not make a large imbalance look like chance."""
    t = np.asarray(treated, dtype=bool)
    n_t = int(t.sum())
    wc = w[~t]
    if n_t < 2 or wc.sum() <= 0 or x.shape[1] == 0:
        return np.full(x.shape[1], np.inf)
    xt, xc = x[t], x[~t]
    var_t = xt.var(axis=0, ddof=1)
    mc = (wc[:, None] * xc).sum(axis=0) / wc.sum()
    var_c = (wc[:, None] * (xc - mc) ** 2).sum(axis=0) / wc.sum()
    n_c = max(ess(wc), float(n_t))
    return np.sqrt(var_t / n_t + var_c / n_c) / den


def evaluate(both: pd.DataFrame, is_t: np.ndarray, result, t_sel: np.ndarray | None,
             spec: MatchSpec) -> BalanceGate:
    """The gate for a MatchResult made on ``both`` (treated rows first); code left "balanced"
    or "no_reliable_comparison" by pass/fail, the caller sets the final code.

    Each key balance variable j has its own line: max(0.10, z * sd_j), sd_j the spread of its SMD
    over random splits (``chance_sd``) and z the normal quantile that makes the chance of any key
    variable crossing its line by luck 1 - ``spec.gate_quantile`` (Bonferroni over the m
    variables: z = Phi^-1(1 - (1 - q) / (2m))). Variables matched exactly, or constant among the
    treated, have no chance spread and are held to the 10% rule.
    """
    from scipy.stats import norm

    w = np.asarray(result.unit_weights, dtype=np.float64)
    n_t_all = int(is_t.sum())
    sel_t = np.zeros(len(both), dtype=bool)
    sel_t[:n_t_all] = True if t_sel is None else t_sel
    units = np.flatnonzero(w > 0)
    exact = set(spec.exact)
    covs = [c for c in KEY_COVARIATES if c in both.columns and c not in exact]
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
            # constant among the treated: drawn from one population, the comparison records
            # would be constant too, so chance adds no spread (the 10% rule still applies)
            continue
        names.append(name)
        cols_u.append(x)
        dens.append(sd)
    x_u = np.column_stack(cols_u) if cols_u else np.zeros((len(units), 0))
    sds = chance_sd(x_u, is_t[units], w[units], np.asarray(dens))
    m = max(len(names), 1)
    z = float(norm.ppf(1 - (1 - spec.gate_quantile) / (2 * m)))
    chance = {n: float(z * v) for n, v in zip(names, sds) if np.isfinite(v)}
    b = result.balance
    lines: dict[str, float] = {}
    failing: list[str] = []
    for r in b.itertuples(index=False):
        name = str(r.covariate)
        if not is_key(name) or name.split(":")[0] in exact:
            continue
        line = max(ACCEPTABLE, chance.get(name, 0.0))
        lines[name] = line
        if not np.isfinite(r.smd_after) or abs(r.smd_after) > line:
            failing.append(name)
    med_chance = float(np.median(list(chance.values()))) if chance else 0.0
    return BalanceGate(code="balanced" if not failing else "no_reliable_comparison",
                       passed=not failing, threshold=max(ACCEPTABLE, med_chance),
                       chance_threshold=med_chance, thresholds=lines, failing=failing)
