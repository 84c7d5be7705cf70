"""MatchSpec: every setting of the comparison-group method, with its default, stored beside each result.

Written in the style of Splink's settings: explicit defaults with a comment saying why, ``Literal``
choices, and a JSON round trip (``to_json`` / ``from_json``) so a report can be reproduced from the
spec it records. Defaults follow methodology.md section 4 and, where it is silent, R MatchIt.
"""
from __future__ import annotations

import json
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .. import schema
from ..errors import InvalidArgument
from .terms import DERIVED, DERIVED_LEVELS

# The columns the propensity model may use, with how each enters the model. Categorical columns
# are one-hot encoded against a reference level (the first of CATEGORY_LEVELS present);
# binary columns enter as 0/1; numeric columns enter linearly.
CovariateKind = Literal["numeric", "binary", "categorical"]
COVARIATE_KINDS: Final[dict[str, CovariateKind]] = {
    "age_at_index": "numeric",
    "sex": "categorical",            # from people.parquet, joined on person_key
    "ethnicity": "categorical",      # from people.parquet, joined on person_key
    "prev_offences": "numeric",
    "prev_custody": "numeric",
    "age_first_contact": "numeric",
    "copas_rate": "numeric",
    "ogrs_score": "numeric",
    "offence_group": "categorical",
    "sentence_months": "numeric",
    "employed": "binary",
    "on_benefit": "binary",
    "index_year": "numeric",
    "region": "categorical",
    "disposal": "categorical",
    # derived terms (jdl_core.matching.terms): flexible functions of the recorded columns
    **{name: kind for name, (kind, _, _) in DERIVED.items()},
}
# Level order of each categorical column: the first level present is the reference level.
CATEGORY_LEVELS: Final[dict[str, tuple[str, ...]]] = {
    "sex": ("M", "F"),
    "ethnicity": schema.ETHNICITIES,
    "offence_group": schema.OFFENCE_GROUPS,
    "region": schema.REGIONS,
    "disposal": schema.DISPOSALS,
    **DERIVED_LEVELS,
}
DEFAULT_COVARIATES: Final[tuple[str, ...]] = (
    "age_at_index", "sex", "ethnicity", "prev_offences", "prev_custody", "age_first_contact",
    "copas_rate", "ogrs_score", "offence_group", "sentence_months", "employed", "on_benefit",
    "index_year", "region",
)
# Exact strata may use any categorical or binary covariate column.
EXACT_ALLOWED: Final[tuple[str, ...]] = tuple(
    c for c, k in COVARIATE_KINDS.items() if k in ("categorical", "binary") and c not in DERIVED)


