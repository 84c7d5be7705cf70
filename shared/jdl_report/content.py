"""The report's content model: every sentence, table and caption, derived from the
disclosure-controlled result, so the PDF, HTML and JSON say exactly the same thing."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from jdl_core.result import AnalysisResult, BalanceRow

from . import _format as fmt
from .disclosure import (
    DEFAULT_THRESHOLD, SUPPRESSED, DisclosedMeasure, DisclosedResult, apply_disclosure,
)

__all__ = ["SECTIONS", "TableModel", "Verdict", "ReportContent", "build_content", "verdict",
           "smd_scale"]

# (key, heading): the report's sections in order; the renderers and the tests use these headings
SECTIONS: tuple[tuple[str, str], ...] = (
    ("summary", "Summary"),
    ("headline", "Headline results"),
    ("can_say", "What you can say"),
    ("cannot_say", "What you cannot say"),
    ("charts", "Results in charts"),
    ("attrition", "People submitted and analysed"),
    ("profile", "Profile of the treatment and comparison groups"),
    ("matching", "Matching quality"),
    ("subgroups", "Results for subgroups"),
    ("method", "Method, data and settings"),
    ("caveats", "Caveats"),
)
HEADINGS = dict(SECTIONS)

Tone = Literal["favourable", "unfavourable", "neutral", "good", "acceptable", "poor"]
Kind = Literal["fall", "rise", "no_evidence", "not_estimable", "withheld"]


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
class Verdict:
    """What one measure lets the organisation say, in plain words."""
    measure: str
    label: str
    kind: Kind
    significant: bool | None
    favourable: bool | None       # significant and in the better direction
    badge: str                    # "Significant reduction", "Not significant", ...
    statement: str                # the measure's can-say (fall/rise) or cannot-say sentence
    counter: str | None           # for a significant result, what you still cannot say
    evidence: str | None          # for a non-significant result, what you can say
    summary: str                  # the bullet in the summary box
    detail: str                   # figures in one sentence (chart caption)
    note: str | None = None       # disclosure note


@dataclass(frozen=True)
class ReportContent:
    disclosed: DisclosedResult
    threshold: int
    title: str
    organisation: str
    programme: str
    description: str
    setting_label: str
    published: str
    submission_id: str
    summary_lead: str
    summary_points: tuple[str, ...]
    key_figures: tuple[tuple[str, str], ...]
    verdicts: tuple[Verdict, ...]
    headline_table: TableModel
    can_say: tuple[str, ...]
    cannot_say: tuple[str, ...]
    charts_text: str
    attrition_text: str
    attrition_table: TableModel
    profile_text: str
    profile_table: TableModel | None
    balance_text: str
    balance_table: TableModel | None
    overlap_text: str
    subgroup_text: str
    subgroup_table: TableModel | None
    subgroup_notes: tuple[str, ...]
    method_text: str
    method_table: TableModel
    caveats: tuple[str, ...]
    warnings: tuple[str, ...]
    disclosure_text: str
    disclosure_notes: tuple[str, ...]
    footnote: str
    sections: tuple[tuple[str, str], ...] = SECTIONS

    def to_json(self) -> dict[str, Any]:
        """The plain-words parts of the report, for report.json."""
        return {
            "title": self.title,
            "summary": [self.summary_lead, *self.summary_points],
            "verdicts": [{"measure": v.measure, "kind": v.kind, "significant": v.significant,
                          "favourable": v.favourable, "badge": v.badge, "statement": v.statement,
                          "summary": v.summary} for v in self.verdicts],
            "can_say": list(self.can_say),
            "cannot_say": list(self.cannot_say),
            "caveats": list(self.caveats),
            "warnings": list(self.warnings),
            "disclosure": [self.disclosure_text, *self.disclosure_notes],
        }


# ---------------------------------------------------------------------------------------------
# verdict wording

_PHRASE = {
    "rate": "the one-year proven re-offending rate",
    "frequency": "the number of proven re-offences per person in the year",
    "days_to_first": "the time to first proven re-offence among people who re-offended",
}
# verbs for (difference < 0, difference > 0)
_VERBS = {"days_to_first": ("shortened", "lengthened")}
_ADJ = {"days_to_first": ("shorter", "longer")}
_BADGES = {"days_to_first": ("Significantly shorter", "Significantly longer")}
# the summary box speaks per 100 people, as JDL reports do: (subject, scale, decimals, unit)
_SUMMARY = {
    "rate": ("the number who committed a proven re-offence within one year", 1.0, 0, " people"),
    "frequency": ("the number of proven re-offences they committed within one year", 100.0, 0, ""),
    "days_to_first": ("the average time to the first proven re-offence, among people who "
                      "re-offended,", 1.0, 0, " days"),
}


def _phrase(m: DisclosedMeasure) -> str:
    return _PHRASE.get(m.name, "the " + m.label[:1].lower() + m.label[1:])


def _sentence_case(s: str) -> str:
    return s[:1].upper() + s[1:]


def _reason(text: str | None) -> str:
    """A reason in the middle of a sentence: no leading capital (unless an acronym), no full stop."""
    if not text or not text.strip():
        return "the analysis did not produce an estimate"
    t = text.strip().rstrip(".")
    if len(t) > 1 and not t[:2].isupper():
        t = t[:1].lower() + t[1:]
    return t


def _significant(m: DisclosedMeasure) -> bool | None:
    if m.significant is not None:
        return m.significant
    if m.p_value is not None:
        return m.p_value < 0.05
    if m.ci_low is not None and m.ci_high is not None:
        return m.ci_low > 0 or m.ci_high < 0
    return None


def _sign(m: DisclosedMeasure) -> int:
    if m.difference is not None:
        return (m.difference > 0) - (m.difference < 0)
    return {"reduction": -1, "increase": 1}.get(m.direction or "none", 0)


def _range(lo: float, hi: float, dec: int, adj: tuple[str, str], unit: str) -> str:
    """'from 7.9 percentage points lower to 4.1 higher' (bounds in words, direction in adjectives)."""
    def part(v: float) -> str:
        if v == 0:
            return "no different"
        return f"{fmt.magnitude(v, dec)} {unit} {adj[0] if v < 0 else adj[1]}"
    return f"anywhere from {part(lo)} to {part(hi)}"


def verdict(m: DisclosedMeasure) -> Verdict:
    """The plain-words verdict for one measure, from its direction and significance."""
    dec = fmt.DECIMALS.get(m.name, 2)
    phrase = _phrase(m)
    down, up = _VERBS.get(m.name, ("reduced", "increased"))
    adj = _ADJ.get(m.name, ("lower", "higher"))
    unit = m.difference_unit
    label = m.label

    if not m.estimable or m.withheld or m.difference is None:
        if m.withheld:
            kind: Kind = "withheld"
            why = _reason(m.note.replace("Not shown: ", "") if m.note else None)
            statement = f"You cannot say anything about {phrase}: it is not shown because {why}."
            summary = f"{label} is not shown because {why}."
            badge = "Withheld"
        else:
            kind = "not_estimable"
            why = _reason(m.reason if not m.estimable else "the analysis did not supply a difference")
            statement = f"You cannot say anything about {phrase}: it could not be estimated because {why}."
            summary = f"{label} could not be estimated because {why}."
            badge = "Not estimated"
        return Verdict(measure=m.name, label=label, kind=kind, significant=None, favourable=None,
                       badge=badge, statement=statement, counter=None, evidence=None,
                       summary=summary, detail=summary, note=m.note)

    sig = _significant(m)
    sign = _sign(m)
    lo, hi = m.ci_low, m.ci_high
    d = m.difference
    ci_txt = f"95% confidence interval {fmt.ci(lo, hi, dec)}" if lo is not None and hi is not None else \
        "no confidence interval supplied"
    detail_groups = ""
    if m.treated_value is not None and m.comparison_value is not None:
        detail_groups = (f"Treatment group {fmt.value(m.name, m.treated_value, m.unit)}, comparison "
                         f"group {fmt.value(m.name, m.comparison_value, m.unit)}. ")
    detail = (f"{detail_groups}Difference {fmt.number(d, dec, signed=True)} {unit} ({ci_txt}; "
              f"p = {fmt.p_value(m.p_value)}).").replace("p = <", "p < ")

    subject, k, s_dec, s_unit = _SUMMARY.get(m.name, (phrase, 1.0, dec, " " + unit))

    def amount(v: float) -> str:
        return f"{fmt.magnitude(v * k, s_dec)}{s_unit}"

    if sig and sign != 0:
        kind = "fall" if sign < 0 else "rise"
        verb, other = (down, up) if sign < 0 else (up, down)
        favourable = (sign < 0) == m.higher_is_worse
        badges = _BADGES.get(m.name, ("Significant reduction", "Significant increase"))
        badge = badges[0] if sign < 0 else badges[1]
        consistent = lo is not None and hi is not None and (lo * sign > 0 and hi * sign > 0)
        direction_word = adj[0] if sign < 0 else adj[1]
        if consistent:
            a, b = sorted((abs(lo), abs(hi)))  # type: ignore[arg-type]
            statement = (f"The programme {verb} {phrase} by between {fmt.number(a, dec)} and "
                         f"{fmt.number(b, dec)} {unit}.")
            by = f"by between {fmt.magnitude(a * k, s_dec)} and {amount(b)}"
        else:
            statement = (f"The programme {verb} {phrase}, by an estimated "
                         f"{fmt.magnitude(d, dec)} {unit}.")
            by = f"by about {amount(d)}"
        summary = (f"{_sentence_case(subject)} could be {direction_word} {by}. "
                   f"This is a statistically significant result.")
        counter = f"You cannot say that the programme {other} {phrase}."
        return Verdict(measure=m.name, label=label, kind=kind, significant=True, favourable=favourable,
                       badge=badge, statement=statement, counter=counter, evidence=None,
                       summary=summary, detail=detail, note=m.note)

    # not significant (or significance unknown): neither direction can be claimed
    statement = f"You cannot say that the programme {up} or {down} {phrase}."
    if lo is not None and hi is not None:
        evidence = (f"This analysis does not provide evidence that the programme changed {phrase}: "
                    f"compared with the comparison group it could be {_range(lo, hi, dec, adj, unit)}.")

        def words(v: float) -> str:
            return "no different" if v == 0 else f"{amount(v)} {adj[0] if v < 0 else adj[1]}"
        summary = (f"{_sentence_case(subject)} could be anywhere from {words(lo)} to {words(hi)}. "
                   f"This is not a statistically significant result.")
    else:
        evidence = f"This analysis does not provide evidence that the programme changed {phrase}."
        summary = f"{label}: no statistically significant difference was found."
    if sig is None:
        summary = summary.replace("This is not a statistically significant result.",
                                  "Its statistical significance was not supplied.")
    return Verdict(measure=m.name, label=label, kind="no_evidence", significant=sig, favourable=None,
                   badge="Not significant", statement=statement, counter=None, evidence=evidence,
                   summary=summary, detail=detail, note=m.note)


# ---------------------------------------------------------------------------------------------
# tables

def _tone(v: Verdict) -> Tone:
    if v.favourable is True:
        return "favourable"
    if v.favourable is False:
        return "unfavourable"
    return "neutral"


def _headline_table(measures: list[DisclosedMeasure], verdicts: list[Verdict], t: int) -> TableModel:
    rows, tones = [], {}
    for i, (m, v) in enumerate(zip(measures, verdicts)):
        dec = fmt.DECIMALS.get(m.name, 2)
        gone = "treated_value" in m.suppressed or m.withheld
        if v.kind in ("not_estimable", "withheld"):
            rows.append((m.label, fmt.value(m.name, m.treated_value, m.unit, withheld=gone),
                         fmt.value(m.name, m.comparison_value, m.unit, withheld=gone),
                         SUPPRESSED if m.withheld else "-", SUPPRESSED if m.withheld else "-",
                         SUPPRESSED if m.withheld else "-", v.badge))
        else:
            rows.append((m.label, fmt.value(m.name, m.treated_value, m.unit, withheld=gone),
                         fmt.value(m.name, m.comparison_value, m.unit, withheld=gone),
                         fmt.number(m.difference, dec, signed=True) if m.difference is not None else "-",
                         fmt.ci(m.ci_low, m.ci_high, dec), fmt.p_value(m.p_value), v.badge))
        tones[(i, 6)] = _tone(v)
    units = "; ".join(f"{m.label.split(' (')[0].lower()}: {m.difference_unit}" for m in measures)
    notes = [f"Difference = treatment group minus comparison group ({units})."]
    for m in measures:
        if m.note:
            notes.append(f"{m.label}: {m.note}")
    return TableModel(key="headline",
                      columns=("Measure", "Treatment group", "Comparison group", "Difference",
                               "95% confidence interval", "p-value", "Result"),
                      rows=tuple(rows), numeric=(False, True, True, True, True, True, False),
                      widths=(3.1, 1.15, 1.25, 1.05, 1.7, 0.8, 2.35), tones=tones, notes=tuple(notes))


def _attrition_table(d: DisclosedResult) -> TableModel:
    a = d.attrition
    rows = [("People in the submitted file", "", fmt.count(a.submitted))]
    for s in a.steps:
        rows.append((s.label, fmt.count(s.removed), fmt.count(s.remaining)))
    rows.append(("People analysed (treatment group)", "", fmt.count(a.analysed)))
    return TableModel(key="attrition", columns=("Step", "People removed", "People remaining"),
                      rows=tuple(rows), numeric=(False, True, True), widths=(6.5, 1.8, 1.8),
                      bold_rows=frozenset({0, len(rows) - 1}),
                      group_starts=frozenset({len(rows) - 1}))


def _profile_table(d: DisclosedResult) -> TableModel | None:
    if not d.profile:
        return None
    rows, starts, last = [], set(), None
    for r in d.profile:
        first = r.characteristic != last
        if first:
            starts.add(len(rows))
        rows.append((r.characteristic if first else "", r.category, fmt.count(r.treated_n),
                     fmt.pct(r.treated_pct), fmt.pct(r.comparison_pct)))
        last = r.characteristic
    return TableModel(key="profile",
                      columns=("Characteristic", "Group", "Treatment group (number)",
                               "Treatment group (%)", "Comparison group (%)"),
                      rows=tuple(rows), numeric=(False, False, True, True, True),
                      widths=(2.9, 3.4, 1.6, 1.5, 1.6), group_starts=frozenset(starts),
                      notes=("Comparison group percentages are weighted by the matching weights.",))


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


def _covariate(name: str) -> str:
    """A covariate name for readers: 'offence_group: burglary' -> 'Offence group: burglary'."""
    if name == "distance":
        return "Propensity score (logit)"
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


_FLAG_WORDS = {"good": "Good", "acceptable": "Acceptable", "poor": "Poor (flagged)"}


def _balance(d: DisclosedResult) -> tuple[str, TableModel | None]:
    rows_in = d.balance
    if not rows_in:
        return ("No balance summary was supplied with this result, so the quality of the matching "
                "cannot be shown."), None
    scale = smd_scale(rows_in)
    rows, tones = [], {}
    for i, r in enumerate(rows_in):
        vr = f"{r.var_ratio_after:.2f}" if r.var_ratio_after is not None else "-"
        rows.append((_covariate(r.covariate), fmt.smd(r.smd_before, scale), fmt.smd(r.smd_after, scale), vr,
                     _FLAG_WORDS[r.flag]))
        tones[(i, 4)] = r.flag
    counts = {f: sum(r.flag == f for r in rows_in) for f in ("good", "acceptable", "poor")}
    n = len(rows_in)

    def num(k: int) -> str:
        return "none" if k == 0 else str(k)
    text = (f"The standardised mean difference (SMD) compares the average of each characteristic "
            f"in the two groups, in units of its standard deviation. After matching, "
            f"{num(counts['good'])} of {n} characteristics are well balanced (SMD below 5%), "
            f"{num(counts['acceptable'])} acceptably balanced (5% to 10%) and {num(counts['poor'])} "
            f"poorly balanced (above 10%).")
    poor = [_covariate(r.covariate) for r in rows_in if r.flag == "poor"]
    if poor:
        text += (f" Flagged: {', '.join(poor)}. The groups still differ on "
                 f"{'this characteristic' if len(poor) == 1 else 'these characteristics'}, which could "
                 f"bias the results.")
    table = TableModel(key="balance",
                       columns=("Characteristic", "SMD before matching", "SMD after matching",
                                "Variance ratio after", "Balance after matching"),
                       rows=tuple(rows), numeric=(False, True, True, True, False),
                       widths=(3.8, 1.6, 1.6, 1.5, 1.9), tones=tones)
    return text, table


_LEVELS = {"F": "Female", "M": "Male", "custody": "Custody", "community": "Community",
           "caution": "Caution"}
_VARIABLES = {"sex": "Sex", "age_band": "Age", "setting": "Setting"}
_SHORT = {"rate": "Re-offending rate", "frequency": "Re-offences per person",
          "days_to_first": "Days to first re-offence"}


def _subgroups(d: DisclosedResult) -> tuple[str, TableModel | None, tuple[str, ...]]:
    notes = tuple(n for n in d.disclosure.notes if n.startswith("Subgroup"))
    if not d.subgroups:
        if notes:
            return ("No subgroup results are shown: every subgroup was too small to report or would "
                    "let the size of a small group be worked out."), None, notes
        return ("The analysis did not produce results for subgroups (a subgroup is reported only "
                "when it has enough people for a reliable comparison)."), None, notes
    rows, tones, starts = [], {}, set()
    for s in d.subgroups:
        name = f"{_VARIABLES.get(s.variable, s.variable.replace('_', ' ').capitalize())}: " \
               f"{_LEVELS.get(s.level, s.level)}"
        starts.add(len(rows))
        for j, m in enumerate(s.measures):
            v = verdict(m)
            dec = fmt.DECIMALS.get(m.name, 2)
            gone = "treated_value" in m.suppressed or m.withheld
            diff = "-" if m.difference is None else (
                f"{fmt.number(m.difference, dec, signed=True)} ({fmt.ci(m.ci_low, m.ci_high, dec)})")
            if m.withheld:
                diff = SUPPRESSED
            tones[(len(rows), 6)] = _tone(v)
            rows.append((name if j == 0 else "", fmt.count(s.n_treated) if j == 0 else "",
                         _SHORT.get(m.name, m.label), fmt.value(m.name, m.treated_value, m.unit, withheld=gone),
                         fmt.value(m.name, m.comparison_value, m.unit, withheld=gone), diff, v.badge))
    text = ("Subgroup results are less precise than the headline results because each is based on "
            "fewer people; a difference that is significant for the whole group may not be for a "
            "subgroup.")
    table = TableModel(key="subgroups",
                       columns=("Subgroup", "People (treatment)", "Measure", "Treatment", "Comparison",
                                "Difference (95% CI)", "Result"),
                       rows=tuple(rows), numeric=(False, True, False, True, True, True, False),
                       widths=(1.9, 1.2, 2.2, 1.2, 1.3, 2.4, 1.9), tones=tones,
                       group_starts=frozenset(starts))
    return text, table, notes


_SPEC_NAMES = {
    "method": "Matching method",
    "distance": "Distance",
    "propensity_model": "Propensity model",
    "caliper_sd": "Caliper (standard deviations of the logit)",
    "caliper": "Caliper",
    "k": "Comparisons per treated person (k)",
    "replace": "Matching with replacement",
    "exact": "Exact matching on",
    "covariates": "Characteristics in the propensity model",
    "setting": "Setting",
    "ci_method": "Confidence intervals",
    "bootstrap_reps": "Bootstrap replicates (cross-check)",
    "alpha": "Significance level",
    "seed": "Random seed",
}


def _spec_value(v: Any) -> str:
    if isinstance(v, bool):
        return "Yes" if v else "No"
    if isinstance(v, (list, tuple)):
        return ", ".join(_spec_value(x) for x in v) or "none"
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True, default=str)
    if v is None:
        return "-"
    return str(v).replace("_", " ") if isinstance(v, str) else str(v)


def _method(d: DisclosedResult, published: str) -> tuple[str, TableModel]:
    ds = d.dataset
    rows: list[tuple[str, str]] = [
        ("National dataset version", ds.version),
    ]
    if ds.seed is not None:
        rows.append(("Dataset seed", str(ds.seed)))
    if ds.people is not None or ds.events is not None:
        rows.append(("People and index events in the dataset",
                     f"{fmt.count(ds.people) if ds.people is not None else '-'} people, "
                     f"{fmt.count(ds.events) if ds.events is not None else '-'} index events"))
    if ds.manifest_sha256:
        rows.append(("Dataset manifest (SHA-256)", ds.manifest_sha256))
    rows += [("Software version", d.software_version), ("Result schema version", d.schema_version),
             ("Disclosure control", f"counts below {d.disclosure.threshold} withheld; subgroups need "
                                    f"at least {d.disclosure.min_subgroup_n} people")]
    for k, v in d.spec.items():
        if k == "setting" and v == d.programme.setting:
            continue   # already on the title page
        rows.append((_SPEC_NAMES.get(k, k.replace("_", " ").capitalize()), _spec_value(v)))
    spec = d.spec
    k = spec.get("k")
    caliper = spec.get("caliper_sd", spec.get("caliper"))
    text = (
        "Each person in the treatment group was found in the national re-offending data and given an "
        "index event (release from custody, or the start of a community sentence or caution) linked "
        "to the programme. A comparison group was built by propensity score matching: a logistic "
        "regression estimated each person's chance of being in the treatment group from their "
        "demographics, criminal history, offence, sentence and employment, and each treated person "
        f"was matched to {('the ' + str(k)) if k else 'the'} most similar people who did not take part"
        + (f", within a caliper of {caliper} standard deviations of the logit of that chance" if caliper else "")
        + ". Proven re-offending is an offence committed within one year of the index event and "
        "proven by a conviction or caution within a further six months. Confidence intervals are 95% "
        "intervals that allow for the matching; a result is called statistically significant when its "
        "p-value is below 0.05. To reproduce the result, run the analysis on the same dataset version "
        "with the settings below (they are also in report.json under \"spec\").")
    table = TableModel(key="method", columns=("Setting", "Value"), rows=tuple(rows),
                       numeric=(False, False), widths=(3.6, 6.4))
    return text, table


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


def _caveats(d: DisclosedResult) -> tuple[str, ...]:
    standard = list(_STANDARD_CAVEATS) + ([_DROPPED_CAVEAT] if d.dropped_treated != 0 else [])
    supplied = " ".join(d.caveats).lower()
    ours = [text for pattern, text in standard if not re.search(pattern, supplied)]
    return _dedupe(ours + list(d.caveats))


def _dedupe(items: list[str]) -> tuple[str, ...]:
    seen, out = set(), []
    for s in items:
        key = re.sub(r"\W+", " ", s.lower()).strip()
        if key and key not in seen:
            seen.add(key)
            out.append(s)
    return tuple(out)


def build_content(result: AnalysisResult | DisclosedResult, threshold: int = DEFAULT_THRESHOLD) -> ReportContent:
    """The report's content from a result (disclosure control is applied here if not already)."""
    d = result if isinstance(result, DisclosedResult) else apply_disclosure(result, threshold)
    t = d.disclosure.threshold
    measures = list(d.measures)
    verdicts = [verdict(m) for m in measures]
    published = d.created_at.strftime("%-d %B %Y")
    p = d.programme
    setting_label = "Custody" if p.setting == "custody" else "Community"

    # what you can / cannot say: the measures first (the rate leads), then general points
    can, cannot = [], []
    for v in verdicts:
        if v.kind in ("fall", "rise"):
            can.append(v.statement)
            if v.counter:
                cannot.append(v.counter)
        else:
            cannot.append(v.statement)
            if v.evidence:
                can.append(v.evidence)
    who = (f"the {fmt.count(d.n_treated)} people in the treatment group who could be analysed"
           if d.n_treated is not None else "the people in the treatment group who could be analysed")
    can.append(f"The results describe {who}, compared with similar people who did not take part.")
    can += d.statements.can_say
    cannot.append("You cannot say that these results apply to people who are different from those "
                  "analysed, or to the people who could not be included.")
    cannot.append("You cannot say anything about the outcome for any one person: the results are "
                  "averages for the group.")
    cannot += d.statements.cannot_say

    a = d.attrition
    removed_words = ("Some people could not be included: the table shows how many were removed at each "
                     "step and why.")
    attrition_text = (f"Of {fmt.count(a.submitted)} people in the submitted file, {fmt.count(a.analysed)} "
                      f"were analysed. {removed_words}")
    if not a.steps:
        attrition_text = (f"Of {fmt.count(a.submitted)} people in the submitted file, "
                          f"{fmt.count(a.analysed)} were analysed. No breakdown of removals was supplied.")
    if d.dropped_treated != 0:
        attrition_text += (" People with no similar comparison inside the caliper were dropped by the "
                           "matching, so the results describe the people who could be matched.")

    balance_text, balance_table = _balance(d)
    if d.overlap is not None:
        o = d.overlap
        overlap_text = (
            "The chart shows the spread of propensity scores (each person's estimated chance of being in "
            "the treatment group, on the logit scale) for the treatment group, all candidate comparison "
            "records and the matched comparison group (weighted). Good overlap means the matched "
            "comparison group covers the same range as the treatment group.")
        if o.caliper is not None:
            overlap_text += f" The caliper was {fmt.number(o.caliper, 2)} on the logit scale."
    elif any("was malformed" in n for n in d.disclosure.notes):
        overlap_text = ("The propensity score summary supplied with this result was malformed, so no "
                        "overlap plot is shown.")
    else:
        overlap_text = "No propensity score summary was supplied with this result, so no overlap plot is shown."

    subgroup_text, subgroup_table, subgroup_notes = _subgroups(d)
    method_text, method_table = _method(d, published)

    disclosure_text = (f"No individual's outcome is shown. Counts of fewer than {t} people are withheld "
                       f"and shown as {SUPPRESSED}, as are other figures that would let such a count be "
                       f"worked out.")
    if d.disclosure.suppressed_cells:
        disclosure_text += f" {d.disclosure.suppressed_cells} figures were withheld in this report."

    key_figures = (
        ("People submitted", fmt.count(a.submitted)),
        ("People analysed", fmt.count(d.n_treated)),
        ("Matched comparison records", fmt.count(d.n_comparison)),
        ("Candidate comparison records", fmt.count(d.n_pool)),
    )
    charts_text = ("Each chart shows the value for the treatment group and the matched comparison group, "
                   "and the difference between them with its 95% confidence interval. Where the interval "
                   "does not cross zero the difference is statistically significant.")
    return ReportContent(
        disclosed=d, threshold=t,
        title=f"Re-offending analysis: {p.programme}",
        organisation=p.organisation, programme=p.programme, description=p.description,
        setting_label=setting_label, published=published, submission_id=d.submission_id or "-",
        summary_lead=("For 100 typical people in the treatment group, compared with 100 similar people "
                      "who did not take part in the programme:"),
        summary_points=tuple(v.summary for v in verdicts),
        key_figures=key_figures, verdicts=tuple(verdicts),
        headline_table=_headline_table(measures, verdicts, t),
        can_say=_dedupe(can), cannot_say=_dedupe(cannot), charts_text=charts_text,
        attrition_text=attrition_text, attrition_table=_attrition_table(d),
        profile_text=("The treatment group beside the matched comparison group. Matching aims to make "
                      "the two groups alike on these characteristics." if d.profile else
                      "No profile of the groups was supplied with this result."),
        profile_table=_profile_table(d),
        balance_text=balance_text, balance_table=balance_table, overlap_text=overlap_text,
        subgroup_text=subgroup_text, subgroup_table=subgroup_table, subgroup_notes=subgroup_notes,
        method_text=method_text, method_table=method_table,
        caveats=_caveats(d), warnings=tuple(d.warnings),
        disclosure_text=disclosure_text,
        # notes about subgroups and measures are printed where those figures are
        disclosure_notes=tuple(n for n in d.disclosure.notes
                               if not n.startswith("Subgroup")
                               and not any(n.startswith(m.label) for m in d.measures)),
        footnote=d.disclosure.footnote,
    )
