"""Hand-built, realistic AnalysisResult objects (fictional aggregates only) for tests, demos and benchmarks.

Each function returns a fresh, internally consistent result: attrition steps add up to the number
analysed, profile counts add up to the treatment group, subgroup sizes add up to the whole group,
and rates, differences and intervals agree with their significance. Nothing here is drawn from
real people; every figure is invented.

    from jdl_report.examples import significant_reduction
    result = significant_reduction()
"""
from __future__ import annotations

import math
from datetime import date, datetime, timezone
from typing import Callable

from jdl_core.result import (
    AgeSummary,
    AnalysisResult,
    Attrition,
    AttritionStep,
    BalanceRow,
    DatasetInfo,
    GroupProfileRow,
    IndexPeriod,
    MeasureResult,
    OverlapSummary,
    ProfileRow,
    ProgrammeInfo,
    Statements,
    SubgroupResult,
)

__all__ = ["significant_reduction", "significant_increase", "non_significant", "degenerate",
           "minimal", "EXAMPLES", "all_examples"]

ATTRITION_LABELS: dict[str, str] = {
    "invalid_row": "Rows that failed validation",
    "duplicate": "Same person submitted more than once",
    "not_found": "Not found in the national data",
    "ambiguous": "More than one possible match in the national data",
    "no_index_event": "No eligible sentence or release for the programme",
    "followup_outside_coverage": "One-year follow-up not covered by the data",
    "no_match_in_caliper": "No similar person for the comparison group",
    "not_in_strata": "No comparison candidates of the same sex and sentence type",
}
_ORDER = list(ATTRITION_LABELS)

_CREATED = datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)

_DATASET = DatasetInfo(version="synthetic-2026.11", seed=20261101, people=412_000,
                       events=1_160_000,
                       manifest_sha256="5f0c9a1e2b7d4c3a8e6f1b2d9c0a7e4f3b8d6c1a2e5f7b9d0c3a6e8f1b4d7c2a")


def _spec(setting: str, k: int = 5) -> dict:
    return {
        "method": "nearest",
        "distance": "logit_propensity",
        "propensity_model": "logistic_unpenalised",
        "caliper_sd": 0.2,
        "k": k,
        "replace": True,
        "exact": ["sex", "disposal_type"],
        "covariates": ["age_at_index", "sex", "ethnicity", "previous_offences", "previous_custody",
                       "age_first_contact", "copas_rate", "ogrs_score", "employed_year_before",
                       "benefit_year_before", "index_offence_group", "sentence_months", "index_year"],
        "setting": setting,
        "ci_method": "cluster_robust",
        "bootstrap_reps": 500,
        "alpha": 0.05,
        "seed": 7,
    }


def _attrition(submitted: int, removed: dict[str, int]) -> Attrition:
    steps, remaining = [], submitted
    for reason in _ORDER:
        n = removed.get(reason, 0)
        remaining -= n
        steps.append(AttritionStep(reason=reason, label=ATTRITION_LABELS[reason],  # type: ignore[arg-type]
                                   removed=n, remaining=remaining))
    return Attrition(submitted=submitted, steps=steps, analysed=remaining)


def _measure(name: str, n_t: int, n_c: int, t: float, c: float, lo: float, hi: float,
             p: float, boot: tuple[float, float] | None = None) -> MeasureResult:
    labels = {
        "rate": ("One-year proven re-offending rate", "%", "percentage points", True),
        "frequency": ("Proven re-offences per person in the year", "re-offences per person",
                      "re-offences per person", True),
        "days_to_first": ("Days to first proven re-offence (people who re-offended)", "days",
                          "days", False),
    }
    label, unit, dunit, hiw = labels[name]
    d = round(t - c, 4)
    return MeasureResult(
        name=name, label=label, unit=unit, difference_unit=dunit,  # type: ignore[arg-type]
        n_treated=n_t, n_comparison=n_c, treated_value=t, comparison_value=c, difference=d,
        ci_low=lo, ci_high=hi, p_value=p, significant=p < 0.05,
        bootstrap_ci_low=boot[0] if boot else None, bootstrap_ci_high=boot[1] if boot else None,
        direction="reduction" if d < 0 else "increase" if d > 0 else "none", higher_is_worse=hiw)


