"""The report's content model: every sentence, table and caption, derived from the
disclosure-controlled result, so the PDF, HTML and JSON say exactly the same thing.

The sentences come from ``wording`` (the one place the JDL's words are made); this module picks
them, lays out the tables and orders the sections as the JDL does (methodology.md section 7): the
main report (summary, overall measurements and estimates, what you can and cannot say, charts, the
organisation in its own words and its response, results in detail, profile, matching summary,
attrition, caveats) and then a clearly headed annex for statisticians.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from jdl_core.errors import InvalidArgument
from jdl_core.linkage.quality import link_shortfall
from jdl_core.programme import check_printable
from jdl_core.result import AnalysisResult, BalanceRow

from . import _format as fmt
from . import wording as W
from .disclosure import (
    DEFAULT_THRESHOLD,
    SUPPRESSED,
    DisclosedMeasure,
    DisclosedResult,
    apply_disclosure,
)
from .wording import Verdict

__all__ = ["SECTIONS", "ANNEX_SECTIONS", "HEADINGS", "TableModel", "Verdict", "ReportContent",
           "build_content", "verdict", "smd_scale", "RESPONSE_MAX_CHARS", "check_response"]
# "response" and "tables" are printed only when there is a response / there are further measures

# (key, heading): the main report's sections in order; the renderers and the tests use these.
# "response" is printed only when the organisation has added one.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("summary", "Summary"),
    ("measurements", "Overall measurements"),
    ("estimates", "Overall estimates"),
    ("can_say", "What you can say"),
    ("cannot_say", "What you cannot say"),
    ("charts", "Results in charts"),
    ("own_words", "The organisation in its own words"),
    ("response", "Response from the organisation"),
    ("detail", "Results in detail"),
    ("tables", "Tables 4 to 7: seriousness and custody"),
    ("profile", "Profile of the treatment and comparison groups"),
    ("matching", "Matching summary"),
    ("attrition", "People submitted and analysed"),
    ("caveats", "Caveats"),
)
# the annex, after the main report
ANNEX_SECTIONS: tuple[tuple[str, str], ...] = (
    ("annex", "Annex: detail for statisticians"),
)
HEADINGS = dict(SECTIONS + ANNEX_SECTIONS)
RESPONSE_MAX_CHARS = 4000

Tone = Literal["favourable", "unfavourable", "neutral", "good", "acceptable", "poor"]


@dataclass(frozen=True)
class TableModel:
    """A table as display strings; renderers only lay it out."""
    key: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...]                    # right-align these columns
    widths: tuple[float, ...]                    # relative column widths
    group_starts: frozenset[int] = frozenset()   # rows that start a group (rule above)
    bold_rows: frozenset[int] = frozenset()
    tones: dict[tuple[int, int], Tone] = field(default_factory=dict)   # (row, col) -> colour
    notes: tuple[str, ...] = ()                  # printed under the table

    @property
    def has_suppressed(self) -> bool:
        return any(c == SUPPRESSED for r in self.rows for c in r)


@dataclass(frozen=True)
class ReportContent:
    disclosed: DisclosedResult
    threshold: int
    level: float
    title: str
    organisation: str
    programme: str
    description: str
    setting_label: str
    prepared: str          # the date the report was rendered (publication comes later, on its release date)
    submission_id: str                   # "" when rendered offline without one
    summary_facts: tuple[str, ...]       # group size and period, comparison size, not included
    overall: str                         # the one-sentence verdict (or why there is none)
    reliable: bool                       # False: no reliable comparison, no verdict given
    summary_lead: str
    key_figures: tuple[tuple[str, str], ...]
    verdicts: tuple[Verdict, ...]
    headline_table: TableModel
    estimates: tuple[str, ...]
    can_say: tuple[str, ...]
    cannot_say: tuple[str, ...]
    charts_text: str
    own_words: str
    selection: str
    response: str | None
    detail_text: tuple[str, ...]
    significant_results: tuple[str, ...]
    subgroup_text: str
    subgroup_table: TableModel | None
    subgroup_notes: tuple[str, ...]
    profile_text: str
    profile_table: TableModel | None
    not_included_table: TableModel | None
    matching_text: str
    attrition_text: str
    attrition_table: TableModel
    caveats: tuple[str, ...]
    balance_text: str
    balance_table: TableModel | None
    overlap_text: str
    method_text: str
    method_table: TableModel
    tests_table: TableModel | None
    further_table: TableModel | None
    further_text: str
    warnings: tuple[str, ...]
    disclosure_text: str
    disclosure_notes: tuple[str, ...]
    footnote: str
    sections: tuple[tuple[str, str], ...] = SECTIONS

    @property
    def summary_points(self) -> tuple[str, ...]:
        return self.estimates

    def present_sections(self) -> tuple[tuple[str, str], ...]:
        """The main sections this report prints (the response only when there is one)."""
        return tuple((k, h) for k, h in self.sections
                     if (k != "response" or self.response) and (k != "tables" or self.further_table))

    def to_json(self) -> dict[str, Any]:
        """The plain-words parts of the report, for report.json."""
        return {
            "title": self.title,
            "summary": [*self.summary_facts, self.overall],
            "estimates": list(self.estimates),
            "verdicts": [{"measure": v.measure, "kind": v.kind, "significant": v.significant,
                          "favourable": v.favourable, "badge": v.badge, "estimate": v.estimate,
                          "can_say": list(v.can_say), "cannot_say": list(v.cannot_say),
                          "number_needed": v.number_needed} for v in self.verdicts],
            "can_say": list(self.can_say),
            "cannot_say": list(self.cannot_say),
            "own_words": self.own_words,
            "selection": self.selection,
            "response": self.response,
            "detail": list(self.detail_text),
            "caveats": list(self.caveats),
            "warnings": list(self.warnings),
            "disclosure": [self.disclosure_text, *self.disclosure_notes],
        }


def verdict(m: DisclosedMeasure, level: float = W.DEFAULT_LEVEL, programme: str = "the programme") -> Verdict:
    """The words for one measure (kept here for callers that import it from content)."""
    return W.verdict(m, level=level, programme=programme,
                     note=W.measure_note(m.note) if getattr(m, "note", None) else None)


# ---------------------------------------------------------------------------------------------
# tables

def _tone(v: Verdict) -> Tone:
    if v.favourable is True:
        return "favourable"
    if v.favourable is False:
        return "unfavourable"
    return "neutral"


def _headline_table(measures: list[DisclosedMeasure], verdicts: list[Verdict], level: float) -> TableModel:
    rows: list[tuple[str, ...]] = []
    tones: dict[tuple[int, int], Tone] = {}
    adds_up = True
    for i, (m, v) in enumerate(zip(measures, verdicts)):
        dec = fmt.decimals(m.name)
        gone = "treated_value" in m.suppressed or m.withheld
        if v.kind in ("not_estimable", "withheld"):
            dash = SUPPRESSED if m.withheld else "-"
            rows.append((m.label, fmt.value(m.name, m.treated_value, m.unit, withheld=gone),
                         fmt.value(m.name, m.comparison_value, m.unit, withheld=gone),
                         dash, dash, dash, v.badge))
        else:
            rows.append((m.label, fmt.value(m.name, m.treated_value, m.unit, withheld=gone),
                         fmt.value(m.name, m.comparison_value, m.unit, withheld=gone),
                         fmt.number(m.difference, dec, signed=True) if m.difference is not None else "-",
                         fmt.ci(m.ci_low, m.ci_high, dec), fmt.p_value(m.p_value), v.badge))
            adds_up &= fmt.difference_adds_up(m.name, m.treated_value, m.comparison_value, m.difference)
        tones[(i, 6)] = _tone(v)
    units = "; ".join(f"{m.label.split(' (')[0].lower()}: {m.difference_unit}" for m in measures)
    notes = [f"Difference = treatment group minus comparison group ({units})."]
    if not adds_up:
        notes.append(fmt.ROUNDING_NOTE)
    for m, v in zip(measures, verdicts):
        if v.note and v.kind != "withheld":
            notes.append(f"{m.label}: {v.note}")
    return TableModel(key="headline",
                      columns=("Measure", "Treatment group", "Comparison group", "Difference",
                               f"{W.level_text(level)} confidence interval", "p-value", "Result"),
                      rows=tuple(rows), numeric=(False, True, True, True, True, True, False),
                      widths=(3.1, 1.15, 1.25, 1.05, 1.7, 0.8, 2.35), tones=tones, notes=tuple(notes))


def _link_shortfall(d: DisclosedResult) -> str | None:
    """The plain statement when most valid rows could not be linked (None otherwise). Only
    printed counts of a single reason enter it: a withheld "ambiguous" count is left out, not
    worked back, and a row of combined steps (e.g. 4 ambiguous shown with 38 with no index event)
    belongs to no one reason, so it counts as withheld too."""
    a = d.attrition
    if a.submitted is None:
        return None
    shortfall = link_shortfall(a.submitted, {s.reason: None if len(s.combined) > 1 else s.removed
                                             for s in a.steps})
    return shortfall.sentence() if shortfall.most_failed else None


def _attrition_table(d: DisclosedResult) -> TableModel:
    a = d.attrition

    def share(v: int | None) -> str:
        if v is None or a.submitted in (None, 0):
            return SUPPRESSED if v is None else "-"
        return fmt.pct(100.0 * v / a.submitted)
    rows = [("People in the submitted file", "", "", fmt.count(a.submitted))]
    for s in a.steps:
        rows.append((s.label, fmt.count(s.removed), share(s.removed), fmt.count(s.remaining)))
    rows.append(("People analysed (treatment group)", "", share(a.analysed), fmt.count(a.analysed)))
    notes: tuple[str, ...] = ()
    if any(s.combined for s in a.steps):
        notes = (W.ATTRITION_COMBINED_NOTE.format(t=d.disclosure.threshold),)
    shown = [s.removed for s in a.steps if s.removed is not None]
    if a.submitted and len(shown) == len(a.steps) and a.analysed is not None:
        parts = [100.0 * v / a.submitted for v in shown] + [100.0 * a.analysed / a.submitted]
        if sum(fmt.rounded(p, 0) for p in parts) != 100:
            notes = (*notes, fmt.ROUNDING_NOTE)
    return TableModel(key="attrition",
                      columns=("Step", "People removed", "% of submitted", "People remaining"),
                      rows=tuple(rows), numeric=(False, True, True, True), widths=(6.0, 1.6, 1.6, 1.8),
                      bold_rows=frozenset({0, len(rows) - 1}),
                      group_starts=frozenset({len(rows) - 1}), notes=notes)


def _profile_table(d: DisclosedResult) -> TableModel | None:
    if not d.profile:
        return None
    rows: list[tuple[str, ...]] = []
    starts, last = set(), None
    sums: dict[str, list[float | None]] = {}
    for r in d.profile:
        first = r.characteristic != last
        if first:
            starts.add(len(rows))
        rows.append((r.characteristic if first else "", r.category, fmt.count(r.treated_n),
                     fmt.pct(r.treated_pct), fmt.pct(r.comparison_pct)))
        sums.setdefault(r.characteristic, []).append(r.treated_pct)
        last = r.characteristic
    notes = ["Comparison group percentages are weighted by the matching weights."]
    # a characteristic whose printed percentages (all shown, categories complete) miss 100
    for vals in sums.values():
        shown = [v for v in vals if v is not None]
        if len(shown) == len(vals) and abs(sum(shown) - 100) < 0.5 and \
                sum(fmt.rounded(v, 0) for v in shown) != 100:
            notes.append(fmt.ROUNDING_NOTE)
            break
    return TableModel(key="profile",
                      columns=("Characteristic", "Group", "Treatment group (number)",
                               "Treatment group (%)", "Comparison group (%)"),
                      rows=tuple(rows), numeric=(False, False, True, True, True),
                      widths=(2.9, 3.4, 1.6, 1.5, 1.6), group_starts=frozenset(starts),
                      notes=tuple(notes))


def _not_included_table(d: DisclosedResult) -> TableModel | None:
    if not d.not_included:
        return None
    rows: list[tuple[str, ...]] = []
    starts, last = set(), None
    for r in d.not_included:
        first = r.characteristic != last
        if first:
            starts.add(len(rows))
        rows.append((r.characteristic if first else "", r.category, fmt.count(r.n), fmt.pct(r.pct)))
        last = r.characteristic
    return TableModel(key="not_included", columns=("Characteristic", "Group", "Number", "%"),
                      rows=tuple(rows), numeric=(False, False, True, True), widths=(2.9, 3.4, 1.6, 1.5),
                      group_starts=frozenset(starts),
                      notes=("Age at the start of the programme, from the submitted file.",))


def smd_scale(rows: list[BalanceRow]) -> float:
    """100 if SMDs are fractions of a standard deviation (0.05 = 5%), 1 if already percentages.

    Fractions are the convention; percentages are recognised when a row's flag only makes sense on
    that scale (e.g. 'good' with |SMD| of 3).
    """
    for r in rows:
        a = abs(r.smd_after) if r.smd_after is not None else None
        if a is None:
            continue
        if (r.flag == "good" and a >= 0.05 + 1e-9) or (r.flag == "acceptable" and a > 0.10 + 1e-9):
            return 1.0
    return 100.0


_FLAG_WORDS = {"good": "Good", "acceptable": "Acceptable", "poor": "Poor (flagged)"}


def _balance(d: DisclosedResult) -> tuple[str, str, TableModel | None]:
    """(matching summary for the main report, annex text, annex table)."""
    rows_in = d.balance
    if not rows_in:
        text = ("No balance summary was supplied with this result, so the quality of the matching "
                "cannot be shown.")
        return text, text, None
    scale = smd_scale(rows_in)
    has_ks = any(getattr(r, "ks_after", None) is not None for r in rows_in)
    rows: list[tuple[str, ...]] = []
    tones: dict[tuple[int, int], Tone] = {}
    for i, r in enumerate(rows_in):
        vr = f"{r.var_ratio_after:.2f}" if r.var_ratio_after is not None else "-"
        ks = getattr(r, "ks_after", None)
        cells = [W.covariate_name(r.covariate), fmt.smd(r.smd_before, scale), fmt.smd(r.smd_after, scale), vr]
        if has_ks:
            cells.append("-" if ks is None else fmt.number(ks, 2))
        rows.append((*cells, _FLAG_WORDS[r.flag]))
        tones[(i, len(cells))] = r.flag
    counts = {f: sum(r.flag == f for r in rows_in) for f in ("good", "acceptable", "poor")}
    n = len(rows_in)

    def num(k: int) -> str:
        return "none" if k == 0 else str(k)
    summary = (f"Matching made the two groups alike on the characteristics recorded in the national "
               f"data. After matching, {num(counts['good'])} of {n} characteristics are well balanced "
               f"(difference below 5% of a standard deviation), {num(counts['acceptable'])} acceptably "
               f"balanced (5% to 10%) and {num(counts['poor'])} poorly balanced (above 10%).")
    poor = [W.covariate_name(r.covariate) for r in rows_in if r.flag == "poor"]
    if poor:
        summary += (f" The groups still differ on {W.covariate_list([r.covariate for r in rows_in if r.flag == 'poor'])}, "
                    f"which could bias the results.")
    summary += " The full table is in the annex."
    annex = ("The standardised mean difference (SMD) compares the average of each characteristic in "
             "the two groups, in units of its standard deviation; below 5% is good, 5% to 10% "
             "acceptable, above 10% poor.")
    columns = ("Characteristic", "SMD before matching", "SMD after matching", "Variance ratio after",
               *(("KS distance after",) if has_ks else ()), "Balance after matching")
    table = TableModel(key="balance", columns=columns, rows=tuple(rows),
                       numeric=(False, True, True, True, *((True,) if has_ks else ()), False),
                       widths=(3.8, 1.5, 1.5, 1.4, *((1.4,) if has_ks else ()), 1.9), tones=tones)
    if has_ks:
        annex += (" The Kolmogorov-Smirnov distance is the largest gap between the two groups' "
                  "cumulative distributions (0 to 1), for characteristics that are not yes/no.")
    return summary, annex, table


_SHORT = {"rate": "Re-offending rate", "frequency": "Re-offences per person",
          "days_to_first": "Days to first re-offence"}


def _subgroups(d: DisclosedResult, level: float, programme: str) -> tuple[str, TableModel | None, tuple[str, ...]]:
    notes = tuple(W.note_text(n) for n in d.disclosure.notes if n.subgroup is not None)
    from .disclosure import subgroup_name
    skipped = tuple(
        f"Sub-analysis {subgroup_name(s.variable, s.level) if s.level else W.covariate_name(s.variable)}: "
        f"not analysed because {W.SUBGROUP_REASON_WORDS.get(s.reason_code or '', 'it could not be analysed')}."
        for s in d.subgroups if s.status != "analysed")
    notes = skipped + notes
    analysed = [s for s in d.subgroups if s.status == "analysed"]
    if not analysed:
        if notes:
            return ("No sub-analysis results are shown: every subgroup was too small to report or "
                    "would let the size of a small group be worked out."), None, notes
        return ("No sub-analyses were reported (a sub-analysis is reported only when it has enough "
                "people for a reliable comparison)."), None, notes
    rows: list[tuple[str, ...]] = []
    tones: dict[tuple[int, int], Tone] = {}
    starts = set()
    for s in analysed:
        name = subgroup_name(s.variable, s.level)
        starts.add(len(rows))
        for j, m in enumerate(s.measures):
            v = verdict(m, level, programme)
            dec = fmt.decimals(m.name)
            gone = "treated_value" in m.suppressed or m.withheld
            diff = "-" if m.difference is None else (
                f"{fmt.number(m.difference, dec, signed=True)} ({fmt.ci(m.ci_low, m.ci_high, dec)})")
            if m.withheld:
                diff = SUPPRESSED
            tones[(len(rows), 6)] = _tone(v)
            rows.append((name if j == 0 else "", fmt.count(s.n_treated) if j == 0 else "",
                         _SHORT.get(m.name, m.label), fmt.value(m.name, m.treated_value, m.unit, withheld=gone),
                         fmt.value(m.name, m.comparison_value, m.unit, withheld=gone), diff, v.badge))
    n_tests = sum(len(s.measures) for s in analysed)
    text = (f"Sub-analyses are exploratory: each is based on fewer people than the headline results, "
            f"and this table holds {n_tests} tests, so some could appear significant by chance.")
    if any(s.p_holm for s in analysed):
        text += " The annex gives each test's p-value adjusted for the number of tests (Holm)."
    table = TableModel(key="subgroups",
                       columns=("Subgroup", "People (treatment)", "Measure", "Treatment", "Comparison",
                                f"Difference ({W.level_text(level)} CI)", "Result"),
                       rows=tuple(rows), numeric=(False, True, False, True, True, True, False),
                       widths=(1.9, 1.2, 2.2, 1.2, 1.3, 2.4, 1.9), tones=tones,
                       group_starts=frozenset(starts))
    return text, table, notes


def _method(d: DisclosedResult, level: float) -> tuple[str, TableModel]:
    ds = d.dataset
    rows: list[tuple[str, str]] = [("National dataset version", ds.version)]
    if ds.seed is not None:
        rows.append(("Dataset seed", str(ds.seed)))
    if ds.people is not None or ds.events is not None:
        rows.append(("People and index events in the dataset",
                     f"{fmt.count(ds.people) if ds.people is not None else '-'} people, "
                     f"{fmt.count(ds.events) if ds.events is not None else '-'} index events"))
    if ds.manifest_sha256:
        rows.append(("Dataset manifest (SHA-256)", ds.manifest_sha256))
    rows += [("Software version", d.software_version), ("Result schema version", d.schema_version),
             ("Disclosure control", f"counts below {d.disclosure.threshold} withheld")]
    spec_name = getattr(d, "specification", "")
    if spec_name:
        rows.append(("Propensity model chosen by balance", spec_name.replace("_", " ")))
    gate = getattr(d, "gate", None)
    if gate is not None:
        rows.append(("Balance gate", {"balanced": "passed", "rebalanced": "passed after re-specification",
                                      "no_reliable_comparison": "failed: no reliable comparison",
                                      "not_checked": "not checked"}.get(W.field(gate, "code"), "-")
                     + f" (key characteristics within {fmt.number(100 * W.field(gate, 'threshold', 0.1), 0)}% "
                       "of a standard deviation)"))
    for label, value in W.spec_rows(d.spec):
        if label == "Setting" and value.lower() == d.programme.setting:
            continue   # already on the title page
        rows.append((label, value))
    spec = d.spec
    k = spec.get("k")
    caliper = spec.get("caliper_sd", spec.get("caliper"))
    unit = ("standard deviations of the logit" if "caliper_sd" in spec or spec.get("std_caliper", True)
            else "logit units")
    text = (
        "Each person in the treatment group was found in the national re-offending data and given an "
        "index event (release from custody, or the start of a community sentence or caution) linked "
        "to the programme. A comparison group was built by propensity score matching: a logistic "
        "regression estimated each person's chance of being in the treatment group from their "
        "demographics, criminal history, offence, sentence and employment, and each treated person "
        f"was matched to {('the ' + str(k)) if k else 'the'} most similar people who did not take part"
        + (f", within a caliper of {caliper:g} {unit}" if isinstance(caliper, (int, float)) else "")
        + ". Proven re-offending is an offence committed within one year of the index event and "
        "proven by a conviction or caution within a further six months. Confidence intervals are "
        f"{W.level_text(level)} intervals that allow for the matching; a result is called statistically "
        f"significant when its p-value is at most {fmt.number(1 - level, 2)}. To reproduce the result, "
        "run the analysis on the same dataset version with the settings below (they are also in "
        "report.json under \"spec\").")
    table = TableModel(key="method", columns=("Setting", "Value"), rows=tuple(rows),
                       numeric=(False, False), widths=(3.6, 6.4))
    return text, table


def _tests_table(d: DisclosedResult) -> TableModel | None:
    """Every test in the report: our p-value, the JDL's weighted t-test beside it (headline
    measures) and the Holm-adjusted p-value (sub-analyses), when the result carries them."""
    from .disclosure import subgroup_name

    def jdl_t(m: Any) -> float | None:
        for iv in getattr(m, "other_intervals", None) or []:
            if W.field(iv, "method") == "jdl_weighted_t":
                return W.field(iv, "p_value")
        return None
    rows = []
    for m in list(d.measures) + list(getattr(d, "further_measures", []) or []):
        if m.p_value is None:
            continue
        rows.append(("All analysed", m.label, fmt.p_value(m.p_value), fmt.p_value(jdl_t(m)), "-"))
    for sg in d.subgroups:
        holm = getattr(sg, "p_holm", None) or {}
        for m in sg.measures:
            if m.p_value is None:
                continue
            rows.append((subgroup_name(sg.variable, sg.level), m.label, fmt.p_value(m.p_value),
                         fmt.p_value(jdl_t(m)), fmt.p_value(holm.get(m.name))))
    has_jdl = any(r[3] != "-" for r in rows)
    has_holm = any(r[4] != "-" for r in rows)
    if not rows or not (has_jdl or has_holm):
        return None
    return TableModel(key="tests", columns=("Group", "Measure", "p-value", "JDL t-test p-value",
                                            "Holm-adjusted p-value"),
                      rows=tuple(rows), numeric=(False, False, True, True, True),
                      widths=(2.2, 4.0, 1.2, 1.6, 1.8),
                      notes=("Holm's adjustment allows for the number of sub-analysis tests; the JDL "
                             "t-test is the weighted two-sample t-test the JDL used, shown beside "
                             "this report's interval method.",))


def _further_table(d: DisclosedResult, level: float, programme: str) -> TableModel | None:
    """JDL Tables 4 to 7 (seriousness, custody) and any further measure, when the result has them."""
    further = list(getattr(d, "further_measures", []) or [])
    if not further:
        return None
    rows: list[tuple[str, ...]] = []
    tones: dict[tuple[int, int], Tone] = {}
    for i, m in enumerate(further):
        v = verdict(m, level, programme)
        dec = fmt.decimals(m.name)
        gone = "treated_value" in m.suppressed or m.withheld
        if v.kind in ("not_estimable", "withheld"):
            rows.append((m.label, fmt.value(m.name, m.treated_value, m.unit, withheld=gone),
                         fmt.value(m.name, m.comparison_value, m.unit, withheld=gone), "-", "-", v.badge))
        else:
            rows.append((m.label, fmt.value(m.name, m.treated_value, m.unit, withheld=gone),
                         fmt.value(m.name, m.comparison_value, m.unit, withheld=gone),
                         fmt.number(m.difference, dec, signed=True) if m.difference is not None else "-",
                         fmt.ci(m.ci_low, m.ci_high, dec), v.badge))
        tones[(i, 5)] = _tone(v)
    return TableModel(key="further", columns=("Measure", "Treatment group", "Comparison group",
                                              "Difference", f"{W.level_text(level)} confidence interval",
                                              "Result"),
                      rows=tuple(rows), numeric=(False, True, True, True, True, False),
                      widths=(3.6, 1.2, 1.3, 1.1, 1.8, 2.3), tones=tones,
                      notes=("Seriousness and custody measures are shown only when at least 30 people "
                             "in the treatment group re-offended; a row is not shown when fewer than "
                             "10 people in the treatment group had the outcome.",))


# (topic pattern, caveat): a standard caveat is added unless the analysis supplied one on its topic
_STANDARD_CAVEATS: tuple[tuple[str, str], ...] = (
    (r"unobserved|not recorded|not measured|ways that",
     "Matching can balance only the characteristics recorded in the data. The two groups may still "
     "differ in ways that were not measured, such as motivation or support from family, and such "
     "differences could explain some or all of any difference in re-offending."),
    (r"other services|other programmes|other support",
     "People in the comparison group may have received other services or support, including "
     "programmes like this one. The results compare the programme with whatever the comparison group "
     "received, not with no support at all."),
    (r"not detected|not proven",
     "Proven re-offending counts only offences that led to a conviction or caution; offences that "
     "were not detected or not proven are not included."),
    (r"not (statistically )?significant",
     "A result that is not statistically significant does not show that the programme had no effect: "
     "the group may have been too small to detect one."),
)
_DROPPED_CAVEAT = (r"no comparable|no similar|caliper|not in the analysis",
                   "Some people in the treatment group had no similar person within the caliper and "
                   "were left out by the matching; the results describe the people who could be "
                   "matched, not everyone who took part.")
# caveats the analysis writes that the report says better elsewhere (with readable names)
_REPLACED_CAVEATS = re.compile(r"still differ by more than 10%|index events in \d{4}", re.I)


def _caveats(d: DisclosedResult) -> tuple[str, ...]:
    standard = list(_STANDARD_CAVEATS) + ([_DROPPED_CAVEAT] if d.dropped_treated != 0 else [])
    supplied_list = [c for c in d.caveats if not _REPLACED_CAVEATS.search(c)]
    supplied = " ".join(supplied_list).lower()
    ours = [text for pattern, text in standard if not re.search(pattern, supplied)]
    return _dedupe(ours + [W.readable(c) for c in supplied_list])


def _dedupe(items: list[str]) -> tuple[str, ...]:
    seen, out = set(), []
    for s in items:
        key = re.sub(r"\W+", " ", s.lower()).strip()
        if key and key not in seen:
            seen.add(key)
            out.append(s)
    return tuple(out)


def check_response(response: str | None) -> str | None:
    """The organisation's response as it will be printed, or InvalidArgument saying what is wrong.

    Plain text: HTML is printed as typed (the renderers escape it), control characters are refused
    and the length is limited, so a response cannot break the page or the PDF.
    """
    if response is None:
        return None
    if not isinstance(response, str):
        raise InvalidArgument(f"response: expected text, got {type(response).__name__}")
    text = response.strip()
    if len(text) > RESPONSE_MAX_CHARS:
        raise InvalidArgument(f"response: {len(text)} characters is too long; at most "
                              f"{RESPONSE_MAX_CHARS} are printed in the report")
    try:
        check_printable("response", text)
    except ValueError as e:
        raise InvalidArgument(str(e)) from None
    return text or None


def _month(d: Any) -> str:
    return d.strftime("%B %Y")


def _reliable(d: DisclosedResult) -> tuple[bool, str | None]:
    """Whether the result says a reliable comparison group was built, and why not if not
    (the balance gate, methodology.md section 4)."""
    gate = getattr(d, "gate", None)
    ok = getattr(d, "verdict", True) is not False and (gate is None or W.field(gate, "passed", True))
    if ok:
        return True, None
    failing = list(W.field(gate, "failing", []) or [])
    tried = list(W.field(gate, "respecifications", []) or [])
    threshold = W.field(gate, "threshold")
    why = ""
    if failing:
        why = (f"after matching, the groups still differed on {W.covariate_list(failing)}"
               + (f" by more than {fmt.number(100 * threshold, 0)}% of a standard deviation"
                  if isinstance(threshold, (int, float)) else ""))
        if tried:
            why += (f", even after {len(tried)} documented "
                    f"re-specification{'s' if len(tried) != 1 else ''} of the matching")
    return False, why or None


def _summary_facts(d: DisclosedResult) -> list[str]:
    """Page 1's facts: who the two groups are, and who was left out."""
    a = d.attrition
    facts = []
    period = getattr(d, "index_period", None)
    when = (f", with index dates (release from custody or start of the order) between "
            f"{_month(period.first)} and {_month(period.last)}" if period is not None else "")
    facts.append(f"The treatment group is {W.people(d.n_treated)} who took part in the programme"
                 f"{when}.")
    if d.n_comparison is not None:
        larger = ("much larger" if d.n_treated is not None and d.n_comparison >= 3 * d.n_treated
                  else "larger" if d.n_treated is not None and d.n_comparison > d.n_treated else "")
        facts.append(f"The comparison group is {larger + ': ' if larger else ''}"
                     f"{fmt.count(d.n_comparison)} records of similar people who did not take part, "
                     f"chosen from {fmt.count(d.n_pool)} in the national data.")
    if a.submitted is not None and a.analysed is not None:
        left_out = a.submitted - a.analysed
        facts.append(f"Of {W.people(a.submitted)} submitted, {W.people(left_out)} could not be "
                     f"included; the results may not apply to them." if left_out > 0 else
                     f"Everyone submitted ({W.people(a.submitted)}) was included.")
    shortfall = _link_shortfall(d)
    if shortfall is not None:
        facts.append(shortfall)
    return facts


