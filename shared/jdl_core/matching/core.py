"""``match(treated, pool, spec) -> MatchResult``: propensity model, matching, weights and balance.

Kept apart from effect estimation (jdl_core.outcomes), as in R MatchIt. The matching method is
dispatched by name (``METHODS``), one module per method.

With ``spec.terms = "auto"`` the propensity model is chosen by balance (``select``): each
specification of ``terms.SPECIFICATIONS`` is fitted and matched, and the one with the best balance
on every covariate, covariate level and derived term (|SMD| and KS) is kept. Then the balance gate
(``gate``) judges the key variables against the 10% rule and against chance at this size; when
they fail it tries the documented re-specifications. ``match_within`` re-uses a fitted problem
for a sub-analysis (matching a subset of the treated within strata of the subgroup variable).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from ..errors import DataError, NoOverlap
from ..result import BalanceGate, BalanceRow, OverlapSummary, SpecificationTried
from . import gate as gating
from . import nearest
from .balance import balance_rows, balance_table
from .propensity import PropensityModel, category_levels, check_columns, check_missing, support_masks
from .spec import COVARIATE_KINDS, MatchSpec
from .terms import SPECIFICATIONS, add_terms, terms_for

METHODS: dict[str, Callable[..., nearest.Pairs]] = {"nearest": nearest.match_nearest}

ID_COLUMNS = ("event_id", "person_key")
OVERLAP_BINS = 30
# Above this many comparison records, specifications are compared on a fixed random sample of
# the pool (all treated kept); only the chosen one is fitted on everything (warm-started from its
# fit on the sample). 50,000 records give 1,000 treated people fifty candidates each, so balance
# differences between specifications show as on the whole pool, at a twentieth of the cost of 1M.
SELECT_POOL = 50_000


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
    overlap: OverlapSummary | None   # None for sub-analyses
    propensity: PropensityModel
    caliper: float | None           # in logit units, after scaling
    n_treated_input: int
    n_pool: int                     # comparison records offered (after removing treated people)
    n_pool_removed_treated_people: int
    warnings: list[str] = field(default_factory=list)
    specification: str = ""        # propensity-model specification (terms.SPECIFICATIONS name)
    specifications: list[SpecificationTried] = field(default_factory=list)
    gate: BalanceGate | None = None
    # the fitted problem, logits and unit weights (over problem.both rows), kept so the gate and
    # sub-analyses can re-use them (match_within); never part of a published result
    problem: "_Problem | None" = field(default=None, repr=False)
    fit: "_Fit | None" = field(default=None, repr=False)
    unit_weights: np.ndarray | None = field(default=None, repr=False)

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
        if self.specification:
            lines.append(f"specification: {self.specification}")
        if self.gate is not None:
            lines.append(f"gate: {self.gate.code} (threshold {self.gate.threshold:.3f}"
                         + (f", failing {self.gate.failing}" if self.gate.failing else "") + ")")
        return "\n".join(lines)


def _canonical(frame: pd.DataFrame) -> pd.DataFrame:
    # a fixed row order makes every floating-point sum, and so every tie, independent of the
    # order the caller supplied rows in
    if frame["event_id"].is_monotonic_increasing:
        return frame.reset_index(drop=True)  # already in order: no sorted copy of a large pool
    return frame.sort_values("event_id", kind="stable").reset_index(drop=True)


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


@dataclass
class _Problem:
    """Treated and pool in canonical order, stacked (``both``: treated rows first) with the
    derived terms added and categorical columns converted once (fast codes on 1M rows)."""

    treated: pd.DataFrame
    pool: pd.DataFrame
    both: pd.DataFrame
    is_t: np.ndarray
    spec: MatchSpec
    balance_covariates: list[str]
    n_pool_in: int
    removed_people: int
    warnings: list[str]
    strata: dict[tuple[str, ...], np.ndarray] = field(default_factory=dict)   # cache

    @property
    def n_t(self) -> int:
        return len(self.treated)

    @property
    def n_c(self) -> int:
        return len(self.pool)


def _prepare(treated: pd.DataFrame, pool: pd.DataFrame, spec: MatchSpec) -> _Problem:
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
    if len(pool) == 0:
        raise NoOverlap("the comparison pool is empty once the treated people are removed: "
                        "there is nobody to compare the cohort with; check the setting and period")
    extra = [c for c in ("disposal",) if c in treated.columns and c in pool.columns and c not in needed]
    cols = needed + extra
    both = pd.concat([treated[cols], pool[cols]], ignore_index=True)
    for c in cols:
        if COVARIATE_KINDS.get(c) == "categorical" and not isinstance(both[c].dtype, pd.CategoricalDtype):
            both[c] = _categorical(both[c], c)
    derived = [t for t in terms_for(spec.covariates) if t not in spec.covariates]
    both = add_terms(both, derived)
    is_t = np.zeros(len(both), dtype=bool)
    is_t[:len(treated)] = True
    return _Problem(treated=treated, pool=pool, both=both, is_t=is_t, spec=spec,
                    balance_covariates=list(dict.fromkeys([*spec.covariates, *derived])),
                    n_pool_in=n_pool_in, removed_people=removed_people, warnings=warnings)


def _categorical(values: pd.Series, covariate: str) -> pd.Categorical:
    """``values`` as a Categorical in the canonical level order; factorize is fast on Arrow
    strings (pd.Categorical on 1M Arrow strings took over a second)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    levels = category_levels(covariate, pd.Series(np.asarray(uniques, dtype=object)))
    remap = np.array([levels.index(u) for u in np.asarray(uniques, dtype=object)] + [-1],
                     dtype=np.int64)
    return pd.Categorical.from_codes(remap[codes], categories=levels)


