"""Disclosure control: turn an AnalysisResult into a publishable view in which no count below the
threshold appears or can be worked out from the other figures, and no person's outcome can be read.

Rules (applied to every table, the same way in the PDF, HTML and JSON):

1. **Primary suppression.** A count of people ``n`` with ``0 < n < threshold`` is withheld. Zeros
   are shown: a zero identifies no one. Percentages of a withheld count are withheld with it, and
   so is the comparison group's figure in the same profile row (matching makes the comparison
   group mirror the treatment group, exactly so for characteristics matched exactly, like sex).
2. **Secondary suppression.** Where a table's cells add up to a published total (attrition steps to
   ``submitted - analysed``; the categories of a profile characteristic to the treatment group; the
   subgroups of one variable to the whole group), a lone withheld cell could be recovered by
   subtraction. So further cells (the smallest non-zero first) are withheld until at least two are
   hidden and the hidden cells together are not themselves a small count. Counts implied but not
   printed (e.g. the "No" of a one-row yes/no characteristic) take part as hidden cells. In the
   attrition table the "people remaining" after a step would reveal the steps between two withheld
   steps, so those running totals are withheld too. But first, as statistical offices do, a small
   attrition step is combined with its neighbouring step into one row (with a note) instead of
   withholding both, when the combined rows, under these same rules, need nothing withheld (no
   combined row is small and no small count follows by subtraction); so the main reasons people
   were lost stay visible.
3. **Outcomes.** A group's re-offending rate reveals individual outcomes when fewer than
   ``threshold`` people in it re-offended, or fewer than ``threshold`` did not (a 0% or 100% rate
   tells the organisation every person's outcome). Then both groups' values of the rate and of the
   frequency are withheld (both, because the difference would otherwise give one from the other);
   the difference, its interval and the verdict stay. A time to first re-offence averaged over fewer
   than ``threshold`` re-offenders is withheld entirely.
4. **Subgroups** with fewer than ``min_subgroup_n`` treated people are dropped with a note, plus
   any sibling needed so that a dropped group's size cannot be worked out.
5. **Overlap histogram.** Adjacent bins are merged until every bin holds either no one or at least
   ``threshold`` people in each group. If the treated histogram's total would reveal a withheld
   count (people dropped by matching), treated bins are also rounded to multiples of the threshold.
6. **Free text** (warnings and caveats): a number followed by a word for people that is below the
   threshold, or equals a withheld count, is replaced by ``*``. A measure's reason that would carry
   a withheld count is replaced by one without any count (a count that a printed rate and group
   size give away must not be printed as "only * people").
7. **Counts that reveal nothing about outcomes are not withheld**: the organisation's own rows
   that failed validation or were duplicates, and people not found in the national data
   (``PUBLIC_ATTRITION``). They are taken out of the margin before secondary suppression.

Notes about what was withheld are typed (``DisclosureNote``: a kind and its figures); the words
are made by ``wording.note_text``. Statements (what you can and cannot say) are not part of this
view: ``wording`` makes them from the disclosure-controlled figures.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import AbstractSet, Any, Iterable, Literal, Sequence

from pydantic import BaseModel, ConfigDict

from jdl_core.errors import InvalidArgument
from jdl_core.result import (
    AgeSummary,
    AnalysisResult,
    AttritionReason,
    BalanceGate,
    BalanceRow,
    DatasetInfo,
    IndexPeriod,
    IntervalResult,
    MeasureCode,
    MeasureName,
    MeasureResult,
    NullResultInfo,
    ProgrammeInfo,
    Sensitivity,
)

from ._format import SUPPRESSED

__all__ = ["DEFAULT_THRESHOLD", "DEFAULT_MIN_SUBGROUP_N", "SUPPRESSED", "apply_disclosure",
           "footnote", "DisclosedResult", "DisclosedAttrition", "DisclosedStep", "DisclosedMeasure",
           "DisclosedOverlap", "DisclosedProfileRow", "DisclosedSubgroup", "DisclosureInfo",
           "DisclosureNote", "PUBLIC_ATTRITION",
           "protect_margin", "coarsen_bins", "redact_text"]

DEFAULT_THRESHOLD = 5
DEFAULT_MIN_SUBGROUP_N = 30

# attrition steps that are the organisation's own file, or say only that someone was not found:
# they tell no one about an outcome, so they are printed even when small
PUBLIC_ATTRITION: frozenset[str] = frozenset({"invalid_row", "duplicate", "not_found"})
NoteKind = Literal["values_withheld", "measure_withheld", "subgroup_too_small", "subgroup_sibling",
                   "overlap_merged", "overlap_rounded", "overlap_malformed", "text_redacted",
                   "attrition_combined"]
_PEOPLE_NOUNS = (r"people|persons?|individuals?|offenders?|re-offenders?|records?|participants?|men|"
                 r"women|cases?|rows?|matches|controls?")
# a whole number (not part of a decimal), then at most three words or numbers ("3 of 324
# treated people"), then a word for people
_COUNT_IN_TEXT = re.compile(
    r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d+)(?![\w]|[.,]\d)(?=\s+(?:[\w,-]+\s+){0,3}?(?:"
    + _PEOPLE_NOUNS + r")\b)")


def footnote(threshold: int) -> str:
    """The footnote printed under every table that has a withheld cell."""
    return (f"{SUPPRESSED} Withheld: fewer than {threshold} people, or withheld so that a count of "
            f"fewer than {threshold} people cannot be worked out from the other figures.")


class _View(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DisclosureNote(_View):
    """What was withheld and why, as a code and its figures (words: ``wording.note_text``)."""
    kind: NoteKind
    threshold: int
    measure: str | None = None         # measure name, for measure notes
    label: str | None = None           # the measure's label
    group: Literal["treatment", "comparison"] | None = None
    subgroup: str | None = None        # "Sex: Female", for subgroup notes
    min_n: int | None = None           # the subgroup minimum, for subgroup_too_small


class DisclosedStep(_View):
    reason: AttritionReason
    label: str
    removed: int | None            # None: withheld
    remaining: int | None          # None: withheld
    # the steps' reasons when adjacent steps were combined into this one row because one of them
    # removed fewer than the threshold (``reason`` is then the first of them); empty otherwise
    combined: list[AttritionReason] = []


class DisclosedAttrition(_View):
    submitted: int | None
    steps: list[DisclosedStep]
    analysed: int | None


class DisclosedMeasure(_View):
    """A MeasureResult after disclosure control. ``suppressed`` names the fields withheld (None)."""
    name: MeasureName
    label: str
    unit: str
    difference_unit: str
    estimable: bool = True
    reason: str | None = None
    n_treated: int | None = None
    n_comparison: int | None = None
    treated_value: float | None = None
    comparison_value: float | None = None
    difference: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    significant: bool | None = None
    bootstrap_ci_low: float | None = None
    bootstrap_ci_high: float | None = None
    direction: Literal["reduction", "increase", "none"] | None = None
    higher_is_worse: bool = True
    withheld: bool = False         # the whole comparison withheld (too few people)
    suppressed: list[str] = []     # names of fields withheld by disclosure control
    note: DisclosureNote | None = None   # what was withheld and why
    # JDL rules and further figures, when the analysis supplies them (issue 12)
    jdl_measure: int | None = None
    code: MeasureCode | None = None         # why not estimable / not shown
    interval_method: str | None = None
    treated_events: int | None = None       # n*p; withheld when small (it is an outcome count)
    listed_significant: bool | None = None
    other_intervals: list[IntervalResult] = []   # the same difference by other methods (JDL t-test...)
    null_result: NullResultInfo | None = None    # number needed, power, detectable difference


class DisclosedOverlap(_View):
    bin_edges: list[float]
    treated_counts: list[int]
    pool_counts: list[int]
    matched_counts: list[float]
    caliper: float | None = None
    merged: bool = False           # bins were merged to avoid small counts
    treated_rounded_to: int | None = None   # treated counts rounded to this base


class DisclosedProfileRow(_View):
    characteristic: str
    category: str
    treated_n: int | None
    treated_pct: float | None
    comparison_pct: float | None
    comparison_n: float | None = None


class DisclosedGroupRow(_View):
    characteristic: str
    category: str
    n: int | None                  # None: withheld
    pct: float | None


class DisclosedSubgroup(_View):
    variable: str
    level: str
    n_treated: int
    measures: list[DisclosedMeasure]
    status: str = "analysed"               # or "not_analysed" (reason_code says why)
    reason_code: str | None = None
    p_holm: dict[str, float] = {}          # measure name -> Holm-adjusted p-value


class DisclosureInfo(_View):
    threshold: int
    min_subgroup_n: int
    suppressed_cells: int          # cells withheld across all tables
    footnote: str
    notes: list[DisclosureNote]    # dropped subgroups, withheld measures...


class DisclosedResult(_View):
    """The publishable view of an AnalysisResult: the same structure, small counts withheld (None)."""
    schema_version: str
    submission_id: str | None
    programme: ProgrammeInfo
    dataset: DatasetInfo
    spec: dict[str, Any]
    attrition: DisclosedAttrition
    n_treated: int | None
    n_comparison: int | None
    n_pool: int | None
    dropped_treated: int | None
    index_period: IndexPeriod | None = None
    age: AgeSummary | None = None
    not_included: list[DisclosedGroupRow] = []
    measures: list[DisclosedMeasure]
    further_measures: list[DisclosedMeasure] = []   # JDL measures 4-7 and beyond, when supplied
    gate: BalanceGate | None = None        # the balance gate, when supplied
    specification: str = ""                # the propensity-model specification chosen by balance
    verdict: bool = True                   # False: no reliable comparison, no finding
    sensitivity: Sensitivity | None = None  # E-value, when supplied
    n_tests: int = 0
    balance: list[BalanceRow]
    overlap: DisclosedOverlap | None
    profile: list[DisclosedProfileRow]
    subgroups: list[DisclosedSubgroup]
    caveats: list[str]
    warnings: list[str]
    software_version: str
    created_at: datetime
    disclosure: DisclosureInfo

    def measure(self, name: MeasureName) -> DisclosedMeasure | None:
        return next((m for m in self.measures if m.name == name), None)


# --------------------------------------------------------------------------------------------
# generic building blocks (public so the rules can be tested on their own)

def _sensitive(v: float | None, t: int) -> bool:
    return v is not None and 0 < v < t


def protect_margin(values: Sequence[float], total: float | None, primary: Iterable[int],
                   threshold: int) -> set[int]:
    """Indices of cells to withhold so that no withheld cell can be recovered from ``total``.

    ``values`` are the cells of one margin (they add up to ``total`` if the categories are
    exhaustive; any shortfall is an implied hidden cell). ``primary`` are cells withheld anyway.
    Adds the smallest non-zero visible cells until the hidden cells number at least two (when one
    of them is small) and their sum is not itself a small count.
    """
    hidden = set(primary)
    if total is None:
        return hidden       # no published total: nothing can be recovered by subtraction
    remainder = total - sum(values)
    rem = remainder if remainder > 1e-6 else 0.0

    def safe() -> bool:
        cells = [values[i] for i in hidden] + ([rem] if rem else [])
        if not cells:
            return True
        if _sensitive(sum(cells), threshold):
            return False
        return len(cells) >= 2 or not any(_sensitive(c, threshold) for c in cells)

    while not safe():
        visible = [i for i in range(len(values)) if i not in hidden]
        if not visible:
            break
        hidden.add(min(visible, key=lambda i: (values[i] == 0, values[i], i)))
    return hidden


def coarsen_bins(edges: Sequence[float], series: Sequence[Sequence[float]],
                 threshold: int) -> tuple[list[float], list[list[float]]]:
    """Merge adjacent histogram bins until every merged bin of every series is 0 or >= threshold."""
    nb = len(edges) - 1
    if nb <= 0 or any(len(s) != nb for s in series):
        raise InvalidArgument(f"overlap histogram: {nb + 1} bin edges need {nb} counts per series, "
                              f"got {[len(s) for s in series]}")

    def ok(group: list[int]) -> bool:
        return all(not _sensitive(sum(s[i] for i in group), threshold) for s in series)

    groups: list[list[int]] = []
    cur: list[int] = []
    for i in range(nb):
        cur.append(i)
        if ok(cur):
            groups.append(cur)
            cur = []
    if cur:  # a small tail left over: fold it into the previous bin
        if groups:
            groups[-1].extend(cur)
        else:
            groups.append(cur)
    new_edges = [edges[g[0]] for g in groups] + [edges[groups[-1][-1] + 1]]
    new_series = [[sum(s[i] for i in g) for g in groups] for s in series]
    return new_edges, new_series


def redact_text(text: str, threshold: int, withheld: AbstractSet[int] = frozenset()) -> str:
    """Replace counts of people in free text that are small or equal a withheld count with '*'."""
    def sub(m: re.Match[str]) -> str:
        v = int(m.group(1).replace(",", ""))
        return SUPPRESSED if (0 < v < threshold or v in withheld) else m.group(0)
    return _COUNT_IN_TEXT.sub(sub, text)


# --------------------------------------------------------------------------------------------

class _Ledger:
    """Counts withheld cells and remembers withheld values (to redact them from free text)."""

    def __init__(self) -> None:
        self.cells = 0
        self.values: set[int] = set()
        self.notes: list[DisclosureNote] = []

    def hide(self, v: float | None, cells: int = 1) -> None:
        self.cells += cells
        if v is not None and float(v).is_integer() and v > 0:
            self.values.add(int(v))

    def note(self, note: DisclosureNote) -> None:
        if note not in self.notes:
            self.notes.append(note)


def _count(v: int | None, t: int, led: _Ledger) -> int | None:
    if _sensitive(v, t):
        led.hide(v)
        return None
    return v


def _attrition(result: AnalysisResult, t: int, led: _Ledger) -> tuple[DisclosedAttrition, int | None]:
    a = result.attrition
    # the public steps are known to the organisation: they take no part in the margin
    private = [i for i, s in enumerate(a.steps) if s.reason not in PUBLIC_ATTRITION]
    removed = [a.steps[i].removed for i in private]
    primary = {j for j, v in enumerate(removed) if _sensitive(v, t)}
    caliper_step = next((i for i, s in enumerate(a.steps) if s.reason == "no_match_in_caliper"), None)
    if caliper_step is not None and caliper_step in private and _sensitive(result.dropped_treated, t):
        primary.add(private.index(caliper_step))
    public_removed = sum(s.removed for s in a.steps if s.reason in PUBLIC_ATTRITION)
    hidden = {private[j] for j in protect_margin(removed, a.submitted - a.analysed - public_removed,
                                                 primary, t)}
    # rather than withhold, combine each small step with a neighbour (or, failing that, the
    # withheld steps with theirs) when the combined rows give nothing small away
    margin = a.submitted - a.analysed - public_removed
    combined = (_combine_steps(a.steps, private, {private[j] for j in primary}, margin, t)
                or _combine_steps(a.steps, private, hidden, margin, t))
    if combined is not None:
        return _combined_attrition(result, combined, caliper_step, t, led)
    order = sorted(hidden)
    # running totals between the first and last withheld step would reveal the steps between them
    hide_remaining = set(range(order[0], order[-1])) if len(order) >= 2 else set()
    steps = []
    for i, s in enumerate(a.steps):
        if i in hidden:
            led.hide(s.removed)
        rem: int | None = s.remaining
        if i in hide_remaining or _sensitive(s.remaining, t):
            led.hide(s.remaining)
            rem = None
        steps.append(DisclosedStep(reason=s.reason, label=s.label,
                                   removed=None if i in hidden else s.removed, remaining=rem))
    return _disclosed_attrition(result, steps, caliper_step is not None and caliper_step in hidden,
                                t, led)


def _disclosed_attrition(result: AnalysisResult, steps: list[DisclosedStep], caliper_hidden: bool,
                         t: int, led: _Ledger) -> tuple[DisclosedAttrition, int | None]:
    """The attrition view and the count dropped by the caliper, which is withheld (and kept out
    of free text) when the caliper step's own count is not shown."""
    a = result.attrition
    if caliper_hidden:
        dropped: int | None = None
        if result.dropped_treated:
            led.values.add(result.dropped_treated)
    else:
        dropped = _count(result.dropped_treated, t, led)
    return (DisclosedAttrition(submitted=_count(a.submitted, t, led), steps=steps,
                               analysed=_count(a.analysed, t, led)), dropped)