def _attrition_text(d: DisclosedResult) -> str:
    a = d.attrition
    removed_words = ("The table shows how many were removed at each step and why, as a share of "
                     "the people submitted.")
    attrition_text = (f"Of {W.people(a.submitted)} in the submitted file, {fmt.count(a.analysed)} were "
                      f"analysed. {removed_words}" if a.steps else
                      f"Of {W.people(a.submitted)} in the submitted file, {fmt.count(a.analysed)} were "
                      f"analysed. No breakdown of removals was supplied.")
    shortfall = _link_shortfall(d)
    if shortfall is not None:
        attrition_text += f" {shortfall}"
    if d.dropped_treated != 0:
        attrition_text += (" People with no similar comparison inside the caliper were dropped by the "
                           "matching, so the results describe the people who could be matched.")
    return attrition_text


def _profile_text(d: DisclosedResult) -> str:
    age = getattr(d, "age", None)
    profile_text = ("The treatment group beside the matched comparison group. Matching aims to make "
                    "the two groups alike on these characteristics." if d.profile else
                    "No profile of the groups was supplied with this result.")
    if age is not None:
        profile_text += (f" Age at the index date: treatment group {fmt.number(age.treated_min, 0)} to "
                         f"{fmt.number(age.treated_max, 0)} years, average {fmt.number(age.treated_mean, 0)}"
                         + (f"; comparison group average {fmt.number(age.comparison_mean, 0)}"
                            if age.comparison_mean is not None else "") + ".")
    return profile_text


