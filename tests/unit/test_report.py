"""The report: disclosure control, verdict wording, charts, and the rendered PDF (checked page by
page through poppler's pdftoppm and pdftotext), HTML, JSON, catalogue and `jdl report` command."""
from __future__ import annotations

import html as htmllib
import io
import itertools
import json
import random
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from jdl_core.errors import InvalidArgument
from jdl_core.result import AnalysisResult, SubgroupResult
from jdl_report import (
    CatalogueEntry,
    apply_disclosure,
    catalogue_entry,
    catalogue_html,
    charts,
    parse_result,
    render_all,
    render_pdf,
)
from jdl_report.content import ANNEX_SECTIONS, build_content, smd_scale
from jdl_report.disclosure import PUBLIC_ATTRITION, coarsen_bins, protect_margin, redact_text
from jdl_report.examples import (
    degenerate,
    minimal,
    non_significant,
    significant_increase,
    significant_reduction,
)
from jdl_report.wording import note_text

T = 5
MAIN = {"significant_reduction": significant_reduction, "significant_increase": significant_increase,
        "non_significant": non_significant, "degenerate": degenerate}
COUNT_KEYS = {"submitted", "analysed", "removed", "remaining", "n_treated", "n_comparison", "n_pool",
              "dropped_treated", "treated_n", "comparison_n", "treated_counts", "pool_counts",
              "matched_counts", "n"}


def flat(text: str) -> str:
    """Text with all whitespace (line breaks of the layout) collapsed to single spaces."""
    return " ".join(text.split())


def need_poppler() -> None:
    if shutil.which("pdftoppm") and shutil.which("pdftotext"):
        return
    if shutil.which("apt-get") is None:
        pytest.skip("poppler-utils (pdftoppm, pdftotext) is not installed and apt-get is unavailable")
    pytest.fail("poppler-utils is not installed (pdftoppm/pdftotext missing): run `make sysdeps` "
                "or `apt-get install poppler-utils`")


class Rendered:
    """One example rendered once: the files, each PDF page's text and each page as an image."""

    def __init__(self, result: AnalysisResult, tmp: Path) -> None:
        self.result = result
        self.files = render_all(result, T)
        self.html = self.files["html"].decode("utf-8")
        self.json = json.loads(self.files["json"])
        pdf = tmp / "report.pdf"
        pdf.write_bytes(self.files["pdf"])
        raw = subprocess.run(["pdftotext", "-raw", str(pdf), "-"], check=True, capture_output=True,
                             text=True, timeout=60).stdout
        self.pages = [flat(p) for p in raw.split("\f") if p.strip()]
        self.text = " ".join(self.pages)
        subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp / "p")], check=True, timeout=60)
        self.images = [Image.open(p).convert("L") for p in sorted(tmp.glob("p-*.png"))]

    def page_of(self, phrase: str) -> int:
        """1-based page number where ``phrase`` first appears (0 if nowhere)."""
        return next((i + 1 for i, p in enumerate(self.pages) if phrase in p), 0)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Rendered]:
    need_poppler()
    out = {}
    for name, build in {**MAIN, "minimal": minimal}.items():
        out[name] = Rendered(build(), tmp_path_factory.mktemp(name))
    return out


# --------------------------------------------------------------------------------------------
# disclosure control

def test_protect_margin_hides_a_second_cell_when_one_is_small():
    assert protect_margin([40, 3, 12, 30], 85, {1}, T) == {1, 2}          # 3 + 12: not recoverable
    assert protect_margin([40, 3, 12, 30], None, {1}, T) == {1}           # no total: nothing to subtract
    assert protect_margin([40, 12, 30], 82, set(), T) == set()            # nothing small
    assert protect_margin([40, 12, 30], 85, set(), T) == {1}              # implied 3 -> hide 12 too
    assert protect_margin([59], 62, set(), T) == {0}                      # implied "No" of 3
    assert protect_margin([40, 1, 2, 30], 73, {1, 2}, T) == {1, 2, 3}     # 1 + 2 is itself small