@dataclass
class _Fit:
    model: PropensityModel
    logit: np.ndarray          # over problem.both; -inf / +inf outside the support
    keep: np.ndarray           # rows inside the support
    caliper: float | None      # logit units
    notes: list[str]
    sample_fraction: float | None = None   # share of the pool the fit used (None: all of it)
    _order: np.ndarray | None = None   # stable argsort of the pool logits (cached)

    def pool_order(self, n_t: int) -> np.ndarray:
        """Pool rows (0-based) by increasing logit, ties in canonical order: sorted once, then
        every (sub-)analysis takes its candidates in this order without sorting again."""
        if self._order is None:
            self._order = np.argsort(self.logit[n_t:], kind="stable")
        return self._order


def _fit(prob: _Problem, covariates: Sequence[str], spec: MatchSpec,
         rows: np.ndarray | None = None, start: _Fit | None = None) -> _Fit:
    """Propensity model on ``covariates`` over all rows (or the given subset of rows).
    ``start``: the same model fitted on a sample of the pool, to start Newton from."""
    frame = prob.both if rows is None else prob.both.iloc[rows]
    is_t = prob.is_t if rows is None else prob.is_t[rows]
    keep, notes = support_masks(frame, is_t, covariates)
    if not keep[is_t].any():
        raise NoOverlap("no treated person shares the characteristics of any comparison record "
                        f"({'; '.join(notes)}); there is no comparison group for this cohort")
    if not keep[~is_t].any():
        raise NoOverlap("no comparison record shares the characteristics of the treated people "
                        f"({'; '.join(notes)}); check the setting and period of the cohort")
    model = PropensityModel(covariates, random_state=spec.random_state)
    if start is not None and start.sample_fraction:
        model.fit(frame[keep], is_t[keep], start=start.model.coefficients(),
                  start_offset=float(np.log(start.sample_fraction)))
    else:
        model.fit(frame[keep], is_t[keep])
    logit = np.full(len(frame), -np.inf)
    logit[keep] = model.fitted_logit_
    logit[is_t & ~keep] = np.inf  # treated outside the support: no comparison can be near
    caliper = spec.caliper
    if caliper is not None and spec.std_caliper:
        caliper = caliper * float(np.std(logit[keep], ddof=1))  # MatchIt: sd over all units
    return _Fit(model, logit, keep, caliper, notes)


