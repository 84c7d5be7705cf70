"""The true outcome model of the synthetic national dataset, written beside the data as
``risk_model.json`` so tests and method checks can recompute every event's true probability.

Formula (also stored in the JSON ``formula`` field)::

    eta = sum(term.coef * value(term, event))
    p(reoffend within one year) = 1 / (1 + exp(-eta))

Term values: ``constant`` is 1; ``linear`` is ``(x - center) / scale``; ``log1p`` is
``log(1 + x)``; ``indicator`` is 1 when every condition ``[column, op, value]`` holds, else 0.
Every column is one of ``events.parquet`` except ``sex``, which comes from ``people.parquet``
(join on ``person_key``; :func:`true_probability` does the join when given ``people``).
"""
from __future__ import annotations

import copy
import json
import operator
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .. import schema
from ..errors import DataError

RISK_MODEL_VERSION = "1"

FORMULA = (
    "p = 1 / (1 + exp(-eta)); eta = sum over terms of coef * value, where value is 1 for "
    "'constant', (x - center) / scale for 'linear', log(1 + x) for 'log1p', and 1 if all "
    "[column, op, value] conditions hold else 0 for 'indicator'. Columns are events.parquet "
    "columns, except 'sex' from people.parquet joined on person_key."
)

# Categorical columns: the generator evaluates terms on integer codes into these tuples, readers on
# the strings themselves; both give the same value.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "disposal": schema.DISPOSALS,
    "offence_group": schema.OFFENCE_GROUPS,
    "region": schema.REGIONS,
    "sex": ("M", "F"),
}


def _t(name: str, kind: str, coef: float, **kw: Any) -> dict[str, Any]:
    return {"name": name, "kind": kind, "coef": coef, **kw}


# Coefficients chosen so the realism targets of methodology.md section 1 hold (overall about a
# quarter, short custody about half or more, cautions lowest, steep rise with previous offences,
# fall with age, women lower). Calibrated by simulation; see tests/unit/test_synth_generate.py.
_TERMS: list[dict[str, Any]] = [
    _t("intercept", "constant", -2.55),
    _t("age", "linear", -0.55, column="age_at_index", center=30.0, scale=10.0),
    _t("age 18-20", "indicator", 0.50, conditions=[["age_at_index", "<=", 20]]),
    _t("age 21-24", "indicator", 0.15,
       conditions=[["age_at_index", ">=", 21], ["age_at_index", "<=", 24]]),
    _t("female", "indicator", -0.40, conditions=[["sex", "==", "F"]]),
    _t("previous offences", "log1p", 0.45, column="prev_offences"),
    _t("previous custody", "log1p", 0.12, column="prev_custody"),
    _t("copas rate", "linear", 0.40, column="copas_rate", center=-1.0, scale=1.0),
    _t("custody under 12 months", "indicator", 1.55,
       conditions=[["disposal", "==", "custody"], ["sentence_months", "<", 12]]),
    _t("custody 12 months or more", "indicator", -0.10,
       conditions=[["disposal", "==", "custody"], ["sentence_months", ">=", 12]]),
    _t("caution", "indicator", -0.30, conditions=[["disposal", "==", "caution"]]),
    _t("offence: theft", "indicator", 0.35, conditions=[["offence_group", "==", "theft"]]),
    _t("offence: burglary", "indicator", 0.30, conditions=[["offence_group", "==", "burglary"]]),
    _t("offence: robbery", "indicator", 0.10, conditions=[["offence_group", "==", "robbery"]]),
    _t("offence: drugs", "indicator", 0.05, conditions=[["offence_group", "==", "drugs"]]),
    _t("offence: violence", "indicator", -0.05, conditions=[["offence_group", "==", "violence"]]),
    _t("offence: fraud", "indicator", -0.35, conditions=[["offence_group", "==", "fraud"]]),
    _t("offence: motoring", "indicator", -0.40, conditions=[["offence_group", "==", "motoring"]]),
    _t("employed", "indicator", -0.30, conditions=[["employed", "==", True]]),
    _t("on benefit", "indicator", 0.15, conditions=[["on_benefit", "==", True]]),
    _t("region: London", "indicator", 0.05, conditions=[["region", "==", "London"]]),
    _t("region: North West", "indicator", 0.08, conditions=[["region", "==", "North West"]]),
    _t("region: South East", "indicator", -0.06, conditions=[["region", "==", "South East"]]),
    _t("index year", "linear", -0.03, column="index_year", center=2006.0, scale=1.0),
]