def _combined_label(labels: Sequence[str]) -> str:
    """"No eligible index event for the programme, or no comparable person in the national data"."""
    rest = [lab[:1].lower() + lab[1:] if lab[:2] != lab[:2].upper() else lab for lab in labels[1:]]
    return ", or ".join([labels[0], *rest])


def _neighbour(n: int, i: int, zero: Any, free: AbstractSet[int]) -> int | None:
    """The next step after ``i`` that removed anyone (else the previous one), across private steps
    that removed no one, if it is in ``free``."""
    for rng in (range(i + 1, n), range(i - 1, -1, -1)):
        j = next((j for j in rng if not zero(j)), None)
        if j is not None and j in free:
            return j
    return None


def _combine_steps(steps: Sequence[Any], private: Sequence[int], hidden: AbstractSet[int],
                   margin: int, t: int) -> list[list[int]] | None:
    """Groups of adjacent step indices (one row each) that show every step except small ones, or
    None when no such grouping is safe (then the withheld cells stay withheld).

    Statistical offices combine a small category with its neighbour rather than hide both: each run
    of adjacent withheld private steps becomes one row (a lone small step takes its adjacent private
    neighbour with it; private steps that removed no one between them are taken in silently). The
    grouping is used only if, applied to the combined rows, the primary and secondary rules withhold
    nothing: no combined row is itself small, and no small count can be worked out from the rows
    shown and the published total (``margin``)."""
    private_set = set(private)

    def zero(j: int) -> bool:
        return j in private_set and steps[j].removed == 0

    def bridge(i: int, j: int) -> bool:   # only private steps that removed no one between i < j
        return all(zero(k) for k in range(i + 1, j))

    members = sorted(i for i in hidden if steps[i].removed > 0)
    if not members:
        return None
    runs: list[list[int]] = []
    for i in members:
        if runs and bridge(runs[-1][-1], i):
            runs[-1].append(i)
        else:
            runs.append([i])
    taken = set(members)
    for run in runs:
        if len(run) > 1:
            continue
        nb = _neighbour(len(steps), run[0], zero, private_set - taken)
        if nb is None:
            return None
        run.append(nb)
        run.sort()
        taken.add(nb)
    runs.sort()
    merged: list[list[int]] = []
    for run in runs:
        if merged and (run[0] <= merged[-1][-1] or bridge(merged[-1][-1], run[0])):
            merged[-1] = sorted(set(merged[-1]) | set(run))
        else:
            merged.append(run)
    spans = {run[0]: list(range(run[0], run[-1] + 1)) for run in merged}
    if any(j not in private_set for span in spans.values() for j in span):
        return None
    inside = {j for span in spans.values() for j in span}
    groups = [spans[i] if i in spans else [i] for i in range(len(steps))
              if i in spans or i not in inside]
    # check: the private rows after combining, under the same rules, must need no withholding
    prows = [g for g in groups if g[0] in private_set]
    values = [sum(steps[j].removed for j in g) for g in prows]
    primary = [k for k, v in enumerate(values) if _sensitive(v, t)]
    if primary or protect_margin(values, margin, primary, t):
        return None
    if any(_sensitive(steps[g[-1]].remaining, t) for g in groups):
        return None
    return groups


