"""``match(treated, pool, spec) -> MatchResult``: propensity model, matching, weights and balance.

Kept apart from effect estimation (jdl_core.outcomes), as in R MatchIt. The matching method is
dispatched by name (``METHODS``), one module per method.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from ..errors import DataError, NoOverlap
from ..result import BalanceRow, OverlapSummary
from . import nearest
from .balance import balance_rows, balance_table
from .propensity import PropensityModel, check_columns, check_missing, support_masks
from .spec import MatchSpec

METHODS: dict[str, Callable[..., nearest.Pairs]] = {"nearest": nearest.match_nearest}

ID_COLUMNS = ("event_id", "person_key")
OVERLAP_BINS = 30


@dataclass(frozen=True)
class MatchResult:
    """The outcome of matching, read through ``balance`` and ``matched`` (as MatchIt's object).

    matched : long format, one row per unit per matched set (MatchIt's ``get_matches``):
        the treated unit and its comparison records, with ``subclass`` (matched-set id, 1..),
        ``treated`` (bool), ``pair_weight`` (1 for the treated unit, 1/k_i for each of the k_i
        comparison records of set i), ``weight`` (the unit's matching weight) and ``distance``.
        A comparison record used by several sets appears once per set.
    weights : one row per matched unit: ``event_id``, ``person_key``, ``treated``, ``weight``
        (MatchIt's ATT matching weights: 1 for matched treated; for a comparison record the sum
        of 1/k_i over the sets it serves, scaled so they add up to the number of distinct
        comparison records used) and ``times_used``.
    balance : one row per covariate, covariate level and the distance: means, SMD before and
        after (same denominator), variance ratios, flag.
    dropped_treated : treated units left unmatched: ``event_id``, ``person_key``, ``reason``
        ("not_in_strata" or "no_match_in_caliper").
    """

    spec: MatchSpec
    matched: pd.DataFrame
    weights: pd.DataFrame
    balance: pd.DataFrame
    dropped_treated: pd.DataFrame
    overlap: OverlapSummary
    propensity: PropensityModel
    caliper: float | None           # in logit units, after scaling
    n_treated_input: int
    n_pool: int                     # comparison records offered (after removing treated people)
    n_pool_removed_treated_people: int
    warnings: list[str] = field(default_factory=list)

    @property
    def n_treated(self) -> int:
        """Treated units matched."""
        return int(self.weights["treated"].sum())

    @property
    def n_comparison(self) -> int:
        """Distinct comparison records used."""
        return int((~self.weights["treated"]).sum())

    def dropped_counts(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.dropped_treated["reason"].value_counts().items()}

    def balance_rows(self) -> list[BalanceRow]:
        return balance_rows(self.balance)

    def summary(self) -> str:
        """A short text summary, like printing a MatchIt object."""
        s = self.spec
        lines = [
            f"{s.method} matching on the {s.distance} of the propensity score, k={s.k}, "
            f"{'with' if s.replace else 'without'} replacement, caliper "
            f"{'none' if self.caliper is None else f'{self.caliper:.4f} logit'}, "
            f"exact on {list(s.exact) or 'nothing'}",
            f"treated: {self.n_treated_input} offered, {self.n_treated} matched, "
            f"{len(self.dropped_treated)} dropped {self.dropped_counts() or ''}".rstrip(),
            f"comparison pool: {self.n_pool} records, {self.n_comparison} used",
        ]
        poor = self.balance[self.balance["flag"] == "poor"]["covariate"].tolist()
        lines.append("balance: all |SMD| <= 10%" if not poor else f"balance poor for: {poor}")
        return "\n".join(lines)


def _canonical(frame: pd.DataFrame) -> pd.DataFrame:
    # a fixed row order makes every floating-point sum, and so every tie, independent of the
    # order the caller supplied rows in
    if frame["event_id"].is_monotonic_increasing:
        return frame.reset_index(drop=True)  # already in order: no sorted copy of a large pool
    return frame.sort_values("event_id", kind="stable").reset_index(drop=True)


def _strata(treated: pd.DataFrame, pool: pd.DataFrame, exact: tuple[str, ...]
            ) -> tuple[np.ndarray, np.ndarray]:
    if not exact:
        return np.zeros(len(treated), dtype=np.int64), np.zeros(len(pool), dtype=np.int64)
    both = pd.concat([treated[list(exact)], pool[list(exact)]], ignore_index=True)
    codes = both.groupby(list(exact), sort=True, dropna=False).ngroup().to_numpy(np.int64)
    return codes[:len(treated)], codes[len(treated):]


def _overlap(logit_t: np.ndarray, logit_c: np.ndarray, w_c: np.ndarray,
             caliper: float | None) -> OverlapSummary:
    allv = np.concatenate([logit_t, logit_c])
    allv = allv[np.isfinite(allv)]
    lo, hi = (float(allv.min()), float(allv.max())) if allv.size else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, OVERLAP_BINS + 1)

    def hist(v: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
        ok = np.isfinite(v)
        return np.histogram(v[ok], bins=edges, weights=None if w is None else w[ok])[0]

    return OverlapSummary(
        bin_edges=[float(e) for e in edges],
        treated_counts=[int(c) for c in hist(logit_t)],
        pool_counts=[int(c) for c in hist(logit_c)],
        matched_counts=[float(c) for c in hist(logit_c, w_c)],
        caliper=caliper)


def match(treated: pd.DataFrame, pool: pd.DataFrame, spec: MatchSpec | None = None) -> MatchResult:
    """Form the matched comparison group for ``treated`` from ``pool``.

    Both frames need ``event_id``, ``person_key``, the spec's covariates and exact columns.
    Every event of a treated person is removed from the pool here, whatever the caller did.
    """
    spec = spec or MatchSpec()
    needed = list(dict.fromkeys([*ID_COLUMNS, *spec.covariates, *spec.exact]))
    check_columns(treated, needed, "the treated records")
    check_columns(pool, needed, "the comparison pool")
    if treated["event_id"].duplicated().any():
        raise DataError("the treated records repeat an event_id; each treated record must be a "
                        "distinct index event")
    check_missing(treated, needed, "the treated records")
    warnings: list[str] = []

    n_pool_in = len(pool)
    of_treated = pool["person_key"].isin(treated["person_key"]).to_numpy()
    if of_treated.any():  # copies are avoided when there is nothing to remove (large pools)
        pool = pool[~of_treated]
    removed_people = n_pool_in - len(pool)
    if not pool["event_id"].is_unique:
        pool = pool.drop_duplicates("event_id")
    missing = np.zeros(len(pool), dtype=bool)
    for c in needed:
        missing |= pool[c].isna().to_numpy()
    n_missing = int(missing.sum())
    if n_missing:
        pool = pool[~missing]
        warnings.append(f"{n_missing} comparison record(s) with missing covariates left out")
    treated = _canonical(treated)
    pool = _canonical(pool)
    n_t, n_c = len(treated), len(pool)
    if n_c == 0:
        raise NoOverlap("the comparison pool is empty once the treated people are removed: "
                        "there is nobody to compare the cohort with; check the setting and period")

    both = pd.concat([treated[needed], pool[needed]], ignore_index=True)
    is_t = np.zeros(n_t + n_c, dtype=bool)
    is_t[:n_t] = True

    keep, notes = support_masks(both, is_t, spec.covariates)
    warnings.extend(notes)
    keep_t, keep_c = keep[:n_t], keep[n_t:]
    if not keep_t.any():
        raise NoOverlap("no treated person shares the characteristics of any comparison record "
                        f"({'; '.join(notes)}); there is no comparison group for this cohort")
    if not keep_c.any():
        raise NoOverlap("no comparison record shares the characteristics of the treated people "
                        f"({'; '.join(notes)}); check the setting and period of the cohort")

    model = PropensityModel(spec.covariates, random_state=spec.random_state)
    model.fit(both[keep], is_t[keep])
    for name, why in model.dropped_:
        warnings.append(f"covariate {name!r} left out of the propensity model ({why}: "
                        + ("the same value for everyone analysed)" if why == "constant"
                           else "a combination of other covariates)"))
    logit = np.full(n_t + n_c, -np.inf)
    logit[keep] = model.fitted_logit_
    logit[:n_t][~keep_t] = np.inf  # treated outside the support: no comparison can be near
    lt, lc = logit[:n_t], logit[n_t:]

    caliper = spec.caliper
    if caliper is not None and spec.std_caliper:
        caliper = caliper * float(np.std(logit[keep], ddof=1))  # MatchIt: sd over all units

    st, sc = _strata(treated, pool, spec.exact)
    in_strata = np.isin(st, sc[keep_c])
    matchable_t = np.flatnonzero(keep_t & in_strata)
    matchable_c = np.flatnonzero(keep_c)
    pairs = METHODS[spec.method](lt[matchable_t], lc[matchable_c], st[matchable_t], sc[matchable_c],
                                 k=spec.k, replace=spec.replace, caliper=caliper,
                                 m_order=spec.m_order)
    pt = matchable_t[pairs.treated]
    pc = matchable_c[pairs.control]

    # matched sets numbered 1.. in canonical order of their treated unit
    set_of_t = np.zeros(n_t, dtype=np.int64)
    matched_t = np.unique(pt)
    set_of_t[matched_t] = np.arange(1, len(matched_t) + 1)
    k_i = np.bincount(pt, minlength=n_t)
    pair_w = 1.0 / k_i[pt]

    # MatchIt weights: treated 1; comparison sum of 1/k_i, scaled to the number of records used
    w_t = (k_i > 0).astype(np.float64)
    w_c = np.bincount(pc, weights=pair_w, minlength=n_c)
    used_c = w_c > 0
    if used_c.any():
        w_c *= used_c.sum() / w_c.sum()
    times_used = np.bincount(pc, minlength=n_c)

    dropped_mask = k_i == 0
    reason = np.where(keep_t & in_strata, "no_match_in_caliper", "not_in_strata")
    dropped = pd.DataFrame({"event_id": treated["event_id"].to_numpy()[dropped_mask],
                            "person_key": treated["person_key"].to_numpy()[dropped_mask],
                            "reason": reason[dropped_mask]})
    if len(matched_t) == 0:
        raise NoOverlap(
            f"none of the {n_t} treated people has a comparison record within the caliper "
            f"({spec.caliper} SD of the logit) in the same {list(spec.exact)} stratum: the cohort "
            "does not overlap the national pool; check the setting and period, or widen the "
            "caliper in the match spec")

    # long format: treated rows then their comparison rows, by set and rank
    t_rows = treated.iloc[matched_t].assign(
        subclass=set_of_t[matched_t], treated=True, pair_weight=1.0, weight=1.0,
        distance=lt[matched_t], _rank=-1)
    c_rows = pool.iloc[pc].assign(
        subclass=set_of_t[pt], treated=False, pair_weight=pair_w, weight=w_c[pc],
        distance=lc[pc], _rank=pairs.rank)
    matched = (pd.concat([t_rows, c_rows], ignore_index=True)
               .sort_values(["subclass", "_rank"], kind="stable")
               .drop(columns="_rank").reset_index(drop=True))

    weights = pd.concat([
        pd.DataFrame({"event_id": treated["event_id"].to_numpy()[matched_t],
                      "person_key": treated["person_key"].to_numpy()[matched_t],
                      "treated": True, "weight": 1.0, "times_used": 1}),
        pd.DataFrame({"event_id": pool["event_id"].to_numpy()[used_c],
                      "person_key": pool["person_key"].to_numpy()[used_c],
                      "treated": False, "weight": w_c[used_c], "times_used": times_used[used_c]}),
    ], ignore_index=True)

    all_w = np.concatenate([w_t, w_c])
    balance = balance_table(both, is_t, all_w, spec.covariates, distance=logit)
    overlap = _overlap(lt, lc, w_c, caliper)
    n_dropped = int(dropped_mask.sum())
    if n_dropped:
        warnings.append(f"{n_dropped} of {n_t} treated people had no comparison record within the "
                        "caliper or stratum and were dropped: the estimate is for the people matched")
    return MatchResult(spec=spec, matched=matched, weights=weights, balance=balance,
                       dropped_treated=dropped, overlap=overlap, propensity=model, caliper=caliper,
                       n_treated_input=n_t, n_pool=n_c, n_pool_removed_treated_people=removed_people,
                       warnings=warnings)

