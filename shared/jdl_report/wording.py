"""The Justice Data Lab's words for a result: one module that every output uses (PDF, HTML, the
JSON ``statements``, ``jdl analyse`` and the catalogue), so they cannot say different things.

The analysis supplies codes and numbers, never prose; the sentences are made here, from
methodology.md section 6 (the JDL's own R code, ``JDLpackage``: ``shorter_or_longer_CI.R``,
``incr_or_decr_phrase.R``, ``format_num.R``):

* three cases for the interval (L, U) of treatment minus comparison, per 100 people for the rate
  and the number of re-offences, in days for the time to first re-offence: both above zero
  ("could be higher by between L and U"), both below ("lower by between |U| and |L|"), or
  straddling zero ("lower by as many as |L| or higher by as many as U. More people would need to
  be analysed to determine the direction of this difference");
* what you can say (increases / decreases by between..., or "may decrease ... by up to |L|, or
  may increase it by up to U") and cannot say (the excluded direction, and "has no effect");
* the number needed, when the result carries it; singular and plural ("1 person");
* the confidence level from the analysis's spec, never a hard-coded 95%.

Every number is rounded once, by ``_format``, with the JDL's rules.

The functions take a measure duck-typed as ``jdl_core.result.MeasureResult`` or
``jdl_report.disclosure.DisclosedMeasure``; fields added to the result later (``number_needed``,
``reason_code``...) are read with ``getattr`` so the words follow whatever the result contains.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

from . import _format as fmt

__all__ = ["Verdict", "Kind", "MeasureWords", "verdict", "measure_words", "confidence_level",
           "level_text", "people", "plural", "note_text", "DEFAULT_LEVEL", "GENERAL_CAN_SAY",
           "GENERAL_CANNOT_SAY", "summary_lead", "participation", "field", "ATTRITION_COMBINED_NOTE"]

Kind = Literal["fall", "rise", "no_evidence", "not_estimable", "withheld"]
DEFAULT_LEVEL = 0.95


# ---------------------------------------------------------------------------------------------
# small helpers

def plural(n: float | str, one: str, many: str) -> str:
    """'1 person', '2 people'; ``n`` is the number as printed (so '1' and '1.00' are singular)."""
    try:
        v = float(str(n).replace(",", "").replace(fmt.MINUS, "-"))
    except ValueError:
        return many
    return one if abs(v) == 1 else many


def people(n: int | float | None) -> str:
    """'1 person', '321 people', '* people' (withheld)."""
    s = fmt.count(n)
    return f"{s} {plural(s, 'person', 'people')}"


def confidence_level(spec: Mapping[str, Any] | None) -> float:
    """The confidence level the analysis used (its spec's ``ci_level``, else 1 - ``alpha``)."""
    spec = spec or {}
    level = spec.get("ci_level")
    if level is None and spec.get("alpha") is not None:
        level = 1 - float(spec["alpha"])
    try:
        level = float(level) if level is not None else DEFAULT_LEVEL
    except (TypeError, ValueError):
        return DEFAULT_LEVEL
    return level if 0 < level < 1 else DEFAULT_LEVEL


def level_text(level: float) -> str:
    """0.95 -> '95%', 0.9 -> '90%', 0.995 -> '99.5%'."""
    return f"{round(level * 100, 1):g}%"


def participation(programme: str) -> str:
    return f"taking part in {programme}" if programme else "taking part in the programme"


def summary_lead() -> str:
    return ("For 100 typical people in the treatment group, compared with 100 similar people who did "
            "not take part in the programme:")


def field(obj: Any, name: str, default: Any = None) -> Any:
    """``obj.name`` or ``obj[name]``: nested figures arrive as models or, after a JSON round trip
    through a view that does not know their type yet, as dicts."""
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


# ---------------------------------------------------------------------------------------------
# the measures

@dataclass(frozen=True)
class MeasureWords:
    """How the JDL speaks about one measure."""
    subject: str          # estimate sentence: "<subject> could be lower by ..."
    object: str           # can/cannot say: "... decreases <object> by ..."
    scale: float          # the difference is multiplied by this for the sentences (per 100 people)
    decimals: int         # of the bounds in the sentences
    noun: tuple[str, str]  # singular, plural of the unit in the sentences
    per: str              # appended to can-say amounts: " per 100 people" or ""
    adjectives: tuple[str, str]   # (difference < 0, difference > 0)
    verbs: tuple[str, str]        # present tense, third person: (down, up)
    badges: tuple[str, str]


_RATE = MeasureWords(
    subject="the number of people who committed a proven re-offence within one year",
    object="the number of proven re-offenders during a one-year period",
    scale=1.0, decimals=0, noun=("person", "people"), per=" in every 100",
    adjectives=("lower", "higher"), verbs=("decreases", "increases"),
    badges=("Significant reduction", "Significant increase"))
_FREQUENCY = MeasureWords(
    subject="the number of proven re-offences they committed within one year",
    object="the number of proven re-offences committed during a one-year period",
    scale=100.0, decimals=0, noun=("offence", "offences"), per=" for every 100 people",
    adjectives=("lower", "higher"), verbs=("decreases", "increases"),
    badges=("Significant reduction", "Significant increase"))
_DAYS = MeasureWords(
    subject="the average time to the first proven re-offence, among people who re-offended,",
    object="the average time to the first proven re-offence of those who re-offended",
    scale=1.0, decimals=0, noun=("day", "days"), per="",
    adjectives=("shorter", "longer"), verbs=("shortens", "lengthens"),
    badges=("Significantly shorter", "Significantly longer"))
MEASURE_WORDS: dict[str, MeasureWords] = {"rate": _RATE, "frequency": _FREQUENCY, "days_to_first": _DAYS}

# why a measure has no figures, from the analysis's codes (result.MeasureCode)
REASON_WORDS: dict[str, str] = {
    "too_few_treated_reoffenders": ("there were too few re-offenders in the treatment group (the JDL "
                                    "needs at least 30), which could give misleading results"),
    "np_below_min": ("fewer than 10 people in the treatment group had this outcome, which could give "
                     "misleading results"),
    "too_few_people": "there are too few people in one of the groups to compare",
    "no_variation": "everyone in both groups has the same value, so there is no variation to compare",
    "no_uncertainty": "the difference has no estimable uncertainty (no variation within the groups)",
}
# under the attrition table when adjacent steps were combined into one row (disclosure control)
ATTRITION_COMBINED_NOTE = ("Rows combined: where a step removed fewer than {t} people it is shown "
                           "together with the next (or previous) step, so that its count cannot be "
                           "worked out while the larger reason stays visible.")

LOW_NUMBERS = ("too_few_treated_reoffenders", "np_below_min")
# why a requested sub-analysis was not run (result.SubgroupReason)
SUBGROUP_REASON_WORDS: dict[str, str] = {
    "too_few_people": "too few people in the treatment group",
    "too_few_matched": "too few people left after its own matching",
    "one_level": "everyone has the same value, so there is nothing to compare",
    "identifying_values": "its values could identify people (free text, dates or near-unique values)",
    "no_reliable_comparison": "a reliable comparison group could not be built for it",
    "no_overlap": "no comparable people in the national data",
    "unknown_column": "the column was not in the submitted file",
}


def measure_words(m: Any) -> MeasureWords:
    """The words for a measure; measures the JDL added later (seriousness, custody) get words
    built from their label and unit."""
    known = MEASURE_WORDS.get(m.name)
    if known is not None:
        return known
    label = str(m.label)
    unit = str(getattr(m, "difference_unit", "") or "")
    pts = "percentage point" in unit
    return MeasureWords(
        subject="the " + label[:1].lower() + label[1:], object="the " + label[:1].lower() + label[1:],
        scale=1.0, decimals=0 if pts else fmt.decimals(m.name),
        noun=("person", "people") if pts else (unit.rstrip("s") or "unit", unit or "units"),
        per=" in every 100" if pts else "", adjectives=("lower", "higher"),
        verbs=("decreases", "increases"), badges=("Significant reduction", "Significant increase"))


@dataclass(frozen=True)
class Verdict:
    """Everything the report says about one measure, in plain words."""
    measure: str
    label: str
    kind: Kind
    significant: bool | None
    favourable: bool | None       # significant and in the better direction
    badge: str                    # "Significant reduction", "Not significant", ...
    estimate: str                 # the summary sentence ("... could be lower by between ...")
    can_say: tuple[str, ...]
    cannot_say: tuple[str, ...]
    detail: str                   # the figures in one sentence (chart caption)
    number_needed: str | None = None   # "It is estimated that about N people ..." when carried
    note: str | None = None       # disclosure note, in words

    @property
    def summary(self) -> str:
        return self.estimate


def _significant(m: Any, level: float) -> bool | None:
    if m.significant is not None:
        return bool(m.significant)
    if m.p_value is not None:
        return m.p_value <= 1 - level
    if m.ci_low is not None and m.ci_high is not None:
        return m.ci_low > 0 or m.ci_high < 0
    return None


def _amount(v: float, w: MeasureWords) -> str:
    """A bound as printed in a sentence: magnitude, rounded; 'less than 1' rather than '0'."""
    s = fmt.magnitude(v * w.scale, w.decimals)
    if fmt.rounded(abs(v * w.scale), w.decimals) == 0:
        return "less than " + ("1" if w.decimals == 0 else f"{10 ** -w.decimals:.{w.decimals}f}")
    return s


def _with_noun(s: str, w: MeasureWords) -> str:
    if s.startswith("less than"):   # "less than 1 person", "less than 0.01 offences"
        return f"{s} {w.noun[0] if w.decimals == 0 else w.noun[1]}"
    return f"{s} {plural(s, *w.noun)}"


def _between(a: float, b: float, w: MeasureWords) -> str:
    lo, hi = sorted((abs(a), abs(b)))
    return f"between {_amount(lo, w)} and {_with_noun(_amount(hi, w), w)}"


def _number_needed(m: Any) -> str | None:
    nr = getattr(m, "null_result", None)
    n = field(nr, "n_for_significance") if nr is not None else getattr(m, "number_needed", None)
    if n is None and field(nr, "beyond_limit", False):
        return ("The difference is so small that more than 100,000 people would need to be analysed "
                "for it to be statistically significant.")
    if n is None or (isinstance(n, float) and not n == n):
        return None
    n = int(round(float(n)))
    if n <= 0:
        return None
    return (f"It is estimated that about {fmt.count(n)} people would need to be analysed in the "
            f"treatment group for a difference of this size to be statistically significant.")


def detectable(m: Any, n_analysed: int | None) -> str | None:
    """Beyond the JDL: the smallest difference the group analysed could detect (80% power)."""
    nr = getattr(m, "null_result", None)
    dd = field(nr, "detectable_difference")
    if dd is None:
        return None
    w = measure_words(m)
    amount = _with_noun(_amount(dd, w), w)
    who = f"the {people(n_analysed)} analysed" if n_analysed is not None else "the people analysed"
    size = field(nr, "n_for_80_power")
    text = (f"With {who}, a difference in {w.object} of about {amount}{w.per} or more would be "
            f"detected 80% of the time")
    if size:
        text += f"; about {fmt.count(size)} people would give that power for the difference observed"
    return text + "."


def _code(m: Any) -> str | None:
    return getattr(m, "code", None) or getattr(m, "reason_code", None)


def _reason(m: Any) -> str:
    code = _code(m)
    if code and code in REASON_WORDS:
        return REASON_WORDS[code]
    text = (m.reason or "").strip().rstrip(".")
    if not text:
        return "the analysis did not produce an estimate"
    if len(text) > 1 and not text[:2].isupper():
        text = text[:1].lower() + text[1:]
    return text


def verdict(m: Any, *, level: float = DEFAULT_LEVEL, programme: str = "the programme",
            note: str | None = None) -> Verdict:
    """The JDL's words for one measure (``m``: a MeasureResult or a DisclosedMeasure)."""
    w = measure_words(m)
    who = participation(programme)
    label = m.label
    obj = w.object
    withheld = bool(getattr(m, "withheld", False))
    if withheld or not m.estimable or m.difference is None:
        if withheld:
            why = note or "it could reveal individual outcomes"
            estimate = f"{label} is not shown: {why[:1].lower() + why[1:].rstrip('.')}."
            return Verdict(measure=m.name, label=label, kind="withheld", significant=None,
                           favourable=None, badge="Withheld", estimate=estimate, can_say=(),
                           cannot_say=(f"Anything about {obj}: it is not shown, to protect "
                                       f"individual outcomes.",),
                           detail=estimate, note=note)
        if not m.estimable and _code(m) in LOW_NUMBERS:
            # the JDL's own sentence for a measure left out by its small-number rule
            estimate = (f"{label} has not been included in this report due to low numbers of "
                        f"re-offenders, which could give misleading results.")
            return Verdict(measure=m.name, label=label, kind="not_estimable", significant=None,
                           favourable=None, badge="Not included (low numbers)", estimate=estimate,
                           can_say=(), cannot_say=(f"Anything about {obj}: it was not included "
                                                   f"because of low numbers of re-offenders.",),
                           detail=estimate, note=note)
        why = _reason(m) if not m.estimable else "the analysis did not supply a difference"
        estimate = f"{label} could not be estimated because {why}."
        return Verdict(measure=m.name, label=label, kind="not_estimable", significant=None,
                       favourable=None, badge="Not estimated", estimate=estimate, can_say=(),
                       cannot_say=(f"Anything about {obj}: it could not be estimated because {why}.",),
                       detail=estimate, note=note)

    sig = _significant(m, level)
    # the JDL lists a result as significant only when n*p >= 10 as well (listed_significant)
    unlisted = bool(sig) and getattr(m, "listed_significant", None) is False
    if unlisted:
        sig = False
    lo, hi = m.ci_low, m.ci_high
    d = float(m.difference)
    dec = fmt.decimals(m.name)
    lv = level_text(level)
    groups = ""
    if m.treated_value is not None and m.comparison_value is not None:
        groups = (f"Treatment group {fmt.value(m.name, m.treated_value, m.unit)}, comparison group "
                  f"{fmt.value(m.name, m.comparison_value, m.unit)}. ")
    ci_txt = (f"{lv} confidence interval {fmt.ci(lo, hi, dec)}" if lo is not None and hi is not None
              else "no confidence interval supplied")
    p = fmt.p_value(m.p_value)
    p_txt = f"p {p}" if p.startswith("<") else f"p = {p}"
    detail = f"{groups}Difference {fmt.number(d, dec, signed=True)} {m.difference_unit} ({ci_txt}; {p_txt})."

    if lo is None or hi is None:
        # no interval: only the direction of the estimate and its significance can be said
        lo = hi = d
    sign = 1 if lo > 0 else -1 if hi < 0 else 0
    subject = _cap(w.subject)
    sig_sentence = ("This is a statistically significant result." if sig else
                    "This is not listed as a statistically significant result, because fewer than 10 "
                    "people in the treatment group had this outcome." if unlisted else
                    "This is not a statistically significant result." if sig is False else
                    "Its statistical significance was not supplied.")
    needed = None
    if sign != 0:
        adj = w.adjectives[0] if sign < 0 else w.adjectives[1]
        verb, other = (w.verbs[0], w.verbs[1]) if sign < 0 else (w.verbs[1], w.verbs[0])
        estimate = f"{subject} could be {adj} by {_between(lo, hi, w)}. {sig_sentence}"
        if sig:
            kind: Kind = "fall" if sign < 0 else "rise"
            can = (f"This analysis provides evidence that {who} {verb} {obj} by "
                   f"{_between(lo, hi, w)}{w.per}.",)
            cannot: tuple[str, ...] = (f"This analysis shows that {who} {other} {obj}.",
                                       f"This analysis shows that {who} has no effect on {obj}.")
            favourable = (sign < 0) == bool(m.higher_is_worse)
            badge = w.badges[0] if sign < 0 else w.badges[1]
            return Verdict(measure=m.name, label=label, kind=kind, significant=True,
                           favourable=favourable, badge=badge, estimate=estimate, can_say=can,
                           cannot_say=cannot, detail=detail, note=note)
        # the interval excludes zero but the result is not listed as significant (JDL n*p rule)
        can = (f"This analysis suggests that {who} may {verb[:-1]} {obj} by {_between(lo, hi, w)}"
               f"{w.per}, but the result is not statistically significant.",)
        cannot = (f"This analysis shows that {who} {verb} {obj}.",
                  f"This analysis shows that {who} {other} {obj}.",
                  f"This analysis shows that {who} has no effect on {obj}.")
    else:
        low_s = _with_noun(_amount(lo, w), w)
        high_s = _with_noun(_amount(hi, w), w)
        estimate = (f"{subject} could be {w.adjectives[0]} by as many as {low_s} or "
                    f"{w.adjectives[1]} by as many as {high_s}. {sig_sentence} More people would "
                    f"need to be analysed to determine the direction of this difference.")
        can = (f"This analysis provides evidence that {who} may {w.verbs[0][:-1]} {obj} by up to "
               f"{low_s}{w.per}, or may {w.verbs[1][:-1]} it by up to {high_s}{w.per}.",)
        cannot = (f"This analysis shows that {who} {w.verbs[0]} or {w.verbs[1]} {obj}.",
                  f"This analysis shows that {who} has no effect on {obj}.")
    needed = _number_needed(m)
    if needed:
        estimate = f"{estimate} {needed}"
    return Verdict(measure=m.name, label=label, kind="no_evidence", significant=sig, favourable=None,
                   badge="Not listed (low numbers)" if unlisted else "Not significant",
                   estimate=estimate, can_say=can, cannot_say=cannot, detail=detail,
                   number_needed=needed, note=note)


def no_finding(m: Any) -> Verdict:
    """The words for a measure when no reliable comparison group could be built: the figures are
    shown for transparency, but no direction or significance is claimed."""
    w = measure_words(m)
    estimate = (f"No finding is given for {w.object}: a reliable comparison group could not be "
                f"built.")
    return Verdict(measure=m.name, label=m.label, kind="no_evidence", significant=None,
                   favourable=None, badge="No finding", estimate=estimate, can_say=(),
                   cannot_say=(), detail=estimate)


# ---------------------------------------------------------------------------------------------
# general statements (after the measures)

def GENERAL_CAN_SAY(n_analysed: int | None) -> tuple[str, ...]:  # noqa: N802 (reads as a constant)
    who = (f"the {people(n_analysed)} in the treatment group who could be analysed"
           if n_analysed is not None else "the people in the treatment group who could be analysed")
    return (f"The results describe {who}, compared with similar people who did not take part.",)


GENERAL_CANNOT_SAY: tuple[str, ...] = (
    "This analysis shows that the results apply to people who are different from those analysed, "
    "or to the people who could not be included.",
    "This analysis shows what happened to any one person: the results are averages for the group.",
)


# ---------------------------------------------------------------------------------------------
# disclosure notes (typed in disclosure.py; words here)

def note_text(note: Any) -> str:
    """One disclosure note in words, from its kind and fields (see disclosure.DisclosureNote)."""
    t = note.threshold
    kind = note.kind
    scope = ""
    if getattr(note, "subgroup", None):
        scope = f"Subgroup {note.subgroup}: "
    label = getattr(note, "label", None) or "This measure"
    group = getattr(note, "group", None) or "treatment"
    if kind == "values_withheld":
        return (f"{scope}{label}: the value for each group is not shown because fewer than {t} people "
                f"in the {group} group re-offended, or fewer than {t} did not, so it would reveal "
                f"individual outcomes. The difference and its interval are shown.")
    if kind == "measure_withheld":
        return (f"{scope}{label}: not shown because fewer than {t} people in the {group} group "
                f"re-offended, so an average over them could reveal individual outcomes.")
    if kind == "subgroup_too_small":
        return f"Subgroup {note.subgroup}: not shown because it has fewer than {note.min_n} people."
    if kind == "subgroup_sibling":
        return (f"Subgroup {note.subgroup}: not shown so that the size of a smaller group cannot be "
                f"worked out.")
    if kind == "overlap_merged":
        return f"Propensity score bins were merged so that each holds no one or at least {t} people."
    if kind == "overlap_rounded":
        return f"Treatment group counts in the overlap plot are rounded to multiples of {t}."
    if kind == "overlap_malformed":
        return ("The propensity score summary supplied with the result was malformed (bin edges and "
                "counts do not line up), so no overlap plot is shown.")
    if kind == "attrition_combined":
        return (f"Some steps of the attrition table are shown combined in one row, because one of "
                f"them removed fewer than {t} people.")
    if kind == "text_redacted":
        return f"Counts of fewer than {t} people were removed from the analysis's warnings."
    return f"Figures were withheld ({kind})."


def measure_note(note: Any) -> str:
    """The short note printed beside a measure (its own scope is implied)."""
    t = note.threshold
    group = getattr(note, "group", None) or "treatment"
    if note.kind == "values_withheld":
        return (f"The value for each group is not shown: fewer than {t} people in the {group} group "
                f"re-offended, or fewer than {t} did not, so it would reveal individual outcomes. The "
                f"difference and its interval are shown.")
    return (f"Fewer than {t} people in the {group} group re-offended, so an average over them could "
            f"reveal individual outcomes.")


def statements(verdicts: Sequence[Verdict], n_analysed: int | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(can say, cannot say): the measures' statements in order, then the general ones."""
    can: list[str] = []
    cannot: list[str] = []
    for v in verdicts:
        can += v.can_say
        cannot += v.cannot_say
    can += GENERAL_CAN_SAY(n_analysed)
    cannot += GENERAL_CANNOT_SAY
    return tuple(dict.fromkeys(can)), tuple(dict.fromkeys(cannot))


# ---------------------------------------------------------------------------------------------
# readable names for the analysis's codes (no code name is ever printed)

COVARIATE_NAMES: dict[str, str] = {
    "distance": "Propensity score (logit)",
    "age_at_index": "Age at the index date",
    "sex": "Sex",
    "ethnicity": "Ethnicity",
    "prev_offences": "Previous offences",
    "prev_custody": "Previous custodial sentences",
    "age_first_contact": "Age at first contact with the justice system",
    "copas_rate": "Copas rate (rate of past offending)",
    "ogrs_score": "OGRS score (predicted re-offending)",
    "offence_group": "Index offence",
    "sentence_months": "Sentence length (months)",
    "employed": "Employed in the year before",
    "on_benefit": "On benefit in the year before",
    "index_year": "Year of the index date",
    "region": "Region",
    "disposal": "Sentence type",
    # derived terms of the flexible propensity model (jdl_core.matching.terms)
    "age_band": "Age band",
    "log_prev_offences": "Previous offences (log)",
    "log_prev_custody": "Previous custodial sentences (log)",
    "first_offender": "First offence",
    "short_sentence": "Short sentence",
    "young_x_log_prev": "Young and previous offences (interaction)",
    "short_x_log_prev": "Short sentence and previous offences (interaction)",
    # names used by older results and the examples
    "previous_offences": "Previous offences",
    "previous_custody": "Previous custodial sentences",
    "employed_year_before": "Employed in the year before",
    "benefit_year_before": "On benefit in the year before",
    "index_offence_group": "Index offence",
    "disposal_type": "Sentence type",
}
LEVEL_NAMES: dict[str, str] = {"F": "Female", "M": "Male", "custody": "Custody",
                               "community": "Community", "caution": "Caution"}


def covariate_name(code: str) -> str:
    """'prev_offences' -> 'Previous offences'; 'offence_group: violence' -> 'Index offence: Violence'."""
    base, _, level = code.partition(":")
    base, level = base.strip(), level.strip()
    name = COVARIATE_NAMES.get(base)
    if name is None:
        if " " in base or base[:1].isupper():
            name = base                       # already in words
        else:
            name = _cap(base.replace("_", " "))
    if level:
        lv = LEVEL_NAMES.get(level, level.replace("_", " "))
        return f"{name}: {_cap(lv)}"
    return name


_CODE = re.compile(r"(?<![\w-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w-])")


def readable(text: str) -> str:
    """Free text from the analysis (warnings, caveats) with every code name (``prev_offences``,
    ``age_band``...) replaced by its readable name, so no code reaches a reader."""
    def sub(m: re.Match[str]) -> str:
        name = covariate_name(m.group(0))
        return name[:1].lower() + name[1:] if not name[:2].isupper() and not name.startswith("Copas") \
            else name
    return _CODE.sub(sub, text)


def covariate_list(codes: Sequence[str]) -> str:
    names = [covariate_name(c) for c in codes]
    # lower-case inside a sentence, except names (Copas, OGRS)
    names = [n if n[:2].isupper() or n.startswith("Copas") else n[:1].lower() + n[1:] for n in names]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


SPEC_NAMES: dict[str, str] = {
    "method": "Matching method",
    "distance": "Distance",
    "propensity_model": "Propensity model",
    "covariates": "Characteristics in the propensity model",
    "exact": "Matched exactly on",
    "caliper": "Caliper",
    "caliper_sd": "Caliper",
    "std_caliper": "Caliper measured in",
    "k": "Comparison records per treated person",
    "replace": "Comparison records may be reused",
    "m_order": "Order of matching",
    "estimand": "Effect estimated",
    "cluster": "Standard errors",
    "ci_level": "Confidence level",
    "alpha": "Significance level",
    "bootstrap_reps": "Bootstrap replicates (cross-check)",
    "random_state": "Random seed",
    "seed": "Random seed",
    "min_analysed": "Fewest people analysed for a result",
    "subgroup_min": "Fewest people in a sub-analysis",
    "min_reoffenders": "Fewest re-offenders for the time measure",
    "ci_method": "Confidence intervals",
    "setting": "Setting",
}
_SPEC_VALUES: dict[str, dict[Any, str]] = {
    "method": {"nearest": "nearest neighbour"},
    "distance": {"logit": "logit of the propensity score",
                 "logit_propensity": "logit of the propensity score"},
    "std_caliper": {True: "standard deviations of the logit", False: "logit units"},
    "m_order": {"largest": "highest propensity first", "smallest": "lowest propensity first",
                "data": "order of the records"},
    "estimand": {"ATT": "average effect on those who took part"},
    "cluster": {"subclass+id": "clustered on matched set and on person",
                "subclass": "clustered on matched set"},
    "ci_method": {"cluster_robust": "cluster-robust"},
}


def spec_rows(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The analysis's settings as (readable label, readable value), for the annex."""
    rows: list[tuple[str, str]] = []
    for k, v in spec.items():
        label = SPEC_NAMES.get(k, _cap(k.replace("_", " ")))
        if k in _SPEC_VALUES and v in _SPEC_VALUES[k]:
            text = _SPEC_VALUES[k][v]
        elif k in ("covariates", "exact") and isinstance(v, (list, tuple)):
            text = _cap(covariate_list(list(v))) if v else "none"
        elif k in ("ci_level",) and isinstance(v, (int, float)):
            text = level_text(float(v))
        elif k in ("caliper", "caliper_sd") and isinstance(v, (int, float)):
            unit = ("standard deviations of the logit" if k == "caliper_sd" or spec.get("std_caliper", True)
                    else "logit units")
            text = f"{v:g} {unit}"
        elif k in ("min_analysed", "subgroup_min"):
            text = people(v) if isinstance(v, int) else str(v)
        elif isinstance(v, bool):
            text = "Yes" if v else "No"
        elif isinstance(v, (list, tuple)):
            text = ", ".join(str(x).replace("_", " ") for x in v) or "none"
        elif v is None:
            text = "none"
        elif isinstance(v, str):
            text = LEVEL_NAMES.get(v, v.replace("_", " "))
        else:
            text = str(v)
        if k == "std_caliper":
            continue   # folded into the caliper's row
        rows.append((label, text))
    return rows