def test_protect_margin_never_leaves_a_small_cell_recoverable():
    rng = random.Random(11)
    for _ in range(400):
        cells = [rng.choice([0, 0, 1, 2, 3, 4, 5, 6, 9, 20, 60]) for _ in range(rng.randint(1, 7))]
        extra = rng.choice([0, 0, 0, 2, 7])
        hidden = protect_margin(cells, sum(cells) + extra, {i for i, v in enumerate(cells) if 0 < v < T}, T)
        assert all(i in hidden for i, v in enumerate(cells) if 0 < v < T)
        unseen = [cells[i] for i in hidden] + ([extra] if extra else [])
        visible = [i for i in range(len(cells)) if i not in hidden]
        if any(0 < v < T for v in unseen) and visible:
            # one hidden cell would equal the total minus the visible cells; so would their sum
            assert len(unseen) >= 2 and not 0 < sum(unseen) < T, (cells, extra, hidden)


@pytest.mark.parametrize("name", list(MAIN))
def test_no_withheld_attrition_step_can_be_worked_out(name):
    d = apply_disclosure(MAIN[name](), T)
    a = d.attrition
    before = [a.submitted] + [s.remaining for s in a.steps]
    for i, s in enumerate(a.steps):
        if s.removed is None:
            # removed = remaining before - remaining after: one of them must be withheld too
            assert before[i] is None or before[i + 1] is None, (name, s.reason)
    hidden = [s for s in a.steps if s.removed is None]
    assert len(hidden) != 1
    raw = {s.reason: s.removed for s in MAIN[name]().attrition.steps}
    for s in a.steps:
        if s.combined:      # a small step shown together with a neighbour: the row is not small
            assert len(s.combined) >= 2 and s.removed is not None and s.removed >= T
            assert s.removed == sum(raw[x] for x in s.combined)
        elif s.reason in PUBLIC_ATTRITION:
            assert s.removed == raw[s.reason]            # the organisation's own figures: shown
        elif 0 < raw[s.reason] < T:
            assert s.removed is None


def test_attrition_suppression_in_the_reduction_example():
    d = apply_disclosure(significant_reduction(), T)
    by = {s.reason: s for s in d.attrition.steps}
    # the organisation's own duplicates (3) reveal nothing about outcomes: shown
    assert by["duplicate"].removed == 3 and by["not_found"].removed == 21
    # ambiguous (4) is shown combined with the next step (no index event, 38) rather than
    # withheld with another step
    assert by["ambiguous"].combined == ["ambiguous", "no_index_event"]
    assert by["ambiguous"].removed == 42 and by["ambiguous"].remaining == 340
    assert "no_index_event" not in by
    assert by["no_match_in_caliper"].removed == 7 and by["followup_outside_coverage"].removed == 12
    assert d.attrition.analysed == 321
    assert d.dropped_treated == 7


def test_profile_suppression_is_primary_secondary_and_covers_implied_complements():
    d = apply_disclosure(degenerate(), T)
    rows = {(r.characteristic, r.category): r for r in d.profile}
    assert rows[("Age band", "18-20")].treated_n is None                 # 3: primary
    assert rows[("Age band", "50 and over")].treated_n is None           # 5: smallest other, secondary
    assert rows[("Age band", "30-39")].treated_n == 19
    yes = rows[("Claiming out-of-work benefits", "Yes")]                  # 59 of 62: "No" would be 3
    assert yes.treated_n is None and yes.treated_pct is None
    assert rows[("Ethnicity", "Other")].treated_n == 0                    # zeros identify no one
    for characteristic in {r.characteristic for r in d.profile}:
        group = [r for r in d.profile if r.characteristic == characteristic]
        hidden = [r for r in group if r.treated_n is None]
        assert len(hidden) != 1 or characteristic == "Claiming out-of-work benefits"
        assert all(r.treated_n is None or r.treated_n == 0 or r.treated_n >= T for r in group)


