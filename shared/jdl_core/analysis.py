"""One call for the whole analysis: treated index events (or an upload) -> AnalysisResult.

``analyse_index_events`` is what the matching service calls once linkage has chosen each treated
person's index event: it forms the comparison pool (national index events of the same disposal
type and period, with complete follow-up, minus every event of a treated person), matches,
compares outcomes, and assembles the aggregate-only ``AnalysisResult`` (profile, balance, overlap,
measures, subgroups, statements, caveats, attrition, dataset and spec).

``analyse`` chains the whole core from an uploaded cohort frame: validation
(``jdl_core.cohort.validate_cohort``) -> linkage (``jdl_core.linkage.link_cohort``) -> index events
(``jdl_core.index_events.select_index_events``) -> ``analyse_index_events``.
"""
from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any, Final, Mapping, Sequence, get_args

import numpy as np
import pandas as pd

from . import schema
from .errors import DataError, InvalidArgument, TooFewAnalysed
from .matching import MatchResult, MatchSpec, match
from .matching.balance import flag as balance_flag
from .national import NationalData
from .outcomes import AGE_BANDS, age_band, compare_further, compare_outcomes, has_further_outcomes
from .result import (
    AgeSummary,
    AnalysisResult,
    Attrition,
    AttritionReason,
    AttritionStep,
    DatasetInfo,
    GroupProfileRow,
    IndexPeriod,
    ProfileRow,
    ProgrammeInfo,
    Statements,
)
from .schema import PROGRAMME_ATTRIBUTES
from .sensitivity import rate_sensitivity
from .subgroups import analyse_subgroups, count_tests

if TYPE_CHECKING:     # the cohort package is imported when analyse runs
    from .cohort import ParsedUpload

PERSON_COLUMNS: Final = ("sex", "ethnicity", "nationality")   # columns of people.parquet
REASONS: Final[tuple[str, ...]] = get_args(AttritionReason)
REASON_LABELS: Final[dict[str, str]] = {
    "invalid_row": "Rows that failed validation",
    "duplicate": "Same person submitted more than once",
    "not_found": "Not found in the national data",
    "ambiguous": "More than one plausible national record",
    "no_index_event": "No eligible index event for the programme",
    "followup_outside_coverage": "One-year follow-up not inside the data",
    "not_in_strata": "No comparison records of the same sex and sentence type",
    "no_match_in_caliper": "No comparable person in the national data (outside the caliper)",
}
STANDARD_CAVEATS: Final[tuple[str, ...]] = (
    "The comparison group is matched only on characteristics recorded in the national data "
    "(listed in the matching-quality table). People who took part may differ from them in ways "
    "that are not recorded, such as motivation or support from family, and such differences "
    "could explain part of any difference in re-offending.",
    "People in the comparison group may themselves have received other services or "
    "programmes: the result compares taking part in this programme with whatever the comparison "
    "group received, not with receiving nothing.",
    "Re-offending means proven re-offending: an offence committed in the year after release from "
    "custody or the start of the order and proven by a conviction or caution within a further "
    "six months. Offences that were not detected or not proven are not counted.",
    "The time to first re-offence is compared only among people who re-offended, who are not a "
    "matched comparison in themselves; read it alongside the re-offending rate.",
)


# -- helpers ---------------------------------------------------------------------------------