# How the count and timing of re-offences are drawn given that a person re-offended.
_COUNT_MODEL = {
    "description": "reoffence_count = 1 + Poisson(base + slope * p) for those who re-offended, "
                   "0 otherwise",
    "base": 0.6, "slope": 3.0,
}
_DAYS_MODEL = {
    "description": "days_to_first = 1 + floor(364 * u), u ~ Beta(a, b0 + b1 * p), for those who "
                   "re-offended (higher risk re-offends sooner)",
    "a": 0.9, "b0": 1.0, "b1": 2.0,
}


# JDL measures 4-7: the seriousness of each proven re-offence and whether it drew a custodial
# sentence. Not fitted to data (the national extract is not public): chosen so the synthetic
# proportions sit where published figures put them, as far as they go. Sources and reasons:
# Criminal Justice Statistics (MoJ, annual) show indictable-only offences as a few per cent of
# convictions, triable-either-way and summary offences sharing the rest roughly equally, with
# motoring and public-order offences mostly summary and burglary, theft and fraud mostly either
# way; immediate custody follows about a quarter of indictable (incl. either-way) convictions
# and is far likelier for people with previous custody (Proven Re-offending Statistics: most
# re-offenders released from short custody who re-offend are re-sentenced to custody). The
# figures each dataset actually holds are written to its manifest (``base_rates``).
_SERIOUSNESS_MODEL = {
    "description": "each re-offence's seriousness is drawn independently from the probabilities "
                   "for the index offence group: [indictable, either_way, summary]; "
                   "first_seriousness is the first re-offence's, reoffences_<seriousness> count "
                   "all re-offences in the year",
    "levels": list(schema.SERIOUSNESS),
    "by_offence_group": {
        "violence": [0.06, 0.48, 0.46], "robbery": [0.15, 0.55, 0.30],
        "burglary": [0.06, 0.66, 0.28], "theft": [0.02, 0.62, 0.36],
        "fraud": [0.03, 0.70, 0.27], "drugs": [0.04, 0.60, 0.36],
        "criminal_damage": [0.02, 0.45, 0.53], "public_order": [0.02, 0.35, 0.63],
        "motoring": [0.01, 0.15, 0.84], "other": [0.03, 0.40, 0.57],
    },
}
_CUSTODY_MODEL = {
    "description": "P(custodial sentence for a re-offence) = 1 / (1 + exp(-eta)), eta = "
                   "base[seriousness] + prev_custody * log(1 + prev_custody) + prev_offences * "
                   "log(1 + prev_offences) + index_custody * [index disposal is custody]; "
                   "drawn independently for each re-offence",
    "base": {"indictable": 0.9, "either_way": -1.9, "summary": -3.1},
    "prev_custody": 0.45, "prev_offences": 0.22, "index_custody": 0.55,
}


def default_model() -> dict[str, Any]:
    """The risk model the generator uses, as written to risk_model.json."""
    return {
        "risk_model_version": RISK_MODEL_VERSION,
        "outcome": "reoffended: proven re-offence within one year of index_date "
                   "(proven within a further 182 days)",
        "link": "logit",
        "formula": FORMULA,
        "terms": copy.deepcopy(_TERMS),
        "categories": {k: list(v) for k, v in CATEGORIES.items()},
        "count_model": dict(_COUNT_MODEL),
        "days_model": dict(_DAYS_MODEL),
        "seriousness_model": copy.deepcopy(_SERIOUSNESS_MODEL),
        "custody_model": copy.deepcopy(_CUSTODY_MODEL),
    }