def test_comparison_percentages_cannot_reveal_a_withheld_treated_count():
    # with exact matching on sex the weighted comparison % equals the treated % exactly
    r = significant_reduction()
    rows = [p.model_copy(update={"treated_n": 3, "treated_pct": 0.9, "comparison_pct": 0.9,
                                 "comparison_n": 13.3}) if p.category == "Female" else
            p.model_copy(update={"treated_n": 318, "treated_pct": 99.1, "comparison_pct": 99.1,
                                 "comparison_n": 1468.7}) if p.category == "Male" else p
            for p in r.profile]
    d = apply_disclosure(r.model_copy(update={"profile": rows}), T)
    sex = [p for p in d.profile if p.characteristic == "Sex"]
    assert all(p.treated_n is None and p.comparison_pct is None and p.comparison_n is None for p in sex)
    # without weighted counts, the comparison % of a withheld row goes too
    rows2 = [p.model_copy(update={"comparison_n": None}) for p in rows]
    d2 = apply_disclosure(r.model_copy(update={"profile": rows2}), T)
    assert all(p.comparison_pct is None for p in d2.profile if p.characteristic == "Sex")


def test_a_malformed_overlap_summary_does_not_stop_the_report():
    r = significant_reduction()
    bad = r.overlap.model_copy(update={"treated_counts": r.overlap.treated_counts[:-2]})
    c = build_content(r.model_copy(update={"overlap": bad}), T)
    assert c.disclosed.overlap is None and "malformed" in c.overlap_text


def test_small_subgroups_are_dropped_with_a_note_and_siblings_protected():
    d = apply_disclosure(significant_reduction(), T)
    assert ("age_band", "50+") not in {(s.variable, s.level) for s in d.subgroups}
    assert any(n.kind == "subgroup_too_small" and "50+" in n.subgroup and n.min_n == 30
               for n in d.disclosure.notes)
    assert any("Age: 50+" in t and "fewer than 30" in t for t in map(note_text, d.disclosure.notes))
    # a 4-person subgroup would be recoverable from its sibling: both go
    base = significant_reduction()
    m = base.subgroups[0].measures
    subs = [SubgroupResult(variable="sex", level="M", n_treated=base.n_treated - 4, measures=m),
            SubgroupResult(variable="sex", level="F", n_treated=4, measures=m)]
    d2 = apply_disclosure(base.model_copy(update={"subgroups": subs}), T)
    assert d2.subgroups == []
    assert any(n.kind == "subgroup_sibling" for n in d2.disclosure.notes)


def test_outcomes_that_would_reveal_individuals_are_withheld():
    d = apply_disclosure(degenerate(), T)
    rate, freq, days = (d.measure(n) for n in ("rate", "frequency", "days_to_first"))
    assert rate.treated_value is None and rate.comparison_value is None   # 0 of 62 re-offended
    assert rate.difference == pytest.approx(-9.4) and rate.ci_low == -12.8
    assert freq.treated_value is None and "treated_value" in freq.suppressed
    assert days.estimable is False and "no one in the treatment group" in days.reason
    # a time to first re-offence averaged over 3 re-offenders is withheld entirely
    r = significant_reduction()
    few = [m.model_copy(update={"n_treated": 3}) if m.name == "days_to_first" else m for m in r.measures]
    dd = apply_disclosure(r.model_copy(update={"measures": few}), T).measure("days_to_first")
    assert dd.withheld and dd.treated_value is None and dd.difference is None and dd.n_treated is None