def _strata_codes(frame: pd.DataFrame, exact: Sequence[str]) -> np.ndarray:
    if not exact:
        return np.zeros(len(frame), dtype=np.int64)
    return frame.groupby(list(exact), sort=True, dropna=False, observed=True).ngroup().to_numpy(np.int64)


def _assemble(prob: _Problem, fit: _Fit, spec: MatchSpec, *, exact: Sequence[str],
              caliper: float | None, t_sel: np.ndarray | None = None,
              c_sel: np.ndarray | None = None, extra_strata: np.ndarray | None = None,
              before: bool = True, name: str = "", rows: np.ndarray | None = None,
              warn: bool = True, light: bool = False) -> MatchResult:
    """Match the selected treated (``t_sel``, over treated rows) to the selected pool records
    (``c_sel``, over pool rows) on ``fit``'s logits within ``exact`` strata, and measure balance.

    ``rows``: when the fit was made on a subset of ``prob.both`` (specification choice on a
    large pool), the positions of that subset; ``t_sel``/``c_sel`` then index its rows.
    """
    frame = prob.both if rows is None else prob.both.iloc[rows].reset_index(drop=True)
    is_t = prob.is_t if rows is None else prob.is_t[rows]
    n_t = int(is_t.sum())
    n_c = len(frame) - n_t
    treated = prob.treated
    pool = prob.pool if rows is None else prob.pool.iloc[rows[n_t:] - prob.n_t].reset_index(drop=True)
    t_sel = np.ones(n_t, dtype=bool) if t_sel is None else t_sel
    c_sel = np.ones(n_c, dtype=bool) if c_sel is None else c_sel
    lt, lc = fit.logit[:n_t], fit.logit[n_t:]
    keep_t, keep_c = fit.keep[:n_t], fit.keep[n_t:]

    if rows is None:
        key = tuple(exact)
        if key not in prob.strata:
            prob.strata[key] = _strata_codes(frame, exact)
        codes = prob.strata[key]
    else:
        codes = _strata_codes(frame, exact)
    if extra_strata is not None:
        codes = codes * (int(extra_strata.max()) + 2) + extra_strata
    st, sc = codes[:n_t], codes[n_t:]
    c_ok = keep_c & c_sel
    in_strata = np.isin(st, np.unique(sc[c_ok]))
    matchable_t = np.flatnonzero(keep_t & in_strata & t_sel)
    order = fit.pool_order(n_t)
    matchable_c = order[c_ok[order]]          # by increasing logit: no sort per stratum
    pairs = METHODS[spec.method](lt[matchable_t], lc[matchable_c], st[matchable_t], sc[matchable_c],
                                 k=spec.k, replace=spec.replace, caliper=caliper,
                                 m_order=spec.m_order, presorted=True)
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

    dropped_mask = (k_i == 0) & t_sel
    reason = np.where(keep_t & in_strata, "no_match_in_caliper", "not_in_strata")
    dropped = pd.DataFrame({"event_id": treated["event_id"].to_numpy()[dropped_mask],
                            "person_key": treated["person_key"].to_numpy()[dropped_mask],
                            "reason": reason[dropped_mask]})
    if len(matched_t) == 0:
        raise NoOverlap(
            f"none of the {int(t_sel.sum())} treated people has a comparison record within the "
            f"caliper ({spec.caliper} SD of the logit) in the same {list(exact)} stratum: the "
            "cohort does not overlap the national pool; check the setting and period, or widen "
            "the caliper in the match spec")

    if light:
        # choosing a specification needs only the balance: skip the long-format frames
        all_w = np.concatenate([w_t, w_c])
        rows_b: slice | np.ndarray = np.flatnonzero(np.concatenate([t_sel, used_c]))
        bal = balance_table(frame.iloc[rows_b], is_t[rows_b], all_w[rows_b],
                            prob.balance_covariates, before=False, seed=spec.random_state)
        wts = pd.DataFrame({"treated": np.r_[np.ones(len(matched_t), bool), np.zeros(int(used_c.sum()), bool)]})
        return MatchResult(spec=spec, matched=pd.DataFrame(), weights=wts, balance=bal,
                           dropped_treated=dropped, overlap=None, propensity=fit.model,
                           caliper=caliper, n_treated_input=int(t_sel.sum()),
                           n_pool=int(c_sel.sum()), n_pool_removed_treated_people=0,
                           specification=name)

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

    # balance over the selected treated (all of them: the ATT target) and the selected pool
    all_w = np.concatenate([w_t, w_c])
    if before:
        sel = np.concatenate([t_sel, c_sel])
        rows_b = slice(None) if sel.all() else np.flatnonzero(sel)
    else:
        # after matching only: the selected treated and the records used (a few thousand rows)
        rows_b = np.flatnonzero(np.concatenate([t_sel, used_c]))
    bframe = frame if isinstance(rows_b, slice) else frame.iloc[rows_b]
    balance = balance_table(bframe, is_t[rows_b], all_w[rows_b], prob.balance_covariates,
                            distance=fit.logit[rows_b], before=before, seed=spec.random_state)
    # the overlap histogram is for the headline report; sub-analyses skip the pass over the pool
    overlap = _overlap(lt[t_sel], lc[c_sel], w_c[c_sel], caliper) if before else None
    warnings = list(prob.warnings) + list(fit.notes) if warn else []
    if warn:
        for cov, why in fit.model.dropped_:
            warnings.append(f"covariate {cov!r} left out of the propensity model ({why}: "
                            + ("the same value for everyone analysed)" if why == "constant"
                               else "a combination of other covariates)"))
    n_dropped = int(dropped_mask.sum())
    if n_dropped and warn:
        warnings.append(f"{n_dropped} of {int(t_sel.sum())} treated people had no comparison record "
                        "within the caliper or stratum and were dropped: the estimate is for the "
                        "people matched")
    return MatchResult(spec=spec, matched=matched, weights=weights, balance=balance,
                       dropped_treated=dropped, overlap=overlap, propensity=fit.model,
                       caliper=caliper, n_treated_input=int(t_sel.sum()), n_pool=int(c_sel.sum()),
                       n_pool_removed_treated_people=prob.removed_people, warnings=warnings,
                       specification=name, problem=prob if rows is None else None,
                       fit=fit if rows is None else None,
                       unit_weights=all_w if rows is None else None)