def _combined_attrition(result: AnalysisResult, groups: Sequence[Sequence[int]],
                        caliper_step: int | None, t: int,
                        led: _Ledger) -> tuple[DisclosedAttrition, int | None]:
    a = result.attrition
    steps = []
    for g in groups:
        first, last = a.steps[g[0]], a.steps[g[-1]]
        if len(g) == 1:
            steps.append(DisclosedStep(reason=first.reason, label=first.label,
                                       removed=first.removed, remaining=first.remaining))
            continue
        for j in g:      # the steps' own counts and running totals inside the row are not
            if a.steps[j].removed > 0:      # shown: keep them out of free text ("* of 744 people")
                led.values.add(a.steps[j].removed)
            if j != g[-1] and a.steps[j].remaining > 0:
                led.values.add(a.steps[j].remaining)
        shown = [a.steps[j] for j in g if a.steps[j].removed > 0]   # steps that removed no one: no words
        steps.append(DisclosedStep(reason=shown[0].reason,
                                   label=_combined_label([x.label for x in shown]),
                                   removed=sum(a.steps[j].removed for j in g),
                                   remaining=last.remaining,
                                   combined=[x.reason for x in shown]))
    led.note(DisclosureNote(kind="attrition_combined", threshold=t))
    in_group = caliper_step is not None and any(caliper_step in g and len(g) > 1 for g in groups)
    return _disclosed_attrition(result, steps, in_group, t, led)