def test_overlap_bins_are_merged_until_no_bin_is_small():
    for build in MAIN.values():
        r = build()
        o = apply_disclosure(r, T).overlap
        assert o is not None and o.merged
        for series in (o.treated_counts, o.pool_counts, o.matched_counts):
            assert all(v == 0 or v >= T for v in series)
        assert sum(o.pool_counts) == sum(r.overlap.pool_counts)
        assert o.bin_edges[0] == r.overlap.bin_edges[0] and o.bin_edges[-1] == r.overlap.bin_edges[-1]
    # one dropped person is withheld, so the treated histogram's total must not reveal it
    o = apply_disclosure(degenerate(), T).overlap
    assert o.treated_rounded_to == T and all(v % T == 0 for v in o.treated_counts)
    edges, (a,) = coarsen_bins([0, 1, 2, 3, 4], [[6, 2, 2, 7]], T)
    assert edges == [0, 1, 4] and a == [6, 11]
    edges, (a,) = coarsen_bins([0, 1, 2, 3], [[6, 7, 2]], T)     # a small last bin joins the one before
    assert edges == [0, 1, 3] and a == [6, 9]


def test_free_text_counts_are_redacted():
    assert redact_text("3 of 324 people had no comparable person", T) == "* of 324 people had no comparable person"
    assert redact_text("2 treated people had two index events", T) == "* treated people had two index events"
    assert redact_text("within 1 year, caliper 0.2, k=5, 2003-2009", T) == "within 1 year, caliper 0.2, k=5, 2003-2009"
    assert redact_text("12 records were withheld", T, {12}) == "* records were withheld"
    d = apply_disclosure(degenerate(), T)
    assert d.warnings == ["* treated person had no comparison inside the caliper and was dropped from the analysis."]


@pytest.mark.parametrize("bad", [0, 101, True, "5", 2.5])
def test_threshold_must_be_a_whole_number_of_people(bad):
    with pytest.raises(InvalidArgument, match="threshold"):
        apply_disclosure(significant_reduction(), bad)


def test_a_higher_threshold_suppresses_more():
    low = apply_disclosure(significant_reduction(), 5).disclosure.suppressed_cells
    high = apply_disclosure(significant_reduction(), 20).disclosure.suppressed_cells
    assert high > low > 0
    assert apply_disclosure(significant_reduction(), 1).disclosure.suppressed_cells == 0


# --------------------------------------------------------------------------------------------
# wording

def test_verdicts_follow_direction_and_significance():
    c = build_content(significant_reduction(), T)
    v = {x.measure: x for x in c.verdicts}
    assert v["rate"].kind == "fall" and v["rate"].favourable is True
    assert v["rate"].can_say == ("This analysis provides evidence that taking part in Through the Gate "
                                 "mentoring decreases the number of proven re-offenders during a one-year "
                                 "period by between 2 and 12 people in every 100.",)
    assert v["days_to_first"].kind == "no_evidence"
    assert "shortens or lengthens" in v["days_to_first"].cannot_say[0]
    c = build_content(significant_increase(), T)
    v = {x.measure: x for x in c.verdicts}
    assert "increases the number of proven re-offenders during a one-year period by between 1 and 10 " \
           "people in every 100" in v["rate"].can_say[0]
    # a shorter time to re-offend is the worse direction: higher_is_worse is False for days
    assert v["days_to_first"].kind == "fall" and v["days_to_first"].favourable is False
    assert "shortens the average time to the first proven re-offence" in v["days_to_first"].can_say[0]
    assert v["days_to_first"].badge == "Significantly shorter"
    c = build_content(non_significant(), T)
    assert all(x.kind == "no_evidence" and x.significant is False for x in c.verdicts)
    assert ("This analysis shows that taking part in Prison Education Bursaries decreases or increases the number of "
            "proven re-offenders during a one-year period.") in c.cannot_say
    assert not any("provides evidence that taking part in Prison Education Bursaries decreases" in s for s in c.can_say)


def test_missing_significance_is_derived_from_the_interval():
    r = significant_reduction()
    ms = [m.model_copy(update={"significant": None, "p_value": None}) for m in r.measures]
    v = build_content(r.model_copy(update={"measures": ms}), T).verdicts
    assert [x.kind for x in v] == ["fall", "fall", "no_evidence"]