def _overlap_text(d: DisclosedResult) -> str:
    if d.overlap is not None:
        o = d.overlap
        overlap_text = (
            "The chart shows the spread of propensity scores (each person's estimated chance of being in "
            "the treatment group, on the logit scale) for the treatment group, all candidate comparison "
            "records and the matched comparison group (weighted). Good overlap means the matched "
            "comparison group covers the same range as the treatment group.")
        cal = d.spec.get("caliper_sd", d.spec.get("caliper"))
        if o.caliper is not None:
            overlap_text += (f" The caliper ({cal:g} standard deviations) is "
                             if isinstance(cal, (int, float)) and d.spec.get("std_caliper", True)
                             else " The caliper is ") + f"{fmt.number(o.caliper, 2)} on the logit scale."
        return overlap_text
    if any(n.kind == "overlap_malformed" for n in d.disclosure.notes):
        return ("The propensity score summary supplied with this result was malformed, so no "
                "overlap plot is shown.")
    return "No propensity score summary was supplied with this result, so no overlap plot is shown."


def build_content(result: AnalysisResult | DisclosedResult, threshold: int = DEFAULT_THRESHOLD,
                  *, response: str | None = None) -> ReportContent:
    """The report's content from a result (disclosure control is applied here if not already).

    ``response``: the organisation's response, added during review; printed in its own section.
    """
    d = result if isinstance(result, DisclosedResult) else apply_disclosure(result, threshold)
    t = d.disclosure.threshold
    level = W.confidence_level(d.spec)
    measures = list(d.measures)
    p = d.programme
    verdicts = [verdict(m, level, p.programme) for m in measures]
    prepared = d.created_at.strftime("%-d %B %Y")
    setting_label = "Custody" if p.setting == "custody" else "Community"
    a = d.attrition

    # --- page 1: the facts, then the verdict (or why there is none)
    facts = _summary_facts(d)
    reliable, why_not = _reliable(d)
    if not reliable:
        verdicts = [W.no_finding(m) for m in measures]
    sig = [v for v in verdicts if v.significant and v.kind in ("fall", "rise")]
    if not reliable:
        overall = ("A reliable comparison group could not be built for this cohort, so this report "
                   "gives no finding about the programme's effect"
                   + (f": {why_not.rstrip('.')}." if why_not else "."))
    elif sig:
        overall = ("The analysis found statistically significant differences: "
                   + "; ".join(f"{v.label.split(' (')[0].lower()} ({v.badge.lower()})" for v in sig) + ".")
    else:
        overall = ("More people would need to be analysed to determine the way in which the programme "
                   "affects re-offending, but this should not be taken to mean that it fails to affect it.")

    estimates = tuple(v.estimate for v in verdicts)
    can, cannot = W.statements(verdicts, d.n_treated)
    if not reliable:
        can = W.GENERAL_CAN_SAY(d.n_treated)
        cannot = ("This analysis shows whether the programme changed re-offending: no reliable "
                  "comparison group could be built.",) + W.GENERAL_CANNOT_SAY

    # --- results in detail
    covs = d.spec.get("covariates") if isinstance(d.spec.get("covariates"), (list, tuple)) else None
    detail = []
    if covs:
        detail.append(f"The comparison group was matched on {W.covariate_list(list(covs))}"
                      + (f", and exactly on {W.covariate_list(list(d.spec['exact']))}"
                         if d.spec.get("exact") else "") + ".")
    for m in measures:
        if m.estimable and not m.withheld and m.n_treated is not None:
            who = "re-offenders" if m.name == "days_to_first" else "people"
            detail.append(f"{m.label}: {fmt.count(m.n_treated)} {who} in the treatment group and "
                          f"{fmt.count(m.n_comparison)} comparison records.")
            break
    significant_results = tuple(f"{v.label}: {v.badge.lower()}." for v in sig) if reliable else ()
    if reliable and not sig:
        significant_results = ("None of the headline measures shows a statistically significant "
                               "difference.",)

    for m in measures:
        extra = W.detectable(m, d.n_treated) if reliable else None
        if extra:
            detail.append(extra)
    sens = getattr(d, "sensitivity", None)
    rate_v = next((v for v in verdicts if v.measure == "rate"), None)
    if sens is not None and rate_v is not None and rate_v.significant and reliable:
        detail.append(
            f"Sensitivity: to explain the difference in the re-offending rate away, a characteristic "
            f"that was not measured would need to be associated with both taking part and re-offending "
            f"by a risk ratio of at least {fmt.number(W.field(sens, 'e_value'), 1)} each (at least "
            f"{fmt.number(W.field(sens, 'e_value_ci'), 1)} to move the interval to include no "
            f"difference).")
    n_tests = getattr(d, "n_tests", 0) or 0
    if n_tests:
        detail.append(f"This report contains {n_tests} significance "
                      f"{'test' if n_tests == 1 else 'tests'}; the more tests, the more likely one is "
                      f"significant by chance. Sub-analyses are exploratory.")
    subgroup_text, subgroup_table, subgroup_notes = _subgroups(d, level, p.programme)
    if not reliable:
        subgroup_text = ("No sub-analyses are reported: without a reliable comparison group for the "
                         "whole cohort, none is given for a part of it.")
        subgroup_table, subgroup_notes = None, ()
    matching_text, balance_text, balance_table = _balance(d)

    # --- people
    attrition_text = _attrition_text(d)
    profile_text = _profile_text(d)

    # --- annex
    overlap_text = _overlap_text(d)
    method_text, method_table = _method(d, level)

    disclosure_text = (f"No individual's outcome is shown. Counts of fewer than {t} people that could "
                       f"reveal an outcome are withheld and shown as {SUPPRESSED}, as are other figures "
                       f"that would let such a count be worked out. The organisation's own figures "
                       f"(rows that failed validation, duplicates, people not found) are shown.")
    if d.disclosure.suppressed_cells:
        disclosure_text += f" {d.disclosure.suppressed_cells} figures were withheld in this report."

    key_figures = (
        ("People submitted", fmt.count(a.submitted)),
        ("People analysed", fmt.count(d.n_treated)),
        ("Matched comparison records", fmt.count(d.n_comparison)),
        ("Candidate comparison records", fmt.count(d.n_pool)),
    )
    charts_text = ("Each chart shows the value for the treatment group and the matched comparison group, "
                   f"and the difference between them with its {W.level_text(level)} confidence interval. "
                   "Where the interval does not cross zero the difference is statistically significant.")
    response = check_response(response)
    return ReportContent(
        disclosed=d, threshold=t, level=level,
        title=f"Re-offending analysis: {p.programme}",
        organisation=p.organisation, programme=p.programme, description=p.description,
        setting_label=setting_label, prepared=prepared, submission_id=d.submission_id or "",
        summary_facts=tuple(facts), overall=overall, reliable=reliable,
        summary_lead=W.summary_lead(),
        key_figures=key_figures, verdicts=tuple(verdicts),
        headline_table=_headline_table(measures, verdicts, level),
        estimates=estimates,
        can_say=_dedupe(list(can)), cannot_say=_dedupe(list(cannot)), charts_text=charts_text,
        own_words=getattr(p, "own_words", "") or "", selection=getattr(p, "selection", "") or "",
        response=response,
        detail_text=tuple(detail), significant_results=significant_results,
        subgroup_text=subgroup_text, subgroup_table=subgroup_table, subgroup_notes=subgroup_notes,
        profile_text=profile_text, profile_table=_profile_table(d),
        not_included_table=_not_included_table(d),
        matching_text=matching_text,
        attrition_text=attrition_text, attrition_table=_attrition_table(d),
        caveats=_caveats(d),
        balance_text=balance_text, balance_table=balance_table, overlap_text=overlap_text,
        method_text=method_text, method_table=method_table, tests_table=_tests_table(d),
        further_table=_further_table(d, level, p.programme),
        further_text=("The JDL's further measures: how serious the first proven re-offence was, "
                      "re-offences by seriousness, custody for the first re-offence and custodial "
                      "sentences, for the treatment group beside the matched comparison group."),
        warnings=tuple(W.readable(w) for w in d.warnings),
        disclosure_text=disclosure_text,
        # notes about subgroups and measures are printed where those figures are
        disclosure_notes=tuple(W.note_text(n) for n in d.disclosure.notes
                               if n.kind not in ("subgroup_too_small", "subgroup_sibling")
                               and n.measure is None),
        footnote=d.disclosure.footnote,
    )