def _not_estimable(name: str, reason: str, n_t: int = 0, n_c: int = 0) -> MeasureResult:
    m = _measure(name, n_t, n_c, 0.0, 0.0, 0.0, 0.0, 1.0)
    return m.model_copy(update=dict(estimable=False, reason=reason, treated_value=None,
                                    comparison_value=None, difference=None, ci_low=None,
                                    ci_high=None, p_value=None, significant=None, direction=None))


def _group(characteristic: str, cats: list[tuple[str, int]], total: int) -> list[GroupProfileRow]:
    return [GroupProfileRow(characteristic=characteristic, category=c, n=k, pct=100 * k / total)
            for c, k in cats]


def _split(total: float, weights: list[float]) -> list[int]:
    """Integers proportional to weights summing exactly to total (largest remainder)."""
    s = sum(weights)
    raw = [total * w / s for w in weights]
    out = [math.floor(r) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: raw[i] - out[i], reverse=True)[: int(total) - sum(out)]:
        out[i] += 1
    return out


def _normal_mass(edges: list[float], mu: float, sd: float) -> list[float]:
    cdf = [0.5 * (1 + math.erf((e - mu) / (sd * math.sqrt(2)))) for e in edges]
    return [max(b - a, 1e-12) for a, b in zip(cdf, cdf[1:])]


def _overlap(n_treated_all: int, n_pool: int, n_matched: int, mu_t: float, mu_p: float,
             sd_t: float = 0.9, sd_p: float = 1.2) -> OverlapSummary:
    edges = [round(-8.0 + 0.5 * i, 2) for i in range(21)]   # logit scale, -8 to 2
    t_mass = _normal_mass(edges, mu_t, sd_t)
    treated = _split(n_treated_all, t_mass)
    pool = _split(n_pool, _normal_mass(edges, mu_p, sd_p))
    # matched comparisons are weighted to the treated distribution, thinner where the pool is thin
    matched = [round(n_matched * w / sum(t_mass), 1) for w in t_mass]
    return OverlapSummary(bin_edges=edges, treated_counts=treated, pool_counts=pool,
                          matched_counts=matched, caliper=0.21)


def _profile(n: int, spec: dict[str, list[tuple[str, int, float]]]) -> list[ProfileRow]:
    rows = []
    for characteristic, cats in spec.items():
        for category, k, cpct in cats:
            rows.append(ProfileRow(characteristic=characteristic, category=category, treated_n=k,
                                   treated_pct=round(100 * k / n, 1), comparison_pct=cpct,
                                   comparison_n=round(cpct * n / 100, 1)))
    return rows


_BALANCE = [  # covariate, smd before, smd after, var ratio before, var ratio after
    ("Age at index", 0.214, 0.021, 0.86, 0.98),
    ("Female", 0.118, 0.000, None, None),
    ("Ethnicity: White", 0.062, 0.014, None, None),
    ("Ethnicity: Black", 0.071, 0.032, None, None),
    ("Ethnicity: Asian", 0.038, 0.012, None, None),
    ("Previous offences", 0.412, 0.038, 1.41, 1.06),
    ("Previous custodial sentences", 0.356, 0.044, 1.33, 1.05),
    ("Age at first contact", 0.187, 0.026, 0.91, 1.02),
    ("Copas rate", 0.298, 0.031, 1.22, 1.03),
    ("OGRS score", 0.451, 0.047, 1.18, 1.04),
    ("Employed in year before", 0.153, 0.019, None, None),
    ("Claiming out-of-work benefits", 0.201, 0.023, None, None),
    ("Index offence: violence", 0.093, 0.017, None, None),
    ("Index offence: theft", 0.166, 0.029, None, None),
    ("Index offence: drugs", 0.084, 0.011, None, None),
    ("Sentence length (months)", 0.247, 0.036, 1.29, 1.07),
    ("Index year", 0.128, 0.015, 0.95, 1.00),
]