def test_statements_come_from_the_wording_module_not_the_analysis():
    c = build_content(degenerate(), T)          # the analysis supplied no statements
    assert c.can_say and c.cannot_say
    assert any("could not be estimated because no one in the treatment group" in s for s in c.cannot_say)
    # sentences supplied with the result are never printed: the words are made from the figures
    r = significant_reduction()
    supplied = r.statements.can_say + r.statements.cannot_say
    c = build_content(r, T)
    assert supplied and not set(supplied) & set(c.can_say + c.cannot_say)
    assert sum("decreases the number of proven re-offenders" in s for s in c.can_say) == 1
    assert any("has no effect on" in s for s in c.cannot_say)


def test_smd_scale_detects_percentages():
    r = significant_reduction()
    assert smd_scale(r.balance) == 100.0
    pct = [b.model_copy(update={"smd_before": b.smd_before * 100, "smd_after": b.smd_after * 100})
           for b in r.balance]
    assert smd_scale(pct) == 1.0


# --------------------------------------------------------------------------------------------
# the rendered PDF, HTML and JSON

@pytest.mark.parametrize("name", list(MAIN))
def test_pdf_pages_are_neither_too_few_nor_too_many_nor_blank(rendered, name):
    r = rendered[name]
    annex = r.page_of("Annex: detail for statisticians")
    assert 4 <= annex - 1 <= 6, (name, annex)            # the main report: about five pages, at most six
    assert len(r.images) == len(r.pages) and len(r.pages) - annex + 1 <= 3
    for i, im in enumerate(r.images, 1):
        w, h = im.size
        body = np.asarray(im.crop((0, int(h * 0.08), w, int(h * 0.93))))   # inside header and footer
        dark = float((body < 200).mean())
        assert dark > 0.004, f"{name} page {i} is blank"
        if i < annex - 1:
            # no half-empty page inside the main report: ink reaches the lower half of the page
            rows = np.nonzero((body < 200).any(axis=1))[0]
            assert rows.max() > body.shape[0] * 0.6, f"{name} page {i} is half empty"


@pytest.mark.parametrize("name", list(MAIN))
def test_nothing_is_drawn_outside_the_text_frame(rendered, name):
    # an overflowing table or word would spill into the side margins (18 mm; strips of 15 mm)
    for i, im in enumerate(rendered[name].images, 1):
        w, h = im.size
        strip = int(w * 15 / 210)
        top = int(h * 6 / 297)                                          # below the header bar
        for box in ((0, top, strip, h), (w - strip, top, w, h)):
            assert np.asarray(im.crop(box)).min() > 235, f"{name} page {i}: ink in the margin"


@pytest.mark.parametrize("name", list(MAIN) + ["minimal"])
def test_every_section_heading_is_present_in_order_and_the_annex_last(rendered, name):
    r = rendered[name]
    sections = build_content(r.result, T).present_sections() + ANNEX_SECTIONS
    assert ("response", "Response from the organisation") not in sections     # none was given
    positions = [r.text.find(title) for _, title in sections]
    assert all(p >= 0 for p in positions), [t for (_, t), p in zip(sections, positions) if p < 0]
    assert positions == sorted(positions)
    annex = r.page_of("Annex: detail for statisticians")
    for phrase in ("Balance of each characteristic", "Method, data and settings", "Disclosure control"):
        assert r.page_of(phrase) >= annex, phrase


def test_reduction_report_says_reduced_on_page_one(rendered):
    r = rendered["significant_reduction"]
    assert r.page_of("could be lower by between 2 and 12 people. This is a statistically significant "
                     "result.") == 1
    assert r.page_of("The treatment group is 321 people") == 1
    assert r.page_of("The comparison group is much larger: 1,482 records") == 1
    assert r.page_of("Of 412 people submitted, 91 people could not be included") == 1
    assert "decreases the number of proven re-offenders during a one-year period by between 2 and 12 " \
           "people in every 100." in r.text
    assert "increases the number of proven re-offenders during a one-year period by between" not in r.text
    assert r.page_of("Significant reduction") == 1