def _summary_of(name: str, terms: Sequence[str], exact: Sequence[str], caliper_sd: float | None,
                r: MatchResult) -> SpecificationTried:
    b = r.balance[r.balance["covariate"] != "distance"]
    smd = np.abs(b["smd_after"].to_numpy(dtype=float))
    ks = b["ks_after"].to_numpy(dtype=float)
    return SpecificationTried(
        name=name, terms=list(terms), exact=list(exact), caliper=caliper_sd,
        n_matched=r.n_treated,
        max_abs_smd=float(np.nanmax(smd)) if np.isfinite(smd).any() else float("inf"),
        max_ks=float(np.nanmax(ks)) if np.isfinite(ks).any() else 0.0)


def _score(s: SpecificationTried) -> float:
    # the worse of the largest mean gap and the largest distribution gap: a specification must
    # balance both (a mean can balance while the distribution does not)
    return max(s.max_abs_smd, s.max_ks)


def _select(prob: _Problem, spec: MatchSpec
            ) -> tuple[str, list[SpecificationTried], dict[str, _Fit]]:
    """Fit each candidate specification and keep the best balanced (simplest on a near tie)."""
    names = list(SPECIFICATIONS)
    rows = None
    if prob.n_c > SELECT_POOL:
        rng = np.random.default_rng(spec.random_state)
        sample = np.sort(rng.choice(prob.n_c, SELECT_POOL, replace=False)) + prob.n_t
        rows = np.concatenate([np.arange(prob.n_t), sample])
    tried: list[SpecificationTried] = []
    fits: dict[str, _Fit] = {}
    for name in names:
        terms = [t for t in SPECIFICATIONS[name] if t in prob.balance_covariates]
        covs = list(dict.fromkeys([*spec.covariates, *terms]))
        try:
            fit = _fit(prob, covs, spec, rows)
            if rows is not None:
                fit.sample_fraction = SELECT_POOL / prob.n_c
            fits[name] = fit   # re-used if chosen (as is, or as the start on the whole pool)
            r = _assemble(prob, fit, spec, exact=spec.exact, caliper=fit.caliper, before=False,
                          name=name, rows=rows, warn=False, light=True)
        except NoOverlap:
            continue
        tried.append(_summary_of(name, terms, spec.exact, spec.caliper, r))
    if not tried:
        return names[0], [], fits
    most = max(s.n_matched for s in tried)
    # a specification that balances by dropping people is not better: keep those matching
    # nearly everyone the best one matches
    ok = [s for s in tried if s.n_matched >= 0.95 * most]
    best = min(ok, key=_score)
    chosen = next(s for s in ok if _score(s) <= _score(best) + 0.005)  # simplest near-best
    return chosen.name, tried, fits


