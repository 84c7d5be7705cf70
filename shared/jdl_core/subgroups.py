"""Sub-analyses as analyses: each subgroup is matched within itself, balance-checked and gated.

The fidelity review (issue 12) found age-band results cut out of the whole-cohort matched sets,
whose comparisons were not matched on age (18-24 treated, mean age 22, against controls of mean
30), so null programmes showed "significant" age bands in every run. Here each subgroup level is
its own matched analysis (methodology.md section 5):

* national variables (sex, age band, setting) are matched **exactly**: the treated of the level
  are matched to comparison records of the same level, on the headline propensity model;
* an attribute the organisation uploaded (completed, delivery mode...) exists only for the
  treated, so the level's treated are matched to the whole pool, on the same model;
* each gets its own balance table (after matching), the same gate as the headline (10% rule and
  chance at its size, with re-specification), and its own minimum size (``spec.subgroup_min``
  treated, before and after matching);
* levels that cannot be analysed get a "not analysed" line with a reason code
  (``result.SubgroupReason``), never an exception: a column with one value, too few people, or
  values that could identify someone (dates, free text, near-unique values);
* every sub-analysis is exploratory; their p-values are Holm-adjusted together (all measures of
  all analysed subgroups form one family), and the result counts the tests it contains.
"""
from __future__ import annotations

from typing import Final, Sequence

import numpy as np
import pandas as pd

from .errors import AnalysisError
from .matching.core import MatchResult, match_within
from .matching.spec import MatchSpec
from .outcomes import AGE_BANDS, compare_outcomes
from .result import MeasureResult, SubgroupResult

BUILT_IN: Final[tuple[str, ...]] = ("sex", "age_band", "setting")
# An uploaded attribute with distinct values for more than half its rows (free text, ids) or
# holding dates is treated as identifying; one with more distinct values than this is not a
# grouping (a count of sessions, say: the organisation should band it).
MAX_LEVELS: Final = 12


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error), in the input order."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return [float(v) for v in adj]