def _profile(result: AnalysisResult, t: int, led: _Ledger) -> list[DisclosedProfileRow]:
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(result.profile):
        groups.setdefault(r.characteristic, []).append(i)
    hide_t: set[int] = set()
    hide_c: set[int] = set()
    for idx in groups.values():
        tn = [result.profile[i].treated_n for i in idx]
        ht = protect_margin(tn, result.n_treated, [j for j, v in enumerate(tn) if _sensitive(v, t)], t)
        hide_t |= {idx[j] for j in ht}
        # the matched comparison group is built to mirror the treatment group (exactly, for
        # characteristics matched exactly such as sex), so its percentage in a row would give
        # away a withheld treated count: withhold it in the same rows
        cn = [result.profile[i].comparison_n for i in idx]
        known = [v for v in cn if v is not None]
        if len(known) == len(cn):
            cnv = [float(v) for v in known]
            primary = set(ht) | {j for j, v in enumerate(cnv) if _sensitive(v, t)}
            hide_c |= {idx[j] for j in protect_margin(cnv, sum(cnv), primary, t)}
        else:
            hide_c |= {idx[j] for j in ht}
    rows = []
    for i, r in enumerate(result.profile):
        if i in hide_t:
            led.hide(r.treated_n, 2)
        if i in hide_c:
            led.hide(None, 2)
        rows.append(DisclosedProfileRow(
            characteristic=r.characteristic, category=r.category,
            treated_n=None if i in hide_t else r.treated_n,
            treated_pct=None if i in hide_t else r.treated_pct,
            comparison_pct=None if i in hide_c else r.comparison_pct,
            comparison_n=None if i in hide_c else r.comparison_n))
    return rows