def _respecifications(failing: Sequence[str], name: str, refit: bool = True
                      ) -> list[tuple[str, str, list[str], float | None]]:
    """The documented re-specifications (methodology.md section 4), in the order tried:
    (label, terms, extra exact columns, caliper in SDs or None for the spec's).

    1. exact matching on a band of each failing key variable (age band, previous-offence band,
       index offence, OGRS and Copas quartile bands), same model;
    2. the same with the interactions model;
    3. the same with a tighter caliper (0.1 SD).
    A sub-analysis (``refit=False``) keeps the headline's model: steps 1 and 3 on it.
    """
    bands: list[str] = []
    for v in failing:
        base = v.split(":")[0]
        col = {"age_at_index": "age_band", "age_band": "age_band", "prev_offences": "_prev_band",
               "log_prev_offences": "_prev_band", "first_offender": "_prev_band",
               "offence_group": "offence_group", "ogrs_score": "_ogrs_band",
               "copas_rate": "_copas_band", "sex": "sex"}.get(base)
        if col and col not in bands:
            bands.append(col)
    if not bands:
        return []
    label = "exact on " + ", ".join(b.strip("_") for b in bands)
    out: list[tuple[str, str, list[str], float | None]] = [(f"{name}; {label}", name, bands, None)]
    if not refit:
        return out + [(f"{name}; {label}; caliper 0.1 SD", name, bands, 0.1)]
    if name != "interactions":
        out.append((f"interactions; {label}", "interactions", bands, None))
    out.append((f"interactions; {label}; caliper 0.1 SD", "interactions", bands, 0.1))
    return out


def _add_bands(prob: _Problem, bands: Sequence[str]) -> None:
    from .terms import PREV_OFFENCE_BANDS, _band, score_band

    b = prob.both
    for col in bands:
        if col in b.columns:
            continue
        if col == "age_band":
            b[col] = add_terms(b[["age_at_index", "disposal"]] if "disposal" in b else b[["age_at_index"]],
                               ["age_band"])["age_band"]
        elif col == "_prev_band":
            b[col] = _band(b["prev_offences"].to_numpy(dtype=float), PREV_OFFENCE_BANDS)
        elif col == "_ogrs_band":
            b[col] = score_band(b["ogrs_score"].to_numpy(dtype=float), prob.is_t)
        elif col == "_copas_band":
            b[col] = score_band(b["copas_rate"].to_numpy(dtype=float), prob.is_t)