def test_increase_report_says_increased_on_page_one(rendered):
    r = rendered["significant_increase"]
    assert r.page_of("could be higher by between 1 and 10 people") == 1
    assert "shortens the average time to the first proven re-offence of those who re-offended by " \
           "between 1 and 35 days." in r.text
    assert "decreases the number of proven re-offenders during a one-year period by between" not in r.text


def test_non_significant_report_claims_neither_direction(rendered):
    r = rendered["non_significant"]
    assert r.page_of("could be lower by as many as 8 people or higher by as many as 4 people. This is "
                     "not a statistically significant result. More people would need to be analysed to "
                     "determine the direction of this difference.") == 1
    assert r.page_of("More people would need to be analysed to determine the way in which the "
                     "programme affects re-offending") == 1
    assert "may decrease the number of proven re-offenders during a one-year period by up to 8 people " \
           "in every 100, or may increase it by up to 4 people in every 100." in r.text
    assert not re.search(r"provides evidence that taking part in [\w ]+ (decreases|increases|shortens|lengthens)",
                         r.text)


def test_suppressed_cells_print_as_star_with_footnote_and_small_counts_never_appear(rendered):
    for name in MAIN:
        r = rendered[name]
        raw = MAIN[name]()
        combined = {x for s in apply_disclosure(raw, T).attrition.steps for x in s.combined}
        for s in raw.attrition.steps:
            if s.reason in combined:
                continue          # shown in a combined row (tests/unit/test_report_attrition.py)
            row = re.search(re.escape(s.label) + r" (\S+) (\S+)", r.text)
            assert row, (name, s.label)
            if 0 < s.removed < T and s.reason not in PUBLIC_ATTRITION:
                assert row.group(1) == "*", (name, s.label)
                assert "* Withheld: fewer than 5 people" in r.pages[r.page_of(s.label) - 1]
        profile = r.text[r.text.find("Profile of the treatment and comparison groups"):]
        table = build_content(raw, T).profile_table
        for p in raw.profile:
            if 0 < p.treated_n < T:
                # the profile prints in two columns read row by row, so check the table's own row
                # and that the PDF has the category followed by withheld cells
                row = next(x for x in table.rows if x[1] == p.category and
                           table.rows.index(x) >= next(i for i, y in enumerate(table.rows)
                                                       if y[0] == p.characteristic))
                assert row[2:4] == ("*", "*"), (name, p.characteristic, p.category)
                assert re.search(r"(?<![\w-])" + re.escape(p.category) + r" \* \*", profile), \
                    (name, p.characteristic, p.category)
    r = rendered["significant_reduction"]
    assert re.search(r"Same person submitted more than once 3 1% 403", r.text)     # own figures shown
    assert re.search(r"More than one possible match in the national data, or no eligible sentence or "
                     r"release for the programme 42 10% 340", r.text)
    # secondary for Fraud (3; weighted 3.5)
    assert re.search(r"Robbery \* \* \*", r.text) and re.search(r"Fraud \* \* \*", r.text)
    assert "sub-4f1c2a9b8e7d6c5b4a39" in r.text


def test_degenerate_report_says_plainly_what_could_not_be_estimated(rendered):
    r = rendered["degenerate"]
    assert r.page_of("could not be estimated because no one in the treatment group had a proven "
                     "re-offence within the year, so there is no time to a first re-offence to compare.") == 1
    assert r.page_of("Not estimated") == 1
    assert re.search(r"One-year proven re-offending rate \* \* −9 −13 to −6 <0\.01 Significant reduction",
                     r.text)
    assert "The value for each group is not shown: fewer than 5 people in the treatment group re-offended" in r.text
    assert "0.0%" not in r.pages[0]                           # the treated rate (0 of 62) is nowhere
    assert "No sub-analyses were reported" in r.text
    assert "* treated person had no comparison inside the caliper" in r.text
    assert "1 treated person" not in r.text