def _balance(adjust: dict[str, float] | None = None) -> list[BalanceRow]:
    rows = []
    for cov, b, a, vb, va in _BALANCE:
        a = (adjust or {}).get(cov, a)
        flag = "good" if abs(a) < 0.05 else "acceptable" if abs(a) <= 0.10 else "poor"
        rows.append(BalanceRow(covariate=cov, smd_before=b, smd_after=a, var_ratio_before=vb,
                               var_ratio_after=va, flag=flag))  # type: ignore[arg-type]
    return rows


_CAVEAT = ("The comparison group was drawn from people in the national data with the same kind "
           "of sentence in the same years.")


def significant_reduction() -> AnalysisResult:
    """A custody mentoring programme that significantly reduced re-offending (321 people analysed)."""
    n = 321
    return AnalysisResult(
        submission_id="sub-4f1c2a9b8e7d6c5b4a39",
        programme=ProgrammeInfo(
            organisation="Northgate Mentoring Trust",
            programme="Through the Gate mentoring",
            description=("Peer mentors meet men and women in the last month of a custodial sentence "
                         "and support them for six months after release with housing, benefits and "
                         "appointments. Referral is by prison resettlement staff."),
            setting="custody"),
        dataset=_DATASET, spec=_spec("custody"),
        attrition=_attrition(412, {"invalid_row": 6, "duplicate": 3, "not_found": 21, "ambiguous": 4,
                                   "no_index_event": 38, "followup_outside_coverage": 12,
                                   "no_match_in_caliper": 7}),
        n_treated=n, n_comparison=1482, n_pool=48310, dropped_treated=7,
        index_period=IndexPeriod(first=date(2006, 3, 14), last=date(2009, 11, 27)),
        age=AgeSummary(treated_min=18, treated_max=63, treated_mean=31.6, comparison_mean=31.9),
        not_included=_group("Sex", [("Male", 78), ("Female", 13)], 91)
        + _group("Age band", [("18-24", 30), ("25-34", 28), ("35-49", 25), ("50+", 8)], 91),
        measures=[
            _measure("rate", n, 1482, 38.3, 45.6, -12.4, -2.2, 0.005, (-12.1, -2.5)),
            _measure("frequency", n, 1482, 1.02, 1.41, -0.66, -0.12, 0.004, (-0.63, -0.14)),
            _measure("days_to_first", 123, 676, 154.0, 139.0, -4.0, 34.0, 0.12),
        ],
        balance=_balance(),
        overlap=_overlap(n + 7, 48310, n, mu_t=-2.4, mu_p=-3.9),
        profile=_profile(n, {
            "Sex": [("Male", 281, 87.9), ("Female", 40, 12.1)],
            "Age band": [("18-20", 27, 8.1), ("21-24", 58, 18.4), ("25-29", 71, 21.7),
                         ("30-39", 96, 29.6), ("40-49", 52, 16.5), ("50 and over", 17, 5.7)],
            "Ethnicity": [("White", 247, 76.2), ("Black", 31, 9.9), ("Asian", 22, 7.0),
                          ("Mixed", 14, 4.6), ("Other", 4, 1.4), ("Not recorded", 3, 0.9)],
            "Employment in the year before": [("Employed", 61, 18.3), ("Claiming out-of-work benefits", 168, 53.1),
                                              ("Neither", 92, 28.6)],
            "Previous offences": [("None", 12, 4.1), ("1 to 2", 41, 13.2), ("3 to 6", 79, 24.3),
                                  ("7 to 14", 96, 30.2), ("15 or more", 93, 28.2)],
            "Index offence": [("Theft", 102, 31.0), ("Violence against the person", 71, 22.6),
                              ("Drug offences", 49, 15.0), ("Burglary", 38, 11.8), ("Robbery", 19, 6.1),
                              ("Fraud", 3, 1.1), ("Other", 39, 12.4)],
            "Sentence length": [("Less than 12 months", 198, 60.8), ("12 months to under 4 years", 107, 33.9),
                                ("4 years or more", 16, 5.3)],
        }),
        subgroups=[
            SubgroupResult(variable="sex", level="M", n_treated=281, measures=[
                _measure("rate", 281, 1297, 39.5, 46.4, -12.3, -1.5, 0.012),
                _measure("frequency", 281, 1297, 1.07, 1.46, -0.70, -0.08, 0.014)]),
            SubgroupResult(variable="sex", level="F", n_treated=40, measures=[
                _measure("rate", 40, 185, 30.0, 39.8, -24.1, 4.5, 0.18),
                _measure("frequency", 40, 185, 0.65, 1.04, -0.93, 0.15, 0.16)]),
            SubgroupResult(variable="age_band", level="18-24", n_treated=85, measures=[
                _measure("rate", 85, 402, 47.1, 55.0, -18.6, 2.8, 0.15)]),
            SubgroupResult(variable="age_band", level="25-49", n_treated=219, measures=[
                _measure("rate", 219, 1001, 35.6, 43.1, -13.9, -1.1, 0.022)]),
            SubgroupResult(variable="age_band", level="50+", n_treated=17, measures=[
                _measure("rate", 17, 79, 23.5, 31.2, -29.0, 13.6, 0.48)]),
        ],
        statements=Statements(
            can_say=["The programme reduced the one-year proven re-offending rate by between 2.2 and "
                     "12.4 percentage points.",
                     "These results apply to people who are similar to those analysed."],
            cannot_say=["You cannot say that the programme changed the time to first re-offence."]),
        caveats=[_CAVEAT],
        warnings=[],
        created_at=_CREATED,
    )