def _gated(prob: _Problem, fit: _Fit, spec: MatchSpec, name: str, result: MatchResult, *,
           t_sel: np.ndarray | None = None, c_sel: np.ndarray | None = None,
           extra_strata: np.ndarray | None = None, before: bool = True,
           refit: bool = True) -> MatchResult:
    """Apply the balance gate to ``result``; on failure try the re-specifications in order."""
    if not spec.gate:
        return replace(result, gate=BalanceGate(code="not_checked", passed=True, threshold=0.1,
                                                chance_threshold=0.0, specification=name))
    first = gating.evaluate(prob.both, prob.is_t, result, t_sel, spec)
    if first.passed:
        return replace(result, gate=first.model_copy(update={"code": "balanced",
                                                             "specification": name}))
    tried: list[str] = []
    fits = {name: fit}
    for label, terms_name, bands, cal_sd in _respecifications(first.failing, name, refit):
        tried.append(label)
        try:
            _add_bands(prob, bands)
            if terms_name not in fits:
                if not refit:
                    continue
                terms = [t for t in SPECIFICATIONS[terms_name] if t in prob.balance_covariates]
                fits[terms_name] = _fit(prob, list(dict.fromkeys([*spec.covariates, *terms])), spec)
            f = fits[terms_name]
            caliper = f.caliper if cal_sd is None else (
                cal_sd * f.caliper / spec.caliper if (f.caliper and spec.caliper) else cal_sd)
            r = _assemble(prob, f, spec, exact=[*spec.exact, *bands], caliper=caliper,
                          t_sel=t_sel, c_sel=c_sel, extra_strata=extra_strata, before=before,
                          name=label)
        except NoOverlap:
            continue
        if r.n_treated < spec.min_analysed:
            continue
        g = gating.evaluate(prob.both, prob.is_t, r, t_sel, spec)
        if g.passed:
            return replace(r, gate=g.model_copy(update={
                "code": "rebalanced", "failing_first": first.failing, "respecifications": tried,
                "specification": label}))
    return replace(result, gate=first.model_copy(update={
        "code": "no_reliable_comparison", "failing_first": first.failing,
        "respecifications": tried, "specification": name}))


def match(treated: pd.DataFrame, pool: pd.DataFrame, spec: MatchSpec | None = None) -> MatchResult:
    """Form the matched comparison group for ``treated`` from ``pool``.

    Both frames need ``event_id``, ``person_key``, the spec's covariates and exact columns.
    Every event of a treated person is removed from the pool here, whatever the caller did.
    With ``spec.terms = "auto"`` the specification is chosen by balance; with ``spec.gate`` the
    balance gate (and, on failure, the re-specifications) runs and ``result.gate`` says how it went.
    """
    spec = spec or MatchSpec()
    prob = _prepare(treated, pool, spec)
    tried: list[SpecificationTried] = []
    fits: dict[str, _Fit] = {}
    if spec.terms == "auto":
        name, tried, fits = _select(prob, spec)
    else:
        name = spec.terms
    terms = [t for t in SPECIFICATIONS[name] if t in prob.balance_covariates]
    fit = fits.get(name)
    if fit is None or fit.sample_fraction is not None:
        fit = _fit(prob, list(dict.fromkeys([*spec.covariates, *terms])), spec, start=fit)
    result = _assemble(prob, fit, spec, exact=spec.exact, caliper=fit.caliper, name=name)
    tried = [s.model_copy(update={"chosen": s.name == name}) for s in tried]
    result = replace(result, specifications=tried)
    return _gated(prob, fit, spec, name, result)


def match_within(headline: MatchResult, t_sel: np.ndarray, c_sel: np.ndarray | None = None,
                 extra_strata: np.ndarray | None = None, *, name: str = "") -> MatchResult:
    """A sub-analysis: match the treated selected by ``t_sel`` (over the headline's treated rows,
    canonical order) to the pool records selected by ``c_sel`` (over its pool rows), on the
    headline's propensity model, within the headline's strata refined by ``extra_strata`` (codes
    over treated then pool rows: the subgroup variable, matched exactly). Balance is measured on
    the subgroup, and the gate (with re-specification) applied as for the headline.
    """
    prob = headline.problem
    if prob is None:
        raise ValueError("match_within needs a MatchResult made by match() in this process")
    spec = headline.spec
    fit = headline.fit
    assert fit is not None
    exact = list(spec.exact)
    r = _assemble(prob, fit, spec, exact=exact, caliper=headline.caliper, t_sel=t_sel,
                  c_sel=c_sel, extra_strata=extra_strata, before=False,
                  name=name or headline.specification, warn=False)
    return _gated(prob, fit, spec, r.specification, r, t_sel=t_sel, c_sel=c_sel,
                  extra_strata=extra_strata, before=False, refit=False)
