"""The report shows what the analysis's checks decided (issue 12 fields): the no-reliable-comparison
gate on page 1 instead of a verdict, the E-value, the number of tests and Holm-adjusted p-values."""
from __future__ import annotations

import json
import re

from jdl_core.result import BalanceGate, Sensitivity
from jdl_report import render_all
from jdl_report.content import build_content
from jdl_report.examples import significant_reduction
from tests.report_pdf import pdf_text as _pdf_text

T = 5


def test_no_reliable_comparison_gives_no_finding_and_says_why(tmp_path):
    gate = BalanceGate(code="no_reliable_comparison", passed=False, threshold=0.1, chance_threshold=0.08,
                       failing=["prev_offences", "ogrs_score"], failing_first=["prev_offences"],
                       respecifications=["exact_offending_band", "tighter_caliper"], specification="flexible")
    r = significant_reduction().model_copy(update={"gate": gate, "verdict": False,
                                                   "specification": "flexible"})
    c = build_content(r, T)
    assert not c.reliable
    assert c.overall == ("A reliable comparison group could not be built for this cohort, so this report "
                         "gives no finding about the programme's effect: after matching, the groups still "
                         "differed on previous offences and OGRS score (predicted re-offending) by more "
                         "than 10% of a standard deviation, even after 2 documented re-specifications of "
                         "the matching.")
    assert all(v.badge == "No finding" for v in c.verdicts)
    text = _pdf_text(render_all(r, T)["pdf"], tmp_path)
    first = text[:text.find("Page 1 of")]
    assert "A reliable comparison group could not be built" in first
    assert "Significant reduction" not in text and "statistically significant result" not in text
    assert "prev_offences" not in text and "No sub-analyses are reported" in text
    annex = text[text.find("Annex: detail for statisticians"):]
    assert "Balance gate failed: no reliable comparison (key characteristics within 10% of a standard deviation)" in annex
    assert "Propensity model chosen by balance flexible" in annex


def test_the_annex_balance_table_shows_the_ks_distance_when_the_result_has_it():
    r = significant_reduction()
    rows = [b.model_copy(update={"ks_before": 0.3, "ks_after": 0.061}) for b in r.balance]
    t = build_content(r.model_copy(update={"balance": rows}), T).balance_table
    assert "KS distance after" in t.columns and t.rows[0][4] == "0.06"
    assert "KS distance after" not in build_content(r, T).balance_table.columns


def test_sensitivity_number_of_tests_and_holm_in_the_annex(tmp_path):
    base = significant_reduction()
    subs = [s.model_copy(update={"p_holm": {"rate": 0.0456}}) for s in base.subgroups]
    r = base.model_copy(update={
        "subgroups": subs, "n_tests": 14,
        "sensitivity": Sensitivity(risk_ratio=0.84, risk_ratio_ci_low=0.73, risk_ratio_ci_high=0.95,
                                   e_value=1.67, e_value_ci=1.29)})
    files = render_all(r, T)
    text = _pdf_text(files["pdf"], tmp_path)
    main = text[:text.find("Annex: detail for statisticians")]
    assert "risk ratio of at least 1.7 each (at least 1.3 to move the interval" in main
    assert "This report contains 14 significance tests" in main
    assert "The annex gives each test's p-value adjusted for the number of tests (Holm)." in main
    annex = text[text.find("Annex: detail for statisticians"):]
    assert "Holm-adjusted p-value" in annex
    assert re.search(r"Sex: Male One-year proven re-offending rate \S+ - 0\.05", annex)
    doc = json.loads(files["json"])
    assert doc["sensitivity"]["e_value"] == 1.67 and doc["subgroups"][0]["p_holm"] == {"rate": 0.0456}


def test_sub_analyses_not_run_are_listed_with_their_reason():
    base = significant_reduction()
    skipped = base.subgroups[0].model_copy(update={"variable": "completed", "level": "",
                                                    "status": "not_analysed",
                                                    "reason_code": "identifying_values", "measures": []})
    r = base.model_copy(update={"subgroups": [*base.subgroups, skipped]})
    c = build_content(r, T)
    assert ("Sub-analysis Completed: not analysed because its values could identify people (free "
            "text, dates or near-unique values).") in c.subgroup_notes