def manifest_sha256(national: NationalData) -> str:
    """sha256 of the dataset's manifest.json (of its canonical JSON when not loaded from disk)."""
    path = getattr(national, "path", None)
    if path is not None:
        f = path / schema.MANIFEST_FILE
        if f.is_file():
            return hashlib.sha256(f.read_bytes()).hexdigest()
    text = json.dumps(national.manifest, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def dataset_info(national: NationalData) -> DatasetInfo:
    m = national.manifest or {}
    counts = m.get("row_counts", {}) if isinstance(m.get("row_counts"), dict) else {}
    return DatasetInfo(version=str(m.get("dataset_version", schema.DATASET_VERSION)),
                       seed=m.get("seed"), people=counts.get("people", len(national.people)),
                       events=counts.get("events", len(national.events)),
                       manifest_sha256=manifest_sha256(national))


def with_person_columns(events: pd.DataFrame, people: pd.DataFrame,
                        columns: Sequence[str] = PERSON_COLUMNS) -> pd.DataFrame:
    """``events`` with sex, ethnicity and nationality from people.parquet (joined on person_key)
    if absent (a people table without nationality, as in hand-made frames, gives none)."""
    need = [c for c in columns if c not in events.columns and c in people.columns]
    if not need:
        return events
    keys = people["person_key"].to_numpy()
    wanted = events["person_key"].to_numpy()
    positional = (len(keys) and keys[0] == 0 and keys[-1] == len(keys) - 1
                  and bool((np.diff(keys) == 1).all())
                  and (not len(wanted) or (wanted.min() >= 0 and wanted.max() < len(keys))))
    if positional:
        # the generator's keys are the row numbers 0..N-1: a positional take, instead of
        # hashing millions of people for every comparison pool
        joined = people[need].take(wanted)
    else:
        lookup = people.drop_duplicates("person_key").set_index("person_key")[need]
        joined = lookup.reindex(wanted)
    # a shallow copy: with copy-on-write the new columns never reach the national frames
    out = events.copy(deep=False)
    for c in need:
        out[c] = joined[c].to_numpy()
    return out


def _attrition(given: Attrition | Mapping[str, int] | None, n_received: int,
               warnings: list[str]) -> tuple[int, list[tuple[str, int]]]:
    """(submitted, [(reason, removed)...]) from what the earlier stages counted."""
    if isinstance(given, Attrition):
        return given.submitted, [(s.reason, s.removed) for s in given.steps]
    if given is None:
        return n_received, []
    if not isinstance(given, Mapping):
        raise InvalidArgument(f"attrition must be an Attrition, a mapping of reason -> count or "
                              f"None, not {type(given).__name__}")
    unknown = sorted(set(given) - set(REASONS) - {"submitted", "linked", "analysed"})
    if unknown:
        warnings.append(f"attrition counts with unknown reasons ignored: {unknown}")
    steps = [(r, int(given[r])) for r in REASONS if int(given.get(r, 0) or 0) > 0]
    submitted = int(given.get("submitted", n_received + sum(n for _, n in steps)))
    return submitted, steps


def _too_few_message(analysed: int, minimum: int, submitted: int,
                     steps: list[tuple[str, int]]) -> str:
    """The refusal of a cohort with too few people to analyse: how many, the main reasons the
    others were lost and what to send instead (the whole text reaches the organisation)."""
    from .linkage.quality import main_reasons, remedies

    text = (f"only {analysed} people could be analysed, of {submitted} submitted; at least "
            f"{minimum} are needed for a reliable result")
    reasons = main_reasons(submitted, steps, REASON_LABELS)
    if reasons:
        text += f". Main reasons: {reasons}"
    remedy = remedies(steps)
    if remedy:
        text += f". To include more people: {remedy}"
    return text + "."


def _build_attrition(submitted: int, steps: list[tuple[str, int]], analysed: int,
                     n_received: int, warnings: list[str]) -> Attrition:
    merged: dict[str, int] = {}
    for reason, n in steps:
        merged[reason] = merged.get(reason, 0) + int(n)
    out: list[AttritionStep] = []
    remaining = submitted
    for reason in REASONS:  # the order a person passes through the stages
        n = merged.get(reason, 0)
        if n <= 0:
            continue
        remaining -= n
        out.append(AttritionStep(reason=reason, label=REASON_LABELS[reason], removed=n,  # type: ignore[arg-type]
                                 remaining=remaining))
    if remaining != analysed:
        warnings.append(f"the attrition counts do not add up: {submitted} submitted less "
                        f"{submitted - remaining} removed leaves {remaining}, but {analysed} were "
                        f"analysed ({n_received} index events were received for matching)")
    return Attrition(submitted=submitted, steps=out, analysed=analysed)


_OFFENCE_LABELS: Final = {g: g.replace("_", " ").capitalize() for g in schema.OFFENCE_GROUPS}


def _bands(values: pd.Series, edges: Sequence[tuple[str, float, float]]) -> pd.Series:
    v = values.astype(float).to_numpy()
    out = np.full(len(v), "", dtype=object)
    for label, lo, hi in edges:
        out[(v >= lo) & (v <= hi)] = label
    return pd.Series(out, index=values.index)


PREV_OFFENCE_BANDS: Final = (("None", 0, 0), ("1-2", 1, 2), ("3-6", 3, 6), ("7-10", 7, 10),
                             ("11-20", 11, 20), ("21 or more", 21, np.inf))
PREV_CUSTODY_BANDS: Final = (("None", 0, 0), ("1", 1, 1), ("2-4", 2, 4), ("5 or more", 5, np.inf))
SENTENCE_BANDS: Final = (("Under 12 months", 0, 11.999), ("12 months or more", 12, np.inf))


def index_period(result: MatchResult) -> IndexPeriod | None:
    """First and last index date of the matched treated people (page 1 of the report)."""
    t = result.matched[result.matched["treated"]]
    if "index_date" not in t or t.empty:
        return None
    dates = pd.to_datetime(t["index_date"])
    return IndexPeriod(first=dates.min().date(), last=dates.max().date())


def not_included_profile(cohort: pd.DataFrame | None, result: MatchResult) -> list[GroupProfileRow]:
    """Sex and age band of the submitted people who were not analysed (counts and % of them)."""
    if cohort is None or len(cohort) == 0:
        return []
    missing = [c for c in ("sex", "age", "event_id") if c not in cohort.columns]
    if missing:
        raise DataError(f"cohort_profile lacks column(s) {missing}")
    analysed = set(result.matched.loc[result.matched["treated"], "event_id"])
    out = cohort[~cohort["event_id"].isin(analysed)]
    n = len(out)
    if n == 0:
        return []
    rows: list[GroupProfileRow] = []
    sex = out["sex"].astype(str).str.upper().map({"M": "Male", "F": "Female"}).fillna("Not recorded")
    bands = age_band(out["age"]).replace({"nan": "Not recorded"})
    for name, values, order in (("Sex", sex, ["Male", "Female", "Not recorded"]),
                                ("Age band", bands, [b[0] for b in AGE_BANDS] + ["Not recorded"])):
        counts = values.value_counts()
        for cat in order:
            k = int(counts.get(cat, 0))
            if k:
                rows.append(GroupProfileRow(characteristic=name, category=cat, n=k, pct=100.0 * k / n))
    return rows


def cohort_profile_frame(rows: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """(sex, age at the intervention start, event_id) per valid submitted row, for
    ``analyse_index_events(cohort_profile=...)``; ``events`` maps row_number to event_id."""
    dob = pd.to_datetime(rows["date_of_birth"], errors="coerce")
    start = pd.to_datetime(rows["intervention_start"], errors="coerce")
    age = (start - dob).dt.days / 365.25
    ev = events.drop_duplicates("row_number").set_index("row_number")["event_id"] \
        if len(events) else pd.Series(dtype=object)
    frame = pd.DataFrame({"sex": rows["sex"].to_numpy(), "age": age.to_numpy(),
                          "event_id": rows["row_number"].map(ev).to_numpy()})
    # programme attributes travel with it (encrypted, purged with the rest) to the sub-analyses
    for a in PROGRAMME_ATTRIBUTES:
        if a in rows.columns and rows[a].notna().any():
            frame[a] = rows[a].to_numpy(dtype=object)
    return frame


def attributes_from_profile(cohort_profile: pd.DataFrame | None,
                            events: pd.DataFrame) -> pd.DataFrame | None:
    """``person_key`` plus each programme attribute the organisation uploaded, for the people with
    an index event (``analyse_index_events(attributes=...)``); None when nothing was uploaded."""
    if cohort_profile is None:
        return None
    cols = [a for a in PROGRAMME_ATTRIBUTES if a in cohort_profile.columns]
    if not cols:
        return None
    linked = cohort_profile[cohort_profile["event_id"].notna()]
    keys = events.set_index("event_id")["person_key"]
    out = linked[cols].copy()
    out.insert(0, "person_key", linked["event_id"].map(keys).to_numpy())
    return out[out["person_key"].notna()].reset_index(drop=True)


def age_summary(result: MatchResult) -> AgeSummary | None:
    """Age at the index date: treated range and mean, weighted comparison mean (JDL profile)."""
    long = result.matched
    if "age_at_index" not in long:
        return None
    t = long[long["treated"]]["age_at_index"].astype(float)
    c = long[~long["treated"]].drop_duplicates("event_id")
    if t.empty:
        return None
    w = c["weight"].to_numpy(dtype=np.float64) if "weight" in c else None
    cm = (float(np.average(c["age_at_index"].astype(float), weights=w))
          if len(c) and (w is None or w.sum() > 0) else None)
    return AgeSummary(treated_min=float(t.min()), treated_max=float(t.max()),
                      treated_mean=float(t.mean()), comparison_mean=cm)


def profile(result: MatchResult) -> list[ProfileRow]:
    """Characteristics of the matched treated people beside the weighted comparison group."""
    long = result.matched
    t = long[long["treated"]]
    c = long[~long["treated"]].drop_duplicates("event_id")   # one row per comparison record
    wc = c["weight"].to_numpy(dtype=np.float64)                # MatchIt weights: sum = records
    chars: list[tuple[str, pd.Series, pd.Series, list[str]]] = []

    def add(name: str, fn: Any, order: list[str]) -> None:
        chars.append((name, fn(t), fn(c), order))

    yes_no = {True: "Yes", False: "No"}
    add("Sex", lambda d: d["sex"].map({"M": "Male", "F": "Female"}), ["Male", "Female"])
    add("Age band", lambda d: age_band(d["age_at_index"]), [b[0] for b in AGE_BANDS])
    add("Ethnicity", lambda d: d["ethnicity"].astype(str), list(schema.ETHNICITIES))
    if "nationality" in long.columns:
        add("Nationality", lambda d: d["nationality"].astype(str), list(schema.NATIONALITIES))
    add("Employed in the year before", lambda d: d["employed"].astype(bool).map(yes_no), ["Yes", "No"])
    add("On benefit in the year before", lambda d: d["on_benefit"].astype(bool).map(yes_no), ["Yes", "No"])
    add("Previous offences", lambda d: _bands(d["prev_offences"], PREV_OFFENCE_BANDS),
        [b[0] for b in PREV_OFFENCE_BANDS])
    add("Previous custodial sentences", lambda d: _bands(d["prev_custody"], PREV_CUSTODY_BANDS),
        [b[0] for b in PREV_CUSTODY_BANDS])
    add("Index offence", lambda d: d["offence_group"].astype(str).map(_OFFENCE_LABELS),
        [_OFFENCE_LABELS[g] for g in schema.OFFENCE_GROUPS])
    if (t["disposal"] != "caution").any():
        add("Sentence length", lambda d: _bands(d["sentence_months"], SENTENCE_BANDS),
            [b[0] for b in SENTENCE_BANDS])
    rows: list[ProfileRow] = []
    n_t, w_total = len(t), float(wc.sum())
    for name, vt, vc, order in chars:
        counts_t = vt.value_counts()
        weights_c = pd.Series(wc, index=vc.index).groupby(vc.to_numpy()).sum()
        for cat in order:
            nt = int(counts_t.get(cat, 0))
            nc = float(weights_c.get(cat, 0.0))
            if nt == 0 and nc == 0:
                continue
            rows.append(ProfileRow(characteristic=name, category=cat, treated_n=nt,
                                   treated_pct=100.0 * nt / n_t, comparison_pct=100.0 * nc / w_total,
                                   comparison_n=nc))
    return rows


def comparison_pool(national: NationalData, treated: pd.DataFrame) -> pd.DataFrame:
    """National index events of the treated disposal types and period, follow-up complete,
    excluding every event of a treated person."""
    ev = national.events
    years = treated["index_year"].astype(int)
    mask = (ev["disposal"].isin(pd.unique(treated["disposal"]))
            & ev["followup_complete"].to_numpy(dtype=bool)
            & (ev["index_year"] >= years.min()) & (ev["index_year"] <= years.max())
            & ~ev["person_key"].isin(treated["person_key"]))
    return with_person_columns(ev[mask], national.people)


# -- the analysis ----------------------------------------------------------------------------

def analyse_index_events(treated_events: pd.DataFrame, national: NationalData,
                         spec: MatchSpec | None = None, *, programme: ProgrammeInfo,
                         attrition: Attrition | Mapping[str, int] | None = None,
                         submission_id: str | None = None,
                         attributes: pd.DataFrame | None = None,
                         sub_analyses: Sequence[str] | None = None,
                         cohort_profile: pd.DataFrame | None = None) -> AnalysisResult:
    """Match the treated index events against the national pool and report the outcomes.

    ``cohort_profile``: one row per valid submitted person with ``sex``, ``age`` (at the
    intervention start) and ``event_id`` (their index event, or missing): the people not analysed
    are profiled from it (JDL: a profile of those not included). Aggregates only reach the result.

    ``treated_events``: rows of national.events (one chosen index event per treated person).
    ``attrition``: what validation, linkage and index-event selection removed (an ``Attrition``
    or a mapping reason -> count, optionally with "submitted"); matching adds its own steps.
    ``attributes``: programme attributes of the treated people for sub-analyses (``person_key``
    plus one column per attribute); ``sub_analyses``: which of them were requested (default all).
    When the balance gate finds no reliable comparison group, the result carries no verdict:
    ``verdict`` False, ``gate.code`` "no_reliable_comparison" with the failing variables,
    ``significant`` None on every measure, no statements, no sub-analyses, no sensitivity.
    Raises ``TooFewAnalysed`` (fewer than ``spec.min_analysed`` people, before or after
    matching), ``NoOverlap`` and ``ConstantCovariates``.
    """
    spec = spec or MatchSpec()
    warnings: list[str] = []
    if not isinstance(treated_events, pd.DataFrame):
        raise InvalidArgument(f"treated_events must be a DataFrame of index events, not "
                              f"{type(treated_events).__name__}")
    needed = ("event_id", "person_key", "disposal", "index_year", "followup_complete",
              "reoffended", "reoffence_count", "days_to_first")
    missing = [c for c in needed if c not in treated_events.columns]
    if missing:
        raise DataError(f"treated_events lacks column(s) {missing}; pass rows of the national "
                        "events table")
    n_received = len(treated_events)
    submitted, steps = _attrition(attrition, n_received, warnings)

    treated = treated_events
    incomplete = ~treated["followup_complete"].to_numpy(dtype=bool) | treated["reoffended"].isna().to_numpy()
    if incomplete.any():
        steps.append(("followup_outside_coverage", int(incomplete.sum())))
        treated = treated[~incomplete]
    order = treated.sort_values(["index_date", "event_id"] if "index_date" in treated else ["event_id"],
                                kind="stable")
    dup = order["person_key"].duplicated()
    if dup.any():
        # one index event per person: keep the earliest
        steps.append(("duplicate", int(dup.sum())))
        warnings.append(f"{int(dup.sum())} treated people had more than one index event; the "
                        "earliest was kept")
        treated = order[~dup]
    treated = with_person_columns(treated, national.people)

    if len(treated) < spec.min_analysed:
        raise TooFewAnalysed(_too_few_message(len(treated), spec.min_analysed, submitted, steps),
                             hint="people are analysed when linked to the national data with an "
                                  "eligible index event and complete follow-up")

    pool = comparison_pool(national, treated)
    result = match(treated, pool, spec)
    warnings.extend(result.warnings)
    for reason, n in result.dropped_counts().items():
        steps.append((reason, n))
    if result.n_treated < spec.min_analysed:
        raise TooFewAnalysed(
            f"only {result.n_treated} of {len(treated)} people had a comparable person in the "
            f"national data ({result.dropped_counts()} dropped by matching); at least "
            f"{spec.min_analysed} are needed for a reliable result",
            hint="the cohort differs too much from everyone else with the same sentence type and "
                 "period; check the setting, or submit more people")

    measures = compare_outcomes(result, spec)
    further = compare_further(result, spec) if has_further_outcomes(result.matched) else []
    verdict = result.gate is None or result.gate.passed
    if verdict:
        subgroups = analyse_subgroups(result, spec, attributes=attributes, requested=sub_analyses)
        rate = next((m for m in measures if m.name == "rate"), None)
        sensitivity = rate_sensitivity(rate) if rate is not None else None
    else:
        # no reliable comparison group: the figures stay for the statistician, but nothing is
        # called significant and nothing is said about the programme
        no_claim = {"significant": None, "listed_significant": None}
        measures = [m.model_copy(update=no_claim) for m in measures]
        further = [m.model_copy(update=no_claim) for m in further]
        subgroups = []
        sensitivity = None
    attr = _build_attrition(submitted, steps, result.n_treated, n_received, warnings)

    caveats = list(STANDARD_CAVEATS)
    years = treated["index_year"].astype(int)
    caveats.append(f"The results describe people like those in the cohort, with index events in "
                   f"{years.min()}-{years.max()}; they may not hold for other people or times.")
    if len(result.dropped_treated):
        caveats.append(f"{len(result.dropped_treated)} of {len(treated)} people had no comparable "
                       f"person in the national data and are not in the analysis: the results "
                       f"describe the {result.n_treated} people matched, who may differ from the "
                       "cohort as a whole.")
    poor = [r.covariate for r in result.balance.itertuples() if balance_flag(r.smd_after) == "poor"]
    if poor:
        caveats.append("After matching, the groups still differ by more than 10% of a standard "
                       f"deviation on: {', '.join(poor)}. Treat the results with extra caution.")
    if any(s.status == "analysed" for s in subgroups):
        caveats.append("Each subgroup result is a matched analysis of its own, and exploratory: "
                       "its p-values are adjusted for the number of subgroup tests (Holm).")

    return AnalysisResult(
        submission_id=submission_id,
        programme=programme,
        dataset=dataset_info(national),
        spec=spec.to_dict(),
        attrition=attr,
        n_treated=result.n_treated,
        n_comparison=result.n_comparison,
        n_pool=result.n_pool,
        dropped_treated=len(result.dropped_treated),
        index_period=index_period(result),
        not_included=not_included_profile(cohort_profile, result),
        age=age_summary(result),
        measures=measures,
        balance=result.balance_rows(),
        overlap=result.overlap,
        profile=profile(result),
        subgroups=subgroups,
        further_measures=further,
        window=_window(national, treated),
        specification=result.gate.specification if result.gate else result.specification,
        specifications=result.specifications,
        gate=result.gate,
        verdict=verdict,
        sensitivity=sensitivity,
        n_tests=count_tests(measures, subgroups) if verdict else 0,
        # no prose from the analysis: the report's wording module makes every sentence from the
        # figures (jdl_report.wording), so the PDF, HTML, JSON and command line agree
        statements=Statements(can_say=[], cannot_say=[]),
        caveats=caveats,
        warnings=warnings,
    )


def _window(national: NationalData, treated: pd.DataFrame) -> dict[str, Any]:
    """The dataset's window (from its manifest) and the period of the analysed index events."""
    try:
        out: dict[str, Any] = national.window.to_dict()
    except DataError:
        out = {}
    if "index_date" in treated.columns and len(treated):
        dates = pd.to_datetime(treated["index_date"])
        out["analysed_from"] = str(dates.min().date())
        out["analysed_to"] = str(dates.max().date())
    return out


def analyse(upload: ParsedUpload | pd.DataFrame, national: NationalData, spec: MatchSpec | None = None,
            programme: ProgrammeInfo | Any = None, *, submission_id: str | None = None
            ) -> AnalysisResult:
    """The whole core from an uploaded cohort: validate, link, choose index events, analyse.

    ``upload``: the read upload (``jdl_core.cohort.read_upload``), or a frame of canonical columns.
    ``programme``: a ``ProgrammeInfo`` or a ``jdl_core.programme.Programme``; its setting decides
    the index events and the comparison pool.
    """
    from .cohort import validate_cohort
    from .index_events import select_index_events
    from .linkage import link_cohort

    info = _programme_info(programme)
    window = national.window     # intake's window comes from the dataset's manifest too
    validated = validate_cohort(upload, setting=info.setting, coverage_start=window.index_start,
                                coverage_end=window.intake_end, coverage_note=window.note())
    linkage = link_cohort(validated.rows, national)
    selection = select_index_events(linkage, validated.rows, national, info.setting)
    attrition = selection.to_attrition(invalid_rows=validated.counts.invalid,
                                       intake_duplicates=validated.counts.duplicates)
    ev = national.events
    treated = ev[ev["event_id"].isin(selection.events["event_id"])]
    return analyse_index_events(treated, national, spec, programme=info, attrition=attrition,
                                submission_id=submission_id,
                                cohort_profile=cohort_profile_frame(validated.rows, selection.events))


def _programme_info(programme: Any) -> ProgrammeInfo:
    if isinstance(programme, ProgrammeInfo):
        return programme
    if programme is None:
        raise InvalidArgument("programme is required: a ProgrammeInfo or a Programme")
    if callable(getattr(programme, "info", None)):
        return programme.info()
    try:
        return ProgrammeInfo(organisation=programme.organisation, programme=programme.name,
                             description=getattr(programme, "delivers", ""),
                             setting=programme.setting)
    except AttributeError:
        raise InvalidArgument(f"programme must be a ProgrammeInfo or a Programme, not "
                              f"{type(programme).__name__}") from None