def significant_increase() -> AnalysisResult:
    """A community programme whose participants re-offended significantly more (548 analysed)."""
    n = 548
    return AnalysisResult(
        submission_id="sub-9a8b7c6d5e4f3a2b1c0d",
        programme=ProgrammeInfo(
            organisation="Eastbrook Community Projects",
            programme="Community Payback Plus",
            description=("Group unpaid work placements combined with weekly employability workshops for "
                         "adults on community orders, referred by probation practitioners."),
            setting="community"),
        dataset=_DATASET, spec=_spec("community"),
        attrition=_attrition(655, {"invalid_row": 11, "duplicate": 2, "not_found": 30, "ambiguous": 9,
                                   "no_index_event": 41, "no_match_in_caliper": 14}),
        n_treated=n, n_comparison=2415, n_pool=96120, dropped_treated=14,
        measures=[
            _measure("rate", n, 2415, 31.9, 26.2, 1.1, 10.3, 0.015, (1.3, 10.0)),
            _measure("frequency", n, 2415, 0.88, 0.67, 0.03, 0.39, 0.021),
            _measure("days_to_first", 175, 633, 141.0, 159.0, -35.0, -1.0, 0.038),
        ],
        balance=_balance({"OGRS score": 0.061, "Previous offences": 0.052}),
        overlap=_overlap(n + 14, 96120, n, mu_t=-3.1, mu_p=-4.2),
        profile=_profile(n, {
            "Sex": [("Male", 462, 84.1), ("Female", 86, 15.9)],
            "Age band": [("18-20", 61, 10.6), ("21-24", 104, 19.3), ("25-29", 118, 21.0),
                         ("30-39", 151, 27.9), ("40-49", 79, 14.8), ("50 and over", 35, 6.4)],
            "Ethnicity": [("White", 431, 78.3), ("Black", 44, 8.4), ("Asian", 38, 7.1),
                          ("Mixed", 21, 3.9), ("Other", 9, 1.5), ("Not recorded", 5, 0.8)],
            "Employment in the year before": [("Employed", 139, 25.9), ("Claiming out-of-work benefits", 243, 43.6),
                                              ("Neither", 166, 30.5)],
            "Previous offences": [("None", 58, 10.8), ("1 to 2", 121, 21.6), ("3 to 6", 157, 28.8),
                                  ("7 to 14", 131, 23.7), ("15 or more", 81, 15.1)],
            "Index offence": [("Theft", 143, 26.4), ("Violence against the person", 129, 23.1),
                              ("Drug offences", 88, 16.3), ("Criminal damage", 46, 8.2),
                              ("Public order", 57, 10.6), ("Motoring", 49, 9.0), ("Other", 36, 6.4)],
            "Sentence length": [("Community order, 12 months or less", 388, 70.5),
                                ("Community order, more than 12 months", 160, 29.5)],
        }),
        subgroups=[
            SubgroupResult(variable="sex", level="M", n_treated=462, measures=[
                _measure("rate", 462, 2030, 33.1, 27.0, 1.0, 11.2, 0.019)]),
            SubgroupResult(variable="sex", level="F", n_treated=86, measures=[
                _measure("rate", 86, 385, 25.6, 21.8, -6.4, 14.0, 0.46)]),
        ],
        statements=Statements(can_say=[], cannot_say=[]),
        caveats=[_CAVEAT],
        warnings=["Balance on OGRS score and previous offences is acceptable but not good after matching."],
        created_at=_CREATED,
    )