def custody_probability(seriousness: np.ndarray, prev_custody: np.ndarray,
                        prev_offences: np.ndarray, index_custody: np.ndarray,
                        model: Mapping[str, Any] | None = None) -> np.ndarray:
    """True probability that a re-offence of ``seriousness`` (codes into schema.SERIOUSNESS)
    drew a custodial sentence, for people with the given as-at-index history."""
    m = (default_model() if model is None else model)["custody_model"]
    base = np.array([m["base"][s] for s in schema.SERIOUSNESS])
    eta = (base[np.asarray(seriousness, dtype=np.int64)]
           + m["prev_custody"] * np.log1p(np.asarray(prev_custody, dtype=np.float64))
           + m["prev_offences"] * np.log1p(np.asarray(prev_offences, dtype=np.float64))
           + m["index_custody"] * np.asarray(index_custody, dtype=np.float64))
    return 1.0 / (1.0 + np.exp(-eta))


_OPS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
        ">": operator.gt, ">=": operator.ge}


def _column(data: Mapping[str, Any], name: str) -> np.ndarray:
    col = data[name]
    if isinstance(col, pd.Series):
        return col.to_numpy()
    return np.asarray(col)


def _condition(data: Mapping[str, Any], column: str, op: str, value: Any) -> np.ndarray:
    x = _column(data, column)
    if column in CATEGORIES and isinstance(value, str) and np.issubdtype(x.dtype, np.integer):
        value = CATEGORIES[column].index(value)  # generator passes integer codes
    return np.asarray(_OPS[op](x, value), dtype=bool)


def linear_predictor(data: Mapping[str, Any], model: Mapping[str, Any] | None = None) -> np.ndarray:
    """eta for every row of ``data`` (a DataFrame or a mapping of column -> array)."""
    model = default_model() if model is None else model
    n = len(_column(data, "prev_offences"))
    eta = np.zeros(n, dtype=np.float64)
    for term in model["terms"]:
        kind, coef = term["kind"], float(term["coef"])
        if kind == "constant":
            eta += coef
        elif kind == "linear":
            x = _column(data, term["column"]).astype(np.float64)
            eta += coef * (x - term["center"]) / term["scale"]
        elif kind == "log1p":
            eta += coef * np.log1p(_column(data, term["column"]).astype(np.float64))
        elif kind == "indicator":
            hold = np.ones(n, dtype=bool)
            for column, op, value in term["conditions"]:
                hold &= _condition(data, column, op, value)
            eta += coef * hold
        else:
            raise DataError(f"risk model term kind {kind!r} is not one of constant, linear, "
                            "log1p, indicator")
    return eta


def true_probability(events: pd.DataFrame, people: pd.DataFrame | None = None,
                     model: Mapping[str, Any] | None = None) -> np.ndarray:
    """True one-year re-offending probability of each event (joins ``sex`` from ``people``)."""
    data = events
    if "sex" not in events.columns:
        if people is None:
            raise DataError("events has no 'sex' column: pass people to join it on person_key")
        sex = people.set_index("person_key")["sex"]
        data = events.assign(sex=events["person_key"].map(sex).to_numpy())
    eta = linear_predictor(data, model)
    return 1.0 / (1.0 + np.exp(-eta))


def load_risk_model(path: str | Path) -> dict[str, Any]:
    """Read risk_model.json from a dataset directory (or the file itself)."""
    p = Path(path)
    if p.is_dir():
        p = p / schema.RISK_MODEL_FILE
    try:
        return json.loads(p.read_text())
    except FileNotFoundError:
        raise DataError(f"risk model file {schema.RISK_MODEL_FILE} not found in the dataset "
                        "directory") from None