def _not_included(result: AnalysisResult, t: int, led: _Ledger) -> list[DisclosedGroupRow]:
    """The profile of the people not included, with the profile's primary and secondary rules
    (the margin of each characteristic is the number not included)."""
    rows = list(result.not_included)
    hide: set[int] = set()
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(r.characteristic, []).append(i)
    for idx in groups.values():
        ns = [rows[i].n for i in idx]
        # the printed percentages give away the characteristic's total, so it is the margin
        hide |= {idx[j] for j in protect_margin(ns, sum(ns), [j for j, v in enumerate(ns)
                                                              if _sensitive(v, t)], t)}
    out = []
    for i, r in enumerate(rows):
        if i in hide:
            led.hide(r.n, 2)
        out.append(DisclosedGroupRow(characteristic=r.characteristic, category=r.category,
                                     n=None if i in hide else r.n, pct=None if i in hide else r.pct))
    return out


def _as_share(value: float, unit: str) -> float:
    return value / 100.0 if ("%" in unit or value > 1.0) else value


def _outcome_sensitive(rate: MeasureResult | None, t: int) -> str | None:
    """Which group's rate would reveal individual outcomes ('treatment'/'comparison'), if any."""
    if rate is None or not rate.estimable:
        return None
    for group, value, n in (("treatment", rate.treated_value, rate.n_treated),
                            ("comparison", rate.comparison_value, rate.n_comparison)):
        if value is None or not n:
            continue
        k = round(_as_share(value, rate.unit) * n)
        if k < t or n - k < t:
            return group
    return None