def non_significant() -> AnalysisResult:
    """A custody education programme with no statistically significant difference (246 analysed)."""
    n = 246
    return AnalysisResult(
        submission_id="sub-1b2c3d4e5f60718293a4",
        programme=ProgrammeInfo(
            organisation="Learning Unlocked",
            programme="Prison Education Bursaries",
            description=("Bursaries for distance-learning courses taken during a custodial sentence, "
                         "open to anyone with at least six months left to serve."),
            setting="custody"),
        dataset=_DATASET, spec=_spec("custody"),
        attrition=_attrition(298, {"not_found": 14, "ambiguous": 6, "no_index_event": 19,
                                   "followup_outside_coverage": 8, "no_match_in_caliper": 5}),
        n_treated=n, n_comparison=1130, n_pool=48310, dropped_treated=5,
        measures=[
            _measure("rate", n, 1130, 44.1, 46.0, -7.9, 4.1, 0.53, (-7.6, 3.9)),
            _measure("frequency", n, 1130, 1.31, 1.37, -0.35, 0.23, 0.69),
            _measure("days_to_first", 108, 520, 147.0, 141.0, -12.0, 24.0, 0.51),
        ],
        balance=_balance(),
        overlap=_overlap(n + 5, 48310, n, mu_t=-2.7, mu_p=-3.9),
        profile=_profile(n, {
            "Sex": [("Male", 231, 93.5), ("Female", 15, 6.5)],
            "Age band": [("18-20", 14, 5.4), ("21-24", 39, 16.1), ("25-29", 58, 23.0),
                         ("30-39", 77, 31.7), ("40-49", 41, 16.2), ("50 and over", 17, 7.6)],
            "Ethnicity": [("White", 181, 73.5), ("Black", 29, 11.9), ("Asian", 21, 8.6),
                          ("Mixed", 10, 4.1), ("Other", 5, 1.9)],
            "Employment in the year before": [("Employed", 38, 15.2), ("Claiming out-of-work benefits", 131, 53.4),
                                              ("Neither", 77, 31.4)],
            "Previous offences": [("None", 9, 3.8), ("1 to 2", 27, 11.4), ("3 to 6", 61, 24.4),
                                  ("7 to 14", 72, 29.4), ("15 or more", 77, 31.0)],
            "Index offence": [("Theft", 64, 25.6), ("Violence against the person", 67, 27.4),
                              ("Drug offences", 44, 18.1), ("Burglary", 31, 12.4), ("Robbery", 22, 9.1),
                              ("Other", 18, 7.4)],
            "Sentence length": [("Less than 12 months", 92, 37.6), ("12 months to under 4 years", 121, 49.1),
                                ("4 years or more", 33, 13.3)],
        }),
        subgroups=[
            SubgroupResult(variable="age_band", level="18-24", n_treated=53, measures=[
                _measure("rate", 53, 244, 52.8, 54.1, -15.1, 12.5, 0.86)]),
            SubgroupResult(variable="age_band", level="25+", n_treated=193, measures=[
                _measure("rate", 193, 886, 41.5, 43.7, -9.0, 4.6, 0.54)]),
        ],
        statements=Statements(
            can_say=[],
            cannot_say=["You cannot say that the programme increased or reduced the one-year proven "
                        "re-offending rate."]),
        caveats=[_CAVEAT],
        created_at=_CREATED,
    )


