"""Flexible propensity-model terms derived from the recorded covariates, and the specifications
(sets of terms) the matching chooses between by balance.

Real programmes select people non-linearly: very young adults, short sentences, first offenders,
prolific offenders. A model linear in age, previous offences and sentence length cannot see
that, and a balance check on the same linear terms cannot either (fidelity review, issue 12:
84.5% placebo coverage). So the model may add the terms below, and balance is always checked on
all of them, whichever specification was fitted. Each derived term is a named column computed
from recorded characteristics only (never from outcomes), so the propensity model, the balance
table and MatchIt (as a formula) all see the same thing.
"""
from __future__ import annotations

from typing import Callable, Final, Literal

import numpy as np
import pandas as pd

# Age bands of the flexible model: narrower where re-offending changes fastest (young adults).
AGE_BANDS: Final[tuple[tuple[str, int, int], ...]] = (
    ("up to 20", 0, 20), ("21-24", 21, 24), ("25-29", 25, 29), ("30-39", 30, 39),
    ("40-49", 40, 49), ("50+", 50, 200))
AGE_BAND_LEVELS: Final[tuple[str, ...]] = tuple(b[0] for b in AGE_BANDS)
# Bands used when a re-specification matches exactly on a key variable that failed the gate.
PREV_OFFENCE_BANDS: Final[tuple[tuple[str, float, float], ...]] = (
    ("0", 0, 0), ("1-2", 1, 2), ("3-6", 3, 6), ("7-15", 7, 15), ("16+", 16, np.inf))
PREV_BAND_LEVELS: Final[tuple[str, ...]] = tuple(b[0] for b in PREV_OFFENCE_BANDS)
SCORE_BAND_LEVELS: Final[tuple[str, ...]] = ("q1", "q2", "q3", "q4")


def _band(x: np.ndarray, bands: tuple[tuple[str, float, float], ...]) -> pd.Categorical:
    codes = np.full(len(x), -1, dtype=np.int8)
    for i, (_, lo, hi) in enumerate(bands):
        codes[(x >= lo) & (x <= hi)] = i
    return pd.Categorical.from_codes(codes, categories=[b[0] for b in bands])


def _num(frame: pd.DataFrame, col: str) -> np.ndarray:
    return frame[col].to_numpy(dtype=np.float64)


def _short(frame: pd.DataFrame) -> np.ndarray:
    # a short sentence is under 12 months of custody or of a community order; cautions have none
    d = frame["disposal"]
    if isinstance(d.dtype, pd.CategoricalDtype):   # compare codes, not a million strings
        cats = list(d.cat.categories)
        caution = d.cat.codes.to_numpy() == (cats.index("caution") if "caution" in cats else -2)
    else:
        caution = d.astype(str).to_numpy() == "caution"
    return (_num(frame, "sentence_months") < 12) & ~caution


TermKind = Literal["numeric", "binary", "categorical"]
# name -> (kind, the recorded columns it is made from, how it is computed)
DERIVED: Final[dict[str, tuple[TermKind, tuple[str, ...], Callable[[pd.DataFrame], object]]]] = {
    "age_band": ("categorical", ("age_at_index",),
                 lambda f: _band(_num(f, "age_at_index"), AGE_BANDS)),
    "log_prev_offences": ("numeric", ("prev_offences",), lambda f: np.log1p(_num(f, "prev_offences"))),
    "log_prev_custody": ("numeric", ("prev_custody",), lambda f: np.log1p(_num(f, "prev_custody"))),
    "first_offender": ("binary", ("prev_offences",), lambda f: _num(f, "prev_offences") == 0),
    "short_sentence": ("binary", ("sentence_months", "disposal"), _short),
    # interactions: prolific young adults, and prolific people on short sentences, are the
    # groups programmes most often target and the ones a main-effects model misplaces
    "young_x_log_prev": ("numeric", ("age_at_index", "prev_offences"),
                         lambda f: (_num(f, "age_at_index") <= 24) * np.log1p(_num(f, "prev_offences"))),
    "short_x_log_prev": ("numeric", ("sentence_months", "disposal", "prev_offences"),
                         lambda f: _short(f) * np.log1p(_num(f, "prev_offences"))),
}
DERIVED_LEVELS: Final[dict[str, tuple[str, ...]]] = {"age_band": AGE_BAND_LEVELS}

# The specifications tried, simplest first (a tie in balance keeps the simpler one).
Specification = Literal["linear", "flexible", "interactions"]
SPECIFICATIONS: Final[dict[str, tuple[str, ...]]] = {
    "linear": (),
    "flexible": ("age_band", "log_prev_offences", "log_prev_custody", "first_offender",
                 "short_sentence"),
    "interactions": ("age_band", "log_prev_offences", "log_prev_custody", "first_offender",
                     "short_sentence", "young_x_log_prev", "short_x_log_prev"),
}
ALL_TERMS: Final[tuple[str, ...]] = tuple(DERIVED)


def terms_for(covariates: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The derived terms computable from ``covariates`` (plus disposal, always present)."""
    have = set(covariates) | {"disposal"}
    return tuple(t for t, (_, needs, _) in DERIVED.items() if set(needs) <= have)


def add_terms(frame: pd.DataFrame, names: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """``frame`` with the derived columns ``names`` added (a shallow copy; existing kept)."""
    todo = [n for n in names if n in DERIVED and n not in frame.columns]
    if not todo:
        return frame
    out = frame.copy(deep=False)
    for n in todo:
        out[n] = DERIVED[n][2](frame)
    return out


def score_band(values: np.ndarray, treated: np.ndarray) -> pd.Categorical:
    """Quartile bands of a score (OGRS, Copas) cut at the treated people's quartiles."""
    edges = np.quantile(values[treated], [0.25, 0.5, 0.75])
    codes = np.searchsorted(edges, values, side="right").astype(np.int8)
    return pd.Categorical.from_codes(codes, categories=list(SCORE_BAND_LEVELS))