def _measures(measures: Sequence[MeasureResult], t: int, led: _Ledger,
              scope: str = "", rate: MeasureResult | None = None) -> list[DisclosedMeasure]:
    rate = rate or next((m for m in measures if m.name == "rate"), None)
    rate_group = _outcome_sensitive(rate, t)
    out = []
    for m in measures:
        # a share of people (further measures: "% with an indictable first re-offence") reveals
        # outcomes on its own terms; everything else follows the re-offending rate
        outcome_group = (_outcome_sensitive(m, t) if m.name != "rate" and "%" in m.unit
                         else rate_group)
        # only the fields this view knows: a figure added to MeasureResult later is not published
        # until disclosure control has a rule for it
        d = m.model_dump(include=set(DisclosedMeasure.model_fields))
        suppressed: list[str] = []
        note = None
        withheld = False
        if not m.estimable:
            # nothing to compare: keep the reason (without small counts), drop any stray figures
            if m.reason and redact_text(m.reason, t, led.values) != m.reason:
                # the reason names a small count (often one a printed rate and group size give
                # away): say why without any count rather than print "only * people"
                d["reason"] = ("too few people in one of the groups re-offended to compare it "
                               "reliably" if "re-offend" in m.reason else
                               "too few people in one of the groups to compare it reliably")
                led.hide(None)
            for f in ("treated_value", "comparison_value", "difference", "ci_low", "ci_high",
                      "p_value", "significant", "bootstrap_ci_low", "bootstrap_ci_high", "direction"):
                d[f] = None
        elif m.name == "days_to_first" and (_sensitive(m.n_treated, t) or _sensitive(m.n_comparison, t)):
            withheld = True
            for f in ("treated_value", "comparison_value", "difference", "ci_low", "ci_high",
                      "p_value", "significant", "bootstrap_ci_low", "bootstrap_ci_high", "direction"):
                d[f] = None
            suppressed = ["treated_value", "comparison_value", "difference", "ci_low", "ci_high",
                          "p_value"]
            led.hide(None, 5)
            who: Literal["treatment", "comparison"] = ("treatment" if _sensitive(m.n_treated, t)
                                                       else "comparison")
            note = DisclosureNote(kind="measure_withheld", threshold=t, measure=m.name, label=m.label,
                                  group=who, subgroup=scope or None)
            led.note(note)
        elif m.name != "days_to_first" and outcome_group is not None:
            d["treated_value"] = d["comparison_value"] = None
            suppressed = ["treated_value", "comparison_value"]
            led.hide(None, 2)
            note = DisclosureNote(kind="values_withheld", threshold=t, measure=m.name, label=m.label,
                                  group=outcome_group, subgroup=scope or None)  # type: ignore[arg-type]
            led.note(note)
        for f in ("n_treated", "n_comparison", "treated_events"):
            if _sensitive(d.get(f), t):
                led.hide(d[f])
                d[f] = None
                suppressed.append(f)
        d.update(withheld=withheld, suppressed=suppressed, note=note)
        out.append(DisclosedMeasure.model_validate(d))
    return out