def degenerate() -> AnalysisResult:
    """A small women's programme where no one re-offended: small counts everywhere, no subgroups,
    time to first re-offence not estimable, and no statements supplied by the analysis."""
    n = 62
    return AnalysisResult(
        submission_id="sub-00aa11bb22cc33dd44ee",
        programme=ProgrammeInfo(
            organisation="Riverside Women's Centre",
            programme="Women's Centre Diversion",
            description="One-to-one key work for women given a conditional caution or short community order.",
            setting="community"),
        dataset=_DATASET, spec=_spec("community", k=3),
        attrition=_attrition(78, {"invalid_row": 2, "duplicate": 1, "not_found": 9, "no_index_event": 3,
                                  "no_match_in_caliper": 1}),
        n_treated=n, n_comparison=287, n_pool=9140, dropped_treated=1,
        measures=[
            _measure("rate", n, 287, 0.0, 9.4, -12.8, -6.0, 1e-7),
            _measure("frequency", n, 287, 0.0, 0.13, -0.18, -0.08, 2e-6),
            _not_estimable("days_to_first",
                           "no one in the treatment group had a proven re-offence within the year, so "
                           "there is no time to a first re-offence to compare.", 0, 27),
        ],
        balance=_balance({"Ethnicity: Black": 0.132, "Index year": 0.071}),
        overlap=_overlap(n + 1, 9140, n, mu_t=-3.6, mu_p=-4.6, sd_t=0.7),
        profile=_profile(n, {
            "Sex": [("Female", 62, 100.0)],
            "Age band": [("18-20", 3, 4.2), ("21-24", 11, 17.0), ("25-29", 14, 22.9),
                         ("30-39", 19, 30.1), ("40-49", 10, 17.4), ("50 and over", 5, 8.4)],
            "Ethnicity": [("White", 49, 78.9), ("Black", 6, 9.0), ("Asian", 4, 6.2),
                          ("Mixed", 2, 3.8), ("Other", 0, 0.6), ("Not recorded", 1, 1.5)],
            "Claiming out-of-work benefits": [("Yes", 59, 93.4)],
            "Previous offences": [("None", 21, 33.1), ("1 to 2", 26, 41.0), ("3 to 6", 12, 20.3),
                                  ("7 or more", 3, 5.6)],
            "Index offence": [("Theft", 29, 46.2), ("Violence against the person", 9, 14.8),
                              ("Drug offences", 7, 11.7), ("Fraud", 5, 8.1), ("Public order", 8, 12.6),
                              ("Other", 4, 6.6)],
            "Sentence length": [("Conditional caution", 44, 70.4), ("Community order", 18, 29.6)],
        }),
        subgroups=[],
        statements=Statements(can_say=[], cannot_say=[]),
        caveats=["The comparison pool for women given cautions or community orders in these years is small."],
        warnings=["1 treated person had no comparison inside the caliper and was dropped from the analysis."],
        created_at=_CREATED,
    )


def minimal() -> AnalysisResult:
    """Only the required pieces: one measure, no overlap, profile, balance, subgroups or statements."""
    n = 75
    return AnalysisResult(
        programme=ProgrammeInfo(organisation="Small Steps CIC", programme="Family Links",
                                setting="custody"),
        dataset=DatasetInfo(version="synthetic-2026.11"),
        spec={},
        attrition=Attrition(submitted=n, steps=[], analysed=n),
        n_treated=n, n_comparison=301, n_pool=12004,
        measures=[_measure("rate", n, 301, 41.3, 43.0, -13.4, 10.0, 0.78)],
        balance=[],
        statements=Statements(can_say=[], cannot_say=[]),
        created_at=_CREATED,
    )


EXAMPLES: dict[str, Callable[[], AnalysisResult]] = {
    "significant_reduction": significant_reduction,
    "significant_increase": significant_increase,
    "non_significant": non_significant,
    "degenerate": degenerate,
    "minimal": minimal,
}


def all_examples() -> dict[str, AnalysisResult]:
    """A fresh copy of every example, keyed by name."""
    return {name: build() for name, build in EXAMPLES.items()}
