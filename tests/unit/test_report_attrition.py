"""Attrition table: a step that removed fewer than the threshold is combined with its neighbour
into one row (as statistical offices do) instead of hiding both, when the combined row gives
nothing small away; the main reasons people were lost stay visible."""
from __future__ import annotations

import json

import numpy as np
import pytest

from jdl_core.result import AnalysisResult
from jdl_report import render_all
from jdl_report.content import build_content
from jdl_report.disclosure import PUBLIC_ATTRITION, apply_disclosure
from jdl_report.examples import _attrition, all_examples, significant_reduction
from tests.report_pdf import pdf_text

T = 5
DEMO = {"invalid_row": 20, "duplicate": 30, "not_found": 50, "no_index_event": 184,
        "no_match_in_caliper": 3}


def _with(removed: dict[str, int], submitted: int = 1030) -> AnalysisResult:
    a = _attrition(submitted, removed)
    return significant_reduction().model_copy(update={
        "attrition": a, "dropped_treated": removed.get("no_match_in_caliper", 0)})


CASES = {
    "demo": DEMO,
    "two_small_steps": {**DEMO, "followup_outside_coverage": 2},
    "small_first_step": {"not_found": 50, "ambiguous": 2, "no_index_event": 60, "no_match_in_caliper": 9},
    "small_and_zero_between": {"not_found": 50, "no_index_event": 90, "no_match_in_caliper": 1},
    "combined_still_small": {"not_found": 50, "ambiguous": 1, "no_index_event": 2},
}


def _shown_reveals(raw: AnalysisResult, t: int) -> list[str]:
    """The private steps with 0 < removed < t whose count is fixed by the figures shown.

    Unknowns are the private steps' counts; every shown figure (a row's count, a running total,
    the people analysed) is a linear equation in them. A count is revealed when its unit vector
    lies in the span of those equations."""
    steps = raw.attrition.steps
    order = [s.reason for s in steps]
    d = apply_disclosure(raw, t).attrition
    n = len(steps)
    eqs: list[np.ndarray] = []
    known_public = np.zeros(n)
    for i, s in enumerate(steps):      # public steps are printed: take them as known
        if s.reason in PUBLIC_ATTRITION:
            e = np.zeros(n)
            e[i] = 1
            eqs.append(e)
            known_public[i] = 1
    end = -1
    for row in d.steps:
        first = order.index(row.combined[0] if row.combined else row.reason)
        last = order.index(row.combined[-1]) if row.combined else first
        assert first == end + 1 or all(steps[k].removed == 0 for k in range(end + 1, first))
        end = last
        if row.removed is not None:
            e = np.zeros(n)
            e[first:last + 1] = 1
            eqs.append(e)
        if row.remaining is not None:            # submitted - sum(steps up to last) = remaining
            e = np.zeros(n)
            e[:last + 1] = 1
            eqs.append(e)
    if d.analysed is not None and d.submitted is not None:
        eqs.append(np.ones(n))
    a = np.array(eqs)
    rank = np.linalg.matrix_rank(a)
    revealed = []
    for i, s in enumerate(steps):
        if s.reason in PUBLIC_ATTRITION or not 0 < s.removed < t:
            continue
        e = np.zeros(n)
        e[i] = 1
        if np.linalg.matrix_rank(np.vstack([a, e])) == rank:
            revealed.append(s.reason)
    return revealed


@pytest.mark.parametrize("name", [*CASES, *all_examples()])
def test_shown_attrition_figures_cannot_reveal_a_small_count(name):
    raw = _with(CASES[name]) if name in CASES else all_examples()[name]
    assert _shown_reveals(raw, T) == [], name
    d = apply_disclosure(raw, T).attrition
    for s in d.steps:       # and no row shows a small count of its own
        assert s.reason in PUBLIC_ATTRITION or s.removed is None or not 0 < s.removed < T
        assert s.remaining is None or not 0 < s.remaining < T


def test_the_main_loss_is_shown_in_a_combined_row_with_a_footnote(tmp_path):
    raw = _with(DEMO)
    c = build_content(raw, T)
    rows = c.attrition_table.rows
    assert not c.attrition_table.has_suppressed
    label = ("No eligible sentence or release for the programme, or no similar person for the "
             "comparison group")
    assert (label, "187", "18%", "743") in rows
    assert not any(r[0] == "No similar person for the comparison group" for r in rows)
    note = c.attrition_table.notes[0]
    assert note.startswith("Rows combined:") and "fewer than 5 people" in note
    assert c.disclosed.dropped_treated is None       # the caliper step's own count stays unshown
    out = render_all(raw, T)
    text = pdf_text(out["pdf"], tmp_path)
    assert f"{label} 187 18% 743" in text and "Rows combined:" in text
    html = out["html"].decode("utf-8")
    assert "187" in html and "Rows combined:" in html and "or no similar person for the comparison" in html
    doc = json.loads(out["json"])
    step = next(s for s in doc["attrition"]["steps"] if s["combined"])
    assert step["combined"] == ["no_index_event", "no_match_in_caliper"]
    assert (step["removed"], step["remaining"]) == (187, 743)
    assert step["label"] == label
    assert any("shown combined in one row" in x for x in doc["report"]["disclosure"])


def test_two_small_steps_are_combined_and_the_main_loss_stands_alone():
    rows = build_content(_with(CASES["two_small_steps"]), T).attrition_table.rows
    assert ("No eligible sentence or release for the programme", "184", "18%", "746") in rows
    assert ("One-year follow-up not covered by the data, or no similar person for the comparison "
            "group", "5", "0%", "741") in rows


def test_a_combined_count_below_the_threshold_keeps_the_suppression():
    d = apply_disclosure(_with(CASES["combined_still_small"]), T).attrition
    assert not any(s.combined for s in d.steps)
    by = {s.reason: s for s in d.steps}
    assert by["ambiguous"].removed is None and by["no_index_event"].removed is None


def test_free_text_cannot_give_the_combined_small_count_away():
    # the analysis's warning names the running total before the caliper step (930 - 184 = 746):
    # with the 743 analysed it would give the 3 dropped by matching
    raw = _with(DEMO).model_copy(update={"warnings": [
        "3 of 746 people had no comparable person in the national data and are not in the analysis."]})
    d = apply_disclosure(raw, T)
    assert d.warnings == ["* of * people had no comparable person in the national data and are not "
                          "in the analysis."]