def test_minimal_result_renders_and_says_what_was_not_supplied(rendered):
    r = rendered["minimal"]
    assert len(r.pages) >= 3
    assert "No profile of the groups was supplied with this result." in r.text
    assert "No balance summary was supplied" in r.text
    assert "no overlap plot is shown" in r.text


@pytest.mark.parametrize("name", list(MAIN))
def test_html_has_the_same_verdicts_and_sections_and_no_external_assets(rendered, name):
    r = rendered[name]
    text = flat(htmllib.unescape(re.sub(r"<[^>]+>", " ", r.html)))
    c = build_content(r.result, T)
    for s in (*c.can_say, *c.cannot_say, *c.summary_points):
        assert flat(s) in text and flat(s) in r.text, s
    for _, title in c.present_sections() + ANNEX_SECTIONS:
        assert title in text
    without_data = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", r.html)
    assert not re.search(r"https?:|//[a-z]|@import|<link\b|<script\b|url\(", without_data, re.I)
    style = r.html.split("<style>", 1)[1].split("</style>", 1)[0]
    assert "font-family: Arial" in style and "&#" not in style          # CSS is not HTML-escaped
    srcs = re.findall(r'src="([^"]*)"', r.html)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)


def _counts(node, key=None):
    if isinstance(node, dict):
        for k, v in node.items():
            if k not in ("spec", "dataset"):
                yield from _counts(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from _counts(v, key)
    elif key in COUNT_KEYS and isinstance(node, (int, float)) and not isinstance(node, bool):
        yield key, node


@pytest.mark.parametrize("name", list(MAIN))
def test_json_has_no_count_below_the_threshold(rendered, name):
    doc = rendered[name].json
    counts = list(_counts(doc))
    assert len(counts) > 20
    public = {s["removed"] for s in doc["attrition"]["steps"] if s["reason"] in PUBLIC_ATTRITION}
    assert [kv for kv in counts if 0 < kv[1] < T and not (kv[0] == "removed" and kv[1] in public)] == []
    assert doc["disclosure"]["threshold"] == T
    assert doc["statements"]["can_say"] == doc["report"]["can_say"]
    assert doc["report"]["can_say"] == list(build_content(MAIN[name](), T).can_say)


def test_rendering_is_deterministic():
    r = degenerate()
    assert render_pdf(r) == render_pdf(r)
    a, b = render_all(r), render_all(r)
    assert a["html"] == b["html"] and a["json"] == b["json"]


# --------------------------------------------------------------------------------------------
# charts and catalogue

def _png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(png)).size


def test_forest_plot_keeps_its_size_and_handles_none():
    # the JDL's plot (group size up the y axis): one size however many reports (the axes of the
    # plot itself are checked in test_publication_summary.py)
    entries = [catalogue_entry(b(), links={"pdf": f"/v1/reports/{i}/report.pdf"})
               for i, b in enumerate(MAIN.values())]
    assert _png_size(charts.forest_plot(entries[:1])) == _png_size(charts.forest_plot(entries))
    _png_size(charts.forest_plot([]))


def test_catalogue_entry_applies_the_same_disclosure_control():
    e = catalogue_entry(degenerate())
    assert e.rate_treated is None and e.rate_comparison is None and e.rate_difference == pytest.approx(-9.4)
    assert e.significant is True and e.verdict == "Significant reduction"
    e = catalogue_entry(significant_increase())
    assert e.rate_treated == 31.9 and e.verdict == "Significant increase" and e.n_treated == 548


def test_catalogue_page_lists_every_report_newest_first_with_a_forest_plot():
    entries = []
    for i, (name, build) in enumerate(MAIN.items()):
        e = catalogue_entry(build(), links={"pdf": f"/v1/reports/{name}/report.pdf",
                                            "html": f"/v1/reports/{name}/report.html"})
        entries.append(e.model_copy(update={"published_at": e.published_at.replace(day=1 + i)}))
    page = catalogue_html(entries)
    names = [e.programme for e in entries]
    plain = htmllib.unescape(page)
    positions = [plain.find(n) for n in names]
    assert all(p >= 0 for p in positions) and positions == sorted(positions, reverse=True)
    assert page.count('src="data:image/png;base64,') == 1
    assert '<a href="/v1/reports/degenerate/report.pdf">PDF</a>' in page
    assert not re.search(r"https?:|<script\b|<link\b", page)
    with pytest.raises(InvalidArgument, match=r"entries\[0\]"):
        catalogue_html([{"submission_id": "x"}])  # type: ignore[list-item]