def _looks_like_dates(values: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(values):
        return True
    text = values.dropna().astype(str).head(200)
    if text.empty:
        return False
    parsed = pd.to_datetime(text, errors="coerce", dayfirst=True, format="mixed")
    return bool(parsed.notna().mean() > 0.8 and text.str.contains(r"\d").mean() > 0.8
                and text.str.len().median() >= 6)


def attribute_problem(values: pd.Series, min_size: int) -> str | None:
    """Why an uploaded attribute cannot be a sub-analysis variable (a reason code), or None."""
    v = values.dropna()
    n_levels = int(v.astype(str).nunique())
    if n_levels <= 1:
        return "one_level"
    if _looks_like_dates(v) or n_levels > 0.5 * max(len(v), 1):
        return "identifying_values"
    if n_levels > MAX_LEVELS:
        return "too_many_levels"
    if int(v.astype(str).value_counts().max()) < min_size:
        return "too_few_people"
    return None


def _not_analysed(variable: str, level: str, n: int, code: str, gate=None) -> SubgroupResult:
    return SubgroupResult(variable=variable, level=level, n_treated=n, measures=[],
                          status="not_analysed", reason_code=code, gate=gate)  # type: ignore[arg-type]


def _national_codes(both: pd.DataFrame, variable: str) -> tuple[np.ndarray, list[str]] | None:
    """(codes over the rows, level labels) of a built-in sub-analysis variable, or None."""
    if variable == "age_band":
        if "age_at_index" not in both:
            return None
        age = both["age_at_index"].to_numpy(dtype=np.float64)
        upper = np.array([b[2] for b in AGE_BANDS], dtype=np.float64)
        codes = np.searchsorted(upper, age, side="left").astype(np.int64)
        codes[(codes >= len(AGE_BANDS)) | (age < AGE_BANDS[0][1])] = -1
        return codes, [b[0] for b in AGE_BANDS]
    col = {"sex": "sex", "setting": "disposal"}[variable]
    if col not in both:
        return None
    cat = pd.Categorical(both[col]) if not isinstance(both[col].dtype, pd.CategoricalDtype) \
        else both[col].array
    return np.asarray(cat.codes, dtype=np.int64), [str(c) for c in cat.categories]


def analyse_subgroups(headline: MatchResult, spec: MatchSpec | None = None, *,
                      attributes: pd.DataFrame | None = None,
                      requested: Sequence[str] | None = None) -> list[SubgroupResult]:
    """Every sub-analysis of the headline match: sex, age band, setting (when the treated span
    more than one level) and each requested uploaded attribute.

    ``attributes``: one row per treated person, ``person_key`` plus a column per attribute (the
    programme attributes of the upload). ``requested``: the attribute columns asked for (default:
    every column of ``attributes`` but ``person_key``); a requested column that is absent gets an
    "unknown_column" line.
    """
    spec = spec or headline.spec
    prob = headline.problem
    if prob is None:
        raise ValueError("analyse_subgroups needs the MatchResult of match() in this process")
    treated, both = prob.treated, prob.both
    n_t = prob.n_t
    out: list[SubgroupResult] = []

    # national variables: integer codes over treated + pool rows (no strings for a 1M pool),
    # matched exactly
    for var in BUILT_IN:
        coded = _national_codes(both, var)
        if coded is None:
            continue
        codes, labels = coded
        present = np.unique(codes[:n_t][codes[:n_t] >= 0])
        if len(present) < 2:
            continue   # a built-in variable with one level among the treated is simply not a split
        for c in present:
            t_sel = codes[:n_t] == c
            out.append(_one(headline, spec, var, str(labels[c]), t_sel, codes, "exact"))

    if attributes is not None or requested:
        attrs = attributes if attributes is not None else pd.DataFrame({"person_key": []})
        names = list(requested) if requested is not None else [
            c for c in attrs.columns if c != "person_key"]
        if "person_key" not in attrs.columns:
            raise AnalysisError("the sub-analysis attributes need a person_key column to join "
                                "them to the people analysed")
        lookup = attrs.drop_duplicates("person_key").set_index("person_key")
        for col in names:
            if col not in lookup.columns:
                out.append(_not_analysed(col, "", 0, "unknown_column"))
                continue
            vals = lookup[col].reindex(treated["person_key"].to_numpy())
            problem = attribute_problem(vals, spec.subgroup_min)
            if problem in ("one_level", "identifying_values", "too_many_levels"):
                out.append(_not_analysed(col, "", int(vals.notna().sum()), problem))
                continue
            text = vals.astype("string").to_numpy(dtype=object, na_value=None)
            levels = sorted({v for v in text if v is not None})
            for level in levels:
                t_sel = np.asarray([v == level for v in text], dtype=bool)
                out.append(_one(headline, spec, col, level, t_sel, None, "within"))

    _adjust(out)
    return out


def _one(headline: MatchResult, spec: MatchSpec, var: str, level: str, t_sel: np.ndarray,
         codes: np.ndarray | None, how: str) -> SubgroupResult:
    n = int(t_sel.sum())
    if n < spec.subgroup_min:
        return _not_analysed(var, level, n, "too_few_people")
    try:
        r = match_within(headline, t_sel, extra_strata=codes, name=f"{var}={level}")
    except AnalysisError:
        return _not_analysed(var, level, n, "no_overlap")
    if r.n_treated < spec.subgroup_min:
        return _not_analysed(var, level, r.n_treated, "too_few_matched", r.gate)
    if r.gate is not None and not r.gate.passed:
        return _not_analysed(var, level, r.n_treated, "no_reliable_comparison", r.gate)
    measures = compare_outcomes(r, spec)
    return SubgroupResult(variable=var, level=level, n_treated=r.n_treated, measures=measures,
                          n_comparison=r.n_comparison, matched_on=how, gate=r.gate)


def _adjust(subs: list[SubgroupResult]) -> None:
    """Holm-adjust every sub-analysis p-value together (one exploratory family)."""
    keys: list[tuple[int, str]] = []
    ps: list[float] = []
    for i, s in enumerate(subs):
        for m in s.measures:
            if m.estimable and m.p_value is not None and np.isfinite(m.p_value):
                keys.append((i, m.name))
                ps.append(m.p_value)
    adj = holm(ps)
    per: dict[int, dict[str, float]] = {}
    for (i, name), p in zip(keys, adj):
        per.setdefault(i, {})[name] = p
    for i, d in per.items():
        subs[i] = subs[i].model_copy(update={"p_holm": d})


def count_tests(headline: Sequence[MeasureResult], subs: Sequence[SubgroupResult]) -> int:
    """Significance tests in a result: estimable headline measures plus analysed sub-analyses'."""
    n = sum(1 for m in headline if m.estimable and m.p_value is not None)
    return n + sum(1 for s in subs for m in s.measures if m.estimable and m.p_value is not None)