_VARIABLE_NAMES = {"sex": "Sex", "age_band": "Age", "setting": "Setting"}
_LEVEL_NAMES = {"F": "Female", "M": "Male", "custody": "Custody", "community": "Community",
                "caution": "Caution"}


def subgroup_name(variable: str, level: str) -> str:
    """'Sex: Female', 'Age: 18-24' (readable, never the code)."""
    name = _VARIABLE_NAMES.get(variable, variable.replace("_", " ").capitalize())
    return f"{name}: {_LEVEL_NAMES.get(level, level)}"


def _subgroups(result: AnalysisResult, t: int, min_n: int, led: _Ledger) -> list[DisclosedSubgroup]:
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(result.subgroups):
        groups.setdefault(s.variable, []).append(i)
    drop: set[int] = set()
    for var, idx in groups.items():
        ns = [result.subgroups[i].n_treated for i in idx]
        small = {j for j, v in enumerate(ns) if v < min_n}
        h = protect_margin(ns, result.n_treated, small, t)
        drop |= {idx[j] for j in h}
        for j in sorted(h):
            sg = subgroup_name(var, result.subgroups[idx[j]].level)
            led.note(DisclosureNote(kind="subgroup_too_small" if j in small else "subgroup_sibling",
                                    threshold=t, subgroup=sg, min_n=min_n if j in small else None))
    out = []
    for i, s in enumerate(result.subgroups):
        if i in drop:
            continue
        out.append(DisclosedSubgroup(variable=s.variable, level=s.level, n_treated=s.n_treated,
                                     measures=_measures(s.measures, t, led,
                                                        subgroup_name(s.variable, s.level)),
                                     status=getattr(s, "status", "analysed"),
                                     reason_code=getattr(s, "reason_code", None),
                                     p_holm=dict(getattr(s, "p_holm", {}) or {})))
    return out


def _overlap(result: AnalysisResult, dropped_hidden: bool, t: int,
             led: _Ledger) -> DisclosedOverlap | None:
    o = result.overlap
    if o is None:
        return None
    try:
        edges, (tc, pc, mc) = coarsen_bins(o.bin_edges, [o.treated_counts, o.pool_counts,
                                                         o.matched_counts], t)
    except InvalidArgument:
        # a malformed summary is an upstream bug; the rest of the report still stands
        led.note(DisclosureNote(kind="overlap_malformed", threshold=t))
        return None
    merged = len(edges) < len(o.bin_edges)
    treated = [int(v) for v in tc]
    rounded_to = None
    extra = sum(treated) - result.n_treated
    if (dropped_hidden and extra != 0) or _sensitive(abs(extra), t):
        # the histogram total would give away a withheld count: round treated bins to base t
        treated = [0 if v == 0 else max(t, t * round(v / t)) for v in treated]
        rounded_to = t
    return DisclosedOverlap(bin_edges=list(edges), treated_counts=treated,
                            pool_counts=[int(v) for v in pc],
                            matched_counts=[round(float(v), 1) for v in mc], caliper=o.caliper,
                            merged=merged, treated_rounded_to=rounded_to)


