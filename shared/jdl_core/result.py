"""AnalysisResult: the aggregate-only outcome of one analysis, the contract between the
statistics core, the report renderer and the pipeline.

It holds no individual-level data: only counts, rates, estimates and the settings used, so it can
be stored, published and rendered without the cohort. Serialise with ``model_dump_json()``.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RESULT_SCHEMA_VERSION = "1"

MeasureName = Literal[
    "rate", "frequency", "days_to_first",                       # JDL measures 1-3 (headline)
    "first_indictable", "first_either_way", "first_summary",     # 4: seriousness of the first
    "reoffences_indictable", "reoffences_either_way", "reoffences_summary",  # 5: by seriousness
    "first_custodial",                                           # 6: custody for the first
    "custodial_sentences",                                       # 7: custodial sentences
    "days_free",            # beyond: restricted mean days free within the year, everyone
]
# Why a measure carries no figures (or is not listed as significant): codes, not prose, so the
# wording module (jdl_report) words them once.
MeasureCode = Literal[
    "too_few_treated_reoffenders",   # JDL: measures 3-7 need >= 30 treated re-offenders
    "np_below_min",                  # JDL: seriousness row with n*p < 10 in the treatment group
    "too_few_people",                # fewer than 2 in a group
    "no_variation",                  # everyone has the same value
    "no_uncertainty",                # the difference has no estimable standard error
]
AttritionReason = Literal[
    "invalid_row",                 # failed validation at intake
    "duplicate",                   # same person submitted twice
    "not_found",                   # no national record
    "ambiguous",                   # more than one plausible national record
    "no_index_event",              # linked, but no eligible index event for the programme
    "followup_outside_coverage",   # index event's one-year follow-up not inside the data
    "no_match_in_caliper",         # no comparison within the caliper (dropped by matching)
    "not_in_strata",               # exact stratum with no comparison candidates
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AttritionStep(_Model):
    reason: AttritionReason
    label: str                     # plain words, e.g. "Not found in the national data"
    removed: int
    remaining: int                 # people left after this step


class Attrition(_Model):
    submitted: int                 # rows in the uploaded file
    steps: list[AttritionStep]
    analysed: int                  # treated people in the final analysis


class IntervalResult(_Model):
    """An interval of the same difference by another method, stored beside the main one."""
    method: str                    # "cluster_t", "jdl_weighted_t", "bootstrap_two_sample"
    difference: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    df: float | None = None


class NullResultInfo(_Model):
    """What a non-significant difference means (JDL "number needed", and beyond)."""
    n_for_significance: int | None    # treatment-group size at which the observed difference
                                      # would reach p <= 0.05 (None when it is 0)
    n_for_80_power: int | None        # group size giving 80% power for the observed difference
    detectable_difference: float      # smallest difference detectable (80% power, 5% two-sided)
                                      # with the group analysed, in the measure's units
    beyond_limit: bool = False        # a size would exceed outcomes.NUMBER_NEEDED_LIMIT (the
                                      # difference is negligible): that size is left None


class MeasureResult(_Model):
    name: MeasureName
    label: str                     # "One-year proven re-offending rate"
    unit: str                      # "%", "re-offences per person", "days"
    difference_unit: str           # "percentage points", "re-offences per person", "days"
    estimable: bool = True
    reason: str | None = None      # why it could not be estimated, in plain words
    n_treated: int = 0             # people (or re-offenders, for days_to_first) in each group
    n_comparison: int = 0          # distinct comparison records used (unweighted)
    treated_value: float | None = None
    comparison_value: float | None = None   # weighted mean of the matched comparison group
    difference: float | None = None         # treated - comparison
    ci_low: float | None = None             # 95% CI, cluster-robust on matched sets
    ci_high: float | None = None
    p_value: float | None = None
    significant: bool | None = None         # at the 5% level
    bootstrap_ci_low: float | None = None   # cross-check
    bootstrap_ci_high: float | None = None
    direction: Literal["reduction", "increase", "none"] | None = None  # of the point estimate
    higher_is_worse: bool = True            # false for days_to_first
    jdl_measure: int | None = None          # the JDL's measure number (1-7); None: beyond
    code: MeasureCode | None = None         # why not estimable / not shown
    interval_method: str | None = None      # "newcombe_wilson" (proportions) or "cluster_t"
    treated_events: int | None = None       # n*p: treated people with the outcome (counts > 0)
    listed_significant: bool | None = None  # significant and n*p >= 10 (JDL's listing rule)
    other_intervals: list[IntervalResult] = Field(default_factory=list)
    null_result: NullResultInfo | None = None  # for a non-significant rate difference


class BalanceRow(_Model):
    covariate: str
    smd_before: float | None
    smd_after: float | None
    var_ratio_before: float | None = None
    var_ratio_after: float | None = None
    ks_before: float | None = None   # largest eCDF gap (Kolmogorov-Smirnov), non-binary only
    ks_after: float | None = None
    flag: Literal["good", "acceptable", "poor"]   # from |smd_after|: <5%, 5-10%, >10%


class SpecificationTried(_Model):
    """One propensity-model specification fitted while choosing by balance."""
    name: str                      # "linear", "flexible", "interactions", or a re-specification
    terms: list[str]               # derived terms added to the covariates
    exact: list[str]               # exact strata
    caliper: float | None          # in SDs of the logit
    n_matched: int
    max_abs_smd: float             # over every balance variable (covariates, levels, terms)
    max_ks: float                  # over every non-binary balance variable
    chosen: bool = False


GateCode = Literal["balanced", "rebalanced", "no_reliable_comparison", "not_checked"]


class BalanceGate(_Model):
    """Whether the comparison group is balanced enough for a finding (methodology.md section 4).

    A key variable fails when its |SMD| after matching is above its line in ``thresholds``: the
    larger of the 10% rule and what random splits of the same sizes give (jdl_core.matching.gate).
    ``code``:
    "balanced" first time; "rebalanced" after a documented re-specification; or
    "no_reliable_comparison", when the result carries no verdict.
    """
    code: GateCode
    passed: bool
    threshold: float               # max(0.10, chance_threshold), fraction of an SD
    chance_threshold: float        # median over key variables of their chance line
    thresholds: dict[str, float] = Field(default_factory=dict)   # per key balance variable
    failing: list[str] = Field(default_factory=list)          # key balance variables failing now
    failing_first: list[str] = Field(default_factory=list)    # ... with the first specification
    respecifications: list[str] = Field(default_factory=list)  # names tried, in order
    specification: str = ""        # the specification the result uses


class Sensitivity(_Model):
    """How strong unmeasured confounding would have to be to explain a significant rate away.

    E-value (VanderWeele & Ding 2017) for the risk ratio of re-offending, treated over
    comparison: the minimum strength of association (risk-ratio scale) an unmeasured confounder
    would need with both taking part and re-offending to move the estimate, or its interval's
    nearer limit, to no effect.
    """
    measure: str = "rate"
    risk_ratio: float
    risk_ratio_ci_low: float
    risk_ratio_ci_high: float
    e_value: float                 # for the point estimate
    e_value_ci: float              # for the interval limit nearer 1 (1 when it includes 1)


class OverlapSummary(_Model):
    """Histogram of the logit propensity score, enough for an overlap plot (aggregates only)."""
    bin_edges: list[float]
    treated_counts: list[int]
    pool_counts: list[int]           # all candidate comparisons before matching
    matched_counts: list[float]      # matched comparisons, weighted
    caliper: float | None = None     # in logit units


class ProfileRow(_Model):
    characteristic: str            # "Sex", "Age band", "Ethnicity", "Employed", ...
    category: str                  # "Female", "18-20", ...
    treated_n: int
    treated_pct: float
    comparison_pct: float          # weighted
    comparison_n: float | None = None   # weighted count


class GroupProfileRow(_Model):
    """A count of one group of people by a characteristic (no comparison group beside it)."""
    characteristic: str            # "Sex", "Age band"
    category: str
    n: int
    pct: float


SubgroupStatus = Literal["analysed", "not_analysed"]
# why a requested sub-analysis was not analysed
SubgroupReason = Literal[
    "too_few_people",              # fewer than subgroup_min treated in the level
    "too_few_matched",             # fewer than subgroup_min left after its own matching
    "one_level",                   # the column has a single value: nothing to compare
    "identifying_values",          # free text, dates or near-unique values: could identify people
    "too_many_levels",             # more than 12 distinct values: not a grouping (band it first)
    "no_reliable_comparison",      # its own balance gate failed after re-specification
    "no_overlap",                  # no comparable people in the national data
    "unknown_column",              # requested, but not in the upload
]


class SubgroupResult(_Model):
    """One sub-analysis: a matched analysis of its own (exploratory), or why it was not run."""
    variable: str                  # "sex", "age_band", "setting", or an uploaded attribute
    level: str                     # "F", "18-24", "yes", ... ("" when the variable was refused)
    n_treated: int
    measures: list[MeasureResult]
    status: SubgroupStatus = "analysed"
    reason_code: SubgroupReason | None = None
    exploratory: bool = True
    n_comparison: int = 0
    matched_on: str = ""           # "exact" (subgroup variable in the strata) or "within"
    gate: BalanceGate | None = None
    p_holm: dict[str, float] = Field(default_factory=dict)   # measure name -> Holm-adjusted p


class Statements(_Model):
    can_say: list[str]
    cannot_say: list[str]


class DatasetInfo(_Model):
    version: str
    seed: int | None = None
    people: int | None = None
    events: int | None = None
    manifest_sha256: str | None = None


class ProgrammeInfo(_Model):
    organisation: str
    programme: str
    description: str = ""
    setting: Literal["custody", "community"]
    own_words: str = ""            # the organisation's own description, printed as given (escaped)
    selection: str = ""            # how people came to be on the programme (matters for bias)


class IndexPeriod(_Model):
    """First and last index date (release, or start of the order) of the people analysed."""
    first: date
    last: date


class AgeSummary(_Model):
    """Age at the index date: the treatment group's range and mean, the comparison's weighted mean."""
    treated_min: float
    treated_max: float
    treated_mean: float
    comparison_mean: float | None = None


class AnalysisResult(_Model):
    schema_version: str = RESULT_SCHEMA_VERSION
    submission_id: str | None = None
    programme: ProgrammeInfo
    dataset: DatasetInfo
    spec: dict[str, Any]           # the MatchSpec as JSON, so the result can be reproduced
    attrition: Attrition
    n_treated: int                 # treated people analysed (after matching)
    n_comparison: int              # distinct comparison records used
    n_pool: int                    # candidate comparison records before matching
    dropped_treated: int = 0       # treated without a comparison inside the caliper
    index_period: IndexPeriod | None = None
    age: AgeSummary | None = None
    # the people submitted (valid rows) who were not analysed: sex and age at the intervention start
    not_included: list[GroupProfileRow] = Field(default_factory=list)
    measures: list[MeasureResult]
    balance: list[BalanceRow]
    overlap: OverlapSummary | None = None
    profile: list[ProfileRow] = Field(default_factory=list)
    subgroups: list[SubgroupResult] = Field(default_factory=list)
    # JDL measures 4-7 and the beyond-JDL days free (outcomes.FURTHER_MEASURES), gated as the JDL
    # does; the three headline measures stay in ``measures``
    further_measures: list[MeasureResult] = Field(default_factory=list)
    # the dataset's window (national.DataWindow.to_dict) and the period of the analysed index
    # events, so the report states the period from the manifest, not from a constant
    window: dict[str, Any] = Field(default_factory=dict)
    specification: str = ""        # propensity-model specification used (see specifications)
    specifications: list[SpecificationTried] = Field(default_factory=list)
    gate: BalanceGate | None = None
    verdict: bool = True           # False: no reliable comparison, no significance is claimed
    sensitivity: Sensitivity | None = None
    n_tests: int = 0               # significance tests in the result (headline + sub-analyses)
    statements: Statements
    caveats: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    software_version: str = "0.1.0"
    created_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))

    def measure(self, name: MeasureName) -> MeasureResult | None:
        return next((m for m in self.measures if m.name == name), None)