def test_catalogue_entries_round_trip_as_json():
    e = catalogue_entry(non_significant(), links={"json": "/v1/reports/x/report.json"})
    assert CatalogueEntry.model_validate_json(e.model_dump_json()) == e


# --------------------------------------------------------------------------------------------
# `jdl report` and parse_result

def test_parse_result_names_the_problem_without_values():
    with pytest.raises(InvalidArgument, match="not valid JSON"):
        parse_result(b"{not json", "upload")
    with pytest.raises(InvalidArgument, match=r"not an AnalysisResult: \d+ problem\(s\), first at 'programme'"):
        parse_result(b'{"secret": "Jane Doe 1980-01-01"}', "upload")
    try:
        parse_result(b'{"programme": "Jane Doe 1980-01-01"}', "upload")
    except InvalidArgument as e:
        assert "Jane" not in str(e)
    assert parse_result(degenerate().model_dump_json()) == degenerate()


def test_cli_writes_the_three_files(tmp_path):
    from jdl_cli.main import app
    src = tmp_path / "result.json"
    src.write_text(non_significant().model_dump_json())
    res = CliRunner().invoke(app, ["report", str(src), "--out", str(tmp_path / "out"), "--threshold", "5"])
    assert res.exit_code == 0, res.output
    files = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    assert set(files) == {"report.pdf", "report.html", "report.json"}
    assert files["report.pdf"].startswith(b"%PDF") and b"<!DOCTYPE html>" in files["report.html"]
    assert json.loads(files["report.json"])["programme"]["programme"] == "Prison Education Bursaries"


@pytest.mark.parametrize("setup, expect", [
    (lambda d: d / "missing.json", "does not exist"),
    (lambda d: d, "is a directory"),
    (lambda d: (d / "x.json").write_text('{"a": 1}') and d / "x.json", "is not an AnalysisResult"),
    (lambda d: (d / "y.json").write_text("garbage") and d / "y.json", "is not valid JSON"),
])
def test_cli_bad_input_is_one_clear_line(tmp_path, setup, expect):
    from jdl_cli.main import app
    res = CliRunner().invoke(app, ["report", str(setup(tmp_path)), "--out", str(tmp_path / "o")])
    assert res.exit_code != 0
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and expect in lines[0], res.output
    assert not (tmp_path / "o").exists()


def test_cli_refuses_a_bad_threshold(tmp_path):
    from jdl_cli.main import app
    src = tmp_path / "r.json"
    src.write_text(minimal().model_dump_json())
    res = CliRunner().invoke(app, ["report", str(src), "--out", str(tmp_path / "o"), "--threshold", "0"])
    assert res.exit_code != 0 and "threshold=0 is not allowed" in res.output


def test_examples_are_internally_consistent():
    for build in (*MAIN.values(), minimal):
        r = build()
        a = r.attrition
        assert a.submitted - sum(s.removed for s in a.steps) == a.analysed == r.n_treated
        for s0, s1 in itertools.pairwise([None, *a.steps]):
            before = a.submitted if s0 is None else s0.remaining
            assert before - s1.removed == s1.remaining
        for ch in {p.characteristic for p in r.profile}:
            assert sum(p.treated_n for p in r.profile if p.characteristic == ch) <= r.n_treated
        for m in r.measures:
            if m.estimable:
                assert m.ci_low <= m.difference <= m.ci_high
                assert m.significant == (m.ci_low > 0 or m.ci_high < 0)