class MatchSpec(BaseModel):
    """How the comparison group is formed and how outcomes are compared.

    Every field has the default used when the core is called directly (a notebook, `jdl
    analyse`). The matching service overrides a few from its settings
    (``MatchingSettings.spec_overrides``: method, k, caliper, replace, bootstrap_reps, which it
    runs at 200 rather than 999); the report records the values used.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Matching method, dispatched by name to the module jdl_core.matching.<method>.
    # "nearest": greedy nearest neighbour on the distance (MatchIt method = "nearest").
    method: Literal["nearest"] = "nearest"
    # Distance measure: the logit (linear predictor) of the propensity score from an unpenalised
    # logistic regression of treatment on the covariates (MatchIt distance = "glm",
    # link = "linear.logit"). Matching on the logit rather than the probability follows
    # Rosenbaum & Rubin (1985) and the JDL method.
    distance: Literal["logit"] = "logit"
    # Covariates of the propensity model: demographics, criminal history, index offence,
    # sentence, employment/benefit, index year and region (methodology.md section 4).
    covariates: tuple[str, ...] = DEFAULT_COVARIATES
    # Terms of the propensity model beyond the covariates as given (jdl_core.matching.terms):
    # "linear" none; "flexible" age bands, log previous offences and custody, first-offender and
    # short-sentence indicators; "interactions" those plus young x prolific and short x prolific.
    # "auto" fits each and keeps the one with the best balance on every term and distribution
    # (the MatchIt/cobalt practice of choosing the specification by balance, not by fit); the
    # choice is recorded in the result.
    terms: Literal["auto", "linear", "flexible", "interactions"] = "auto"
    # Balance gate (methodology.md section 4): a key variable (age, sex, previous offences, Copas,
    # OGRS, index offence) more than 10% of an SD apart after matching, and further apart than
    # chance gives at this size, fails; the service then tries the documented re-specifications
    # and, if they fail too, reports that no reliable comparison group could be built.
    gate: bool = True
    # The chance reference: this quantile of the largest key-variable |SMD| over random splits of
    # the matched people into groups of the same sizes and weights.
    gate_quantile: float = Field(default=0.99, gt=0.5, lt=1.0)
    # Exact strata: a treated person is matched only to comparison records with the same values.
    exact: tuple[str, ...] = ("sex", "disposal")
    # Caliper: treated people with no comparison record this close on the distance are dropped.
    # 0.2 standard deviations of the logit (Austin 2011), None for no caliper.
    caliper: float | None = Field(default=0.2, gt=0)
    # True: the caliper is in standard deviations of the distance over treated and pool
    # (MatchIt std.caliper = TRUE, sd over all units); False: in raw logit units.
    std_caliper: bool = True
    # Comparison records per treated person. 5 with replacement trades a little bias for a much
    # more precise comparison mean than 1:1 (Austin 2010).
    k: int = Field(default=5, ge=1, le=50)
    # With replacement a comparison record may serve several treated people (weights account for
    # it); without replacement each is used once, in the order given by m_order.
    replace: bool = True
    # Order in which treated people are matched; only matters without replacement. "largest"
    # logit first is MatchIt's default for the ATT; "data" is the order of event ids.
    m_order: Literal["largest", "smallest", "data"] = "largest"
    # Estimand: the average effect on those who took part (the JDL question).
    estimand: Literal["ATT"] = "ATT"
    # Standard errors: "subclass+id" is two-way cluster-robust on matched set and on comparison
    # record, for controls reused across sets (MatchIt's guidance for matching with replacement,
    # Austin & Cafri 2020); "subclass" clusters on matched set only.
    cluster: Literal["subclass+id", "subclass"] = "subclass+id"
    # Confidence level of every interval; significance is judged at 1 - ci_level.
    ci_level: float = Field(default=0.95, gt=0.5, lt=1.0)
    # Cluster bootstrap over matched sets (cross-check of the analytic interval); 0 switches it
    # off. 999 follows MacKinnon's advice (one less than a multiple of 100).
    bootstrap_reps: int = Field(default=999, ge=0, le=100_000)
    # Seed of every random choice (the bootstrap); matching itself uses no randomness.
    random_state: int = Field(default=20130401, ge=0)
    # The JDL minimum: fewer treated people analysed than this and no result is produced.
    min_analysed: int = Field(default=60, ge=1)
    # A sub-analysis (sex, age band, setting, an uploaded attribute) is run only when the
    # subgroup has this many treated people (before and after its own matching).
    subgroup_min: int = Field(default=60, ge=1)
    # JDL: measures 3-7 (time to first re-offence, seriousness, custody) are shown only when the
    # treatment group has at least this many re-offenders; low numbers could mislead.
    min_reoffenders: int = Field(default=30, ge=2)
    # JDL: a result is listed as significant only when n*p (treated people with the outcome) is
    # at least this; seriousness rows below it are not shown.
    min_np: int = Field(default=10, ge=0)
    # Interval of a difference in proportions (rate, seriousness, custody): "newcombe_wilson"
    # (Newcombe's hybrid score interval from each group's Wilson interval, the comparison
    # group's at its effective size) stays valid at 0% or 100% and small n; "cluster_t" is the
    # cluster-robust Wald interval used for the other measures (always stored beside it).
    proportion_interval: Literal["newcombe_wilson", "cluster_t"] = "newcombe_wilson"

    @field_validator("covariates", "exact", mode="before")
    @classmethod
    def _listlike(cls, v: Any) -> Any:
        return tuple(v) if isinstance(v, list) else v

    @model_validator(mode="after")
    def _check_names(self) -> "MatchSpec":
        if not self.covariates:
            raise ValueError("covariates: at least one covariate is needed")
        for field, names, allowed in (("covariates", self.covariates, tuple(COVARIATE_KINDS)),
                                      ("exact", self.exact, EXACT_ALLOWED)):
            unknown = [c for c in names if c not in allowed]
            if unknown:
                raise ValueError(f"{field}: {unknown} not allowed; choose from {list(allowed)}")
            if len(set(names)) != len(names):
                raise ValueError(f"{field}: names must not repeat")
        return self

    # -- JSON round trip -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MatchSpec":
        """Build a spec, turning validation problems into one InvalidArgument naming the fields."""
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'spec'}: {err['msg']}"
                for err in e.errors(include_input=False, include_url=False))
            raise InvalidArgument(f"match spec is not valid: {problems}") from None

    @classmethod
    def from_json(cls, text: str) -> "MatchSpec":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise InvalidArgument(f"match spec is not JSON (line {e.lineno}: {e.msg})") from None
        if not isinstance(data, dict):
            raise InvalidArgument("match spec must be a JSON object of setting -> value")
        return cls.from_dict(data)
