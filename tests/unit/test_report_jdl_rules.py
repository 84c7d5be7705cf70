"""The report shows the JDL's rules as the analysis decided them (issue 12 part B fields): the
number needed, the n*p listing rule, the >= 30 re-offenders rule, Tables 4 to 7 and the JDL
t-test in the annex."""
from __future__ import annotations

import json

from jdl_core.result import AnalysisResult, IntervalResult, MeasureResult, NullResultInfo
from jdl_report import render_all
from jdl_report.content import build_content
from jdl_report.examples import non_significant, significant_reduction
from tests.report_pdf import pdf_text as _pdf_text

T = 5


def _measure(r: AnalysisResult, name: str, **update: object) -> AnalysisResult:
    return r.model_copy(update={"measures": [m.model_copy(update=update) if m.name == name else m
                                             for m in r.measures]})


def test_number_needed_listing_rule_and_low_numbers_sentence(tmp_path):
    r = _measure(non_significant(), "rate",
                 null_result=NullResultInfo(n_for_significance=1840, n_for_80_power=2600,
                                            detectable_difference=11.2))
    # significant by p, but fewer than 10 treated people had the outcome: not listed (JDL n*p rule)
    r = _measure(r, "frequency", significant=True, p_value=0.03, ci_low=0.02, ci_high=0.4,
                 difference=0.2, listed_significant=False, treated_events=8)
    r = _measure(r, "days_to_first", estimable=False, code="too_few_treated_reoffenders",
                 reason=None, treated_value=None, comparison_value=None, difference=None, ci_low=None,
                 ci_high=None, p_value=None, significant=None, direction=None)
    c = build_content(r, T)
    rate, freq, days = c.verdicts
    assert rate.estimate.endswith("It is estimated that about 1,840 people would need to be analysed "
                                  "in the treatment group for a difference of this size to be "
                                  "statistically significant.")
    assert ("With the 246 people analysed, a difference in the number of proven re-offenders during a "
            "one-year period of about 11 people in every 100 or more would be detected 80% of the time; "
            "about 2,600 people would give that power for the difference observed.") in c.detail_text
    assert freq.badge == "Not listed (low numbers)" and freq.significant is False
    assert "not listed as a statistically significant result, because fewer than 10 people" in freq.estimate
    assert not any(s.startswith("This analysis provides evidence that") and "re-offences" in s
                   and "increases" in s for s in c.can_say)
    assert days.estimate.endswith("has not been included in this report due to low numbers of "
                                  "re-offenders, which could give misleading results.")
    assert days.badge == "Not included (low numbers)"
    text = _pdf_text(render_all(r, T)["pdf"], tmp_path)
    for s in (rate.estimate, freq.estimate, days.estimate):
        assert s in text
    # n*p is an outcome count: 8 is published, 3 would not be
    d = build_content(_measure(r, "frequency", treated_events=3), T).disclosed
    assert d.measure("frequency").treated_events is None
    # a negligible difference: the analysis leaves the size out and says it is beyond the limit
    r2 = _measure(non_significant(), "rate", null_result=NullResultInfo(
        n_for_significance=None, n_for_80_power=None, detectable_difference=11.2, beyond_limit=True))
    assert "more than 100,000 people would need to be analysed" in build_content(r2, T).verdicts[0].estimate


def test_tables_4_to_7_and_the_jdl_t_test(tmp_path):
    base = significant_reduction()
    further = [
        MeasureResult(name="first_indictable", label="First proven re-offence indictable", unit="%",
                      difference_unit="percentage points", n_treated=321, n_comparison=1482,
                      treated_value=12.46, comparison_value=15.2, difference=-2.74, ci_low=-6.9,
                      ci_high=1.6, p_value=0.21, significant=False, jdl_measure=4),
        MeasureResult(name="custodial_sentences", label="Custodial sentences for proven re-offences",
                      unit="per person", difference_unit="per person", n_treated=321, n_comparison=1482,
                      treated_value=0.41, comparison_value=0.52, difference=-0.11, ci_low=-0.2,
                      ci_high=-0.02, p_value=0.02, significant=True, listed_significant=True, jdl_measure=7),
    ]
    ms = [m.model_copy(update={"other_intervals": [IntervalResult(method="jdl_weighted_t",
                                                                  p_value=0.0123)]})
          if m.name == "rate" else m for m in base.measures]
    r = base.model_copy(update={"further_measures": further, "measures": ms})
    c = build_content(r, T)
    assert ("tables", "Tables 4 to 7: seriousness and custody") in c.present_sections()
    assert c.further_table.rows[0][:5] == ("First proven re-offence indictable", "12%", "15%", "\u22123",
                                           "\u22127 to 2")
    assert c.further_table.rows[1][-1] == "Significant reduction"
    files = render_all(r, T)
    text = _pdf_text(files["pdf"], tmp_path)
    assert text.find("Tables 4 to 7") < text.find("Profile of the treatment") < text.find("Annex:")
    annex = text[text.find("Annex: detail for statisticians"):]
    assert "JDL t-test p-value" in annex and "All analysed One-year proven re-offending rate 0.01 0.01" in annex
    doc = json.loads(files["json"])
    assert doc["further_measures"][1]["name"] == "custodial_sentences"
    assert doc["measures"][0]["other_intervals"][0]["method"] == "jdl_weighted_t"