def apply_disclosure(result: AnalysisResult, threshold: int = DEFAULT_THRESHOLD,
                     min_subgroup_n: int | None = None) -> DisclosedResult:
    """The disclosure-controlled view of ``result`` (see the module docstring for the rules).

    ``min_subgroup_n`` defaults to the larger of the analysis's ``subgroup_min`` (30 when its spec
    has none) and the threshold.
    """
    if not isinstance(result, AnalysisResult):
        raise InvalidArgument(f"result: expected an AnalysisResult, got {type(result).__name__}")
    if isinstance(threshold, bool) or not isinstance(threshold, int) or not 1 <= threshold <= 100:
        raise InvalidArgument(f"threshold={threshold!r} is not allowed: use a whole number of people "
                              f"from 1 to 100 (default {DEFAULT_THRESHOLD})")
    if min_subgroup_n is None:
        # one minimum in the whole report: the analysis's own (spec.subgroup_min) when it has one
        spec_min = result.spec.get("subgroup_min") if isinstance(result.spec, dict) else None
        base = spec_min if isinstance(spec_min, int) and not isinstance(spec_min, bool) else \
            DEFAULT_MIN_SUBGROUP_N
        min_subgroup_n = max(base, threshold)
    if isinstance(min_subgroup_n, bool) or not isinstance(min_subgroup_n, int) or min_subgroup_n < threshold:
        raise InvalidArgument(f"min_subgroup_n={min_subgroup_n!r} is not allowed: use a whole number "
                              f"no smaller than the threshold ({threshold})")
    t = threshold
    led = _Ledger()
    attrition, dropped = _attrition(result, t, led)
    profile = _profile(result, t, led)
    not_included = _not_included(result, t, led)
    measures = _measures(result.measures, t, led, "")
    further = list(getattr(result, "further_measures", []) or [])
    # the further measures follow the same outcome rules; their rate-like rows are judged alone
    further_d = _measures(further, t, led, "", rate=result.measure("rate"))
    subgroups = _subgroups(result, t, min_subgroup_n, led)
    overlap = _overlap(result, dropped is None and bool(result.dropped_treated), t, led)
    if overlap is not None and overlap.merged:
        led.note(DisclosureNote(kind="overlap_merged", threshold=t))
    if overlap is not None and overlap.treated_rounded_to:
        led.note(DisclosureNote(kind="overlap_rounded", threshold=t))
    n_treated = _count(result.n_treated, t, led)
    n_comparison = _count(result.n_comparison, t, led)
    n_pool = _count(result.n_pool, t, led)
    withheld_values = set(led.values)
    warnings = [redact_text(w, t, withheld_values) for w in result.warnings]
    caveats = [redact_text(c, t, withheld_values) for c in result.caveats]
    if any(a != b for a, b in zip(warnings + caveats, result.warnings + result.caveats)):
        led.note(DisclosureNote(kind="text_redacted", threshold=t))
    return DisclosedResult(
        schema_version=result.schema_version, submission_id=result.submission_id,
        programme=result.programme, dataset=result.dataset, spec=result.spec,
        attrition=attrition, n_treated=n_treated, n_comparison=n_comparison, n_pool=n_pool,
        dropped_treated=dropped, index_period=result.index_period, age=result.age,
        not_included=not_included, further_measures=further_d,
        gate=getattr(result, "gate", None), verdict=getattr(result, "verdict", True),
        specification=getattr(result, "specification", "") or "",
        sensitivity=getattr(result, "sensitivity", None), n_tests=getattr(result, "n_tests", 0) or 0,
        measures=measures, balance=list(result.balance), overlap=overlap,
        profile=profile, subgroups=subgroups,
        caveats=caveats, warnings=warnings, software_version=result.software_version,
        created_at=result.created_at,
        disclosure=DisclosureInfo(threshold=t, min_subgroup_n=min_subgroup_n,
                                  suppressed_cells=led.cells, footnote=footnote(t), notes=led.notes))

