"""One source of words (jdl_report.wording): the PDF, HTML, JSON and `jdl analyse` say the same
sentences; JDL rounding; the JDL page layout (main report then annex, no code names); the
organisation's own words and response, escaped and length-limited."""
from __future__ import annotations

import html as htmllib
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jdl_cli.analyse_cmd import summary_text, with_report_statements
from jdl_core.matching import MatchSpec
from jdl_core.programme import OWN_WORDS_MAX_CHARS, InvalidProgramme, load_programme
from jdl_core.result import AnalysisResult, BalanceRow
from jdl_report import _format as fmt
from jdl_report import render_all
from jdl_report import wording as W
from jdl_report.content import ANNEX_SECTIONS, build_content
from jdl_report.examples import non_significant, significant_increase, significant_reduction

T = 5


def flat(text: str) -> str:
    return " ".join(text.split())


def _with_measure(r: AnalysisResult, name: str, **update: object) -> AnalysisResult:
    ms = [m.model_copy(update=update) if m.name == name else m for m in r.measures]
    return r.model_copy(update={"measures": ms})


def one_measure_withheld() -> AnalysisResult:
    # a time to first re-offence averaged over 3 treated re-offenders would reveal outcomes
    return _with_measure(significant_reduction(), "days_to_first", n_treated=3)


def one_person() -> AnalysisResult:
    # the interval's lower bound rounds to 1 percentage point: "1 person", never "1 people"
    return _with_measure(non_significant(), "rate", treated_value=46.4, comparison_value=43.6,
                         difference=2.8, ci_low=-0.8, ci_high=6.2, p_value=0.14, significant=False)


CASES = {"significant_reduction": significant_reduction, "significant_increase": significant_increase,
         "non_significant": non_significant, "one_measure_withheld": one_measure_withheld,
         "one_person": one_person}


def pdf_pages(pdf: bytes, tmp: Path) -> list[str]:
    if not (shutil.which("pdftotext") and shutil.which("pdftoppm")):
        pytest.fail("poppler-utils is not installed (pdftoppm/pdftotext missing): run `make sysdeps`")
    f = tmp / "r.pdf"
    f.write_bytes(pdf)
    raw = subprocess.run(["pdftotext", "-raw", str(f), "-"], check=True, capture_output=True,
                         text=True, timeout=60).stdout
    return [flat(p) for p in raw.split("\f") if p.strip()]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for name, build in CASES.items():
        r = build()
        files = render_all(r, T)
        tmp = tmp_path_factory.mktemp(name)
        out[name] = {
            "result": r, "content": build_content(r, T),
            "pdf": " ".join(pdf_pages(files["pdf"], tmp)),
            "html": flat(htmllib.unescape(re.sub(r"<[^>]+>", " ", files["html"].decode()))),
            "json": json.loads(files["json"]),
            "cli": flat(summary_text(r, T)),
        }
    return out


# ---------------------------------------------------------------------------------------------
# one source of truth

@pytest.mark.parametrize("name", list(CASES))
def test_pdf_html_json_and_cli_carry_the_same_sentences(outputs, name):
    o = outputs[name]
    c = o["content"]
    sentences = [*c.estimates, *c.can_say, *c.cannot_say, c.overall]
    assert len(sentences) >= 8
    doc = o["json"]
    json_sentences = set(doc["statements"]["can_say"] + doc["statements"]["cannot_say"]
                         + doc["report"]["estimates"] + doc["report"]["summary"])
    for s in sentences:
        assert flat(s) in o["pdf"], ("pdf", s)
        assert flat(s) in o["html"], ("html", s)
        assert flat(s) in o["cli"], ("cli", s)
        assert s in json_sentences, ("json", s)
    # and the JSON's statements are the report's, in order
    assert doc["statements"]["can_say"] == list(c.can_say)
    assert doc["statements"]["cannot_say"] == list(c.cannot_say)


def test_the_sentences_follow_the_three_interval_cases(outputs):
    red = outputs["significant_reduction"]["content"]
    assert ("The number of people who committed a proven re-offence within one year could be lower by "
            "between 2 and 12 people. This is a statistically significant result.") in red.estimates
    assert any(s.endswith("has no effect on the number of proven re-offenders during a one-year period.")
               for s in red.cannot_say)
    inc = outputs["significant_increase"]["content"]
    assert inc.estimates[0].startswith("The number of people who committed a proven re-offence within "
                                       "one year could be higher by between 1 and 10 people.")
    assert ("The average time to the first proven re-offence, among people who re-offended, could be "
            "shorter by between 1 and 35 days. This is a statistically significant result.") in inc.estimates
    ns = outputs["non_significant"]["content"]
    assert ns.estimates[0] == (
        "The number of people who committed a proven re-offence within one year could be lower by as "
        "many as 8 people or higher by as many as 4 people. This is not a statistically significant "
        "result. More people would need to be analysed to determine the direction of this difference.")
    # re-offences are per 100 people: -0.35 to 0.23 per person is 35 fewer to 23 more per 100
    assert "lower by as many as 35 offences or higher by as many as 23 offences" in ns.estimates[1]
    assert any("has no effect on the number of proven re-offenders" in s for s in ns.cannot_say)
    assert any(s.endswith("decreases or increases the number of proven re-offenders during a one-year "
                          "period.") for s in ns.cannot_say)


def test_a_withheld_measure_is_said_to_be_withheld_everywhere(outputs):
    o = outputs["one_measure_withheld"]
    v = {x.measure: x for x in o["content"].verdicts}["days_to_first"]
    assert v.kind == "withheld" and v.badge == "Withheld"
    assert "fewer than 5 people in the treatment group re-offended" in v.estimate
    for where in ("pdf", "html", "cli"):
        assert flat(v.estimate) in o[where], where
    assert o["json"]["measures"][2]["note"]["kind"] == "measure_withheld"     # typed, not a string


def test_singular_person_and_rounding_cases(outputs):
    o = outputs["one_person"]
    assert ("could be lower by as many as 1 person or higher by as many as 6 people") in o["pdf"]
    assert "1 people" not in o["pdf"] + o["html"] + o["cli"]
    # 46.4% - 43.6% prints as 46% - 44% but the difference as +3: the note appears by itself
    assert fmt.ROUNDING_NOTE in o["content"].headline_table.notes
    assert fmt.ROUNDING_NOTE in o["pdf"] and fmt.ROUNDING_NOTE in o["html"]
    # parts that do add up get no note
    exact = _with_measure(non_significant(), "rate", treated_value=46.0, comparison_value=43.0,
                          difference=3.0)
    exact = _with_measure(exact, "frequency", treated_value=1.31, comparison_value=1.37, difference=-0.06)
    exact = _with_measure(exact, "days_to_first", treated_value=147.0, comparison_value=141.0,
                          difference=6.0)
    assert fmt.ROUNDING_NOTE not in build_content(exact, T).headline_table.notes
    for name, text in ((n, outputs[n]["pdf"]) for n in CASES):
        assert not re.search(r"[−-]0(?![.,]?\d)", text), name             # never "-0"
        assert "95%" in text and "<0.001" not in text


@pytest.mark.parametrize("p, printed", [(0.004, "<0.01"), (0.0049, "<0.01"), (0.005, "0.01"),
                                        (0.046, "0.05"), (0.5349, "0.53"), (1e-9, "<0.01"),
                                        (None, "-")])
def test_p_values_print_to_two_places(p, printed):
    assert fmt.p_value(p) == printed


@pytest.mark.parametrize("v, d, printed", [(-0.002, 0, "0"), (-0.4, 0, "0"), (-0.5, 0, "\u22121"),
                                           (2.5, 0, "3"), (58.04, 0, "58"), (-0.004, 2, "0.00"),
                                           (1234.5, 0, "1,235"), (0.125, 2, "0.13")])
def test_numbers_round_half_away_from_zero_and_never_print_minus_zero(v, d, printed):
    assert fmt.number(v, d) == printed
    assert fmt.number(v, d, signed=True) in (printed, "+" + printed)


def test_confidence_level_comes_from_the_spec():
    r = significant_reduction()
    r90 = r.model_copy(update={"spec": {**r.spec, "ci_level": 0.9}})
    c = build_content(r90, T)
    assert "90% confidence interval" in c.headline_table.columns
    assert all("90% confidence interval" in v.detail for v in c.verdicts if v.kind != "withheld")
    assert "95%" not in " ".join([*c.headline_table.columns, c.charts_text, c.method_text])
    assert W.confidence_level({"alpha": 0.01}) == pytest.approx(0.99)
    assert W.level_text(0.995) == "99.5%"


# ---------------------------------------------------------------------------------------------
# layout: the JDL order, the annex, no code names

CODE_NAMES = sorted({k for k in MatchSpec().to_dict() if "_" in k}
                    | {c for c in MatchSpec().covariates if "_" in c}
                    | {"prev_offences", "std_caliper", "offence_group", "disposal", "age_band",
                       "first_offender"})


def real_codes_result() -> AnalysisResult:
    """The reduction example with what the analysis really writes: a MatchSpec's keys and the
    covariate codes in the balance table and in the analysis's own poor-balance caveat."""
    r = significant_reduction()
    codes = ["distance", "age_at_index", "prev_offences", "prev_custody", "copas_rate", "ogrs_score",
             "offence_group: violence", "offence_group: other", "sex: F", "employed", "on_benefit",
             "sentence_months", "index_year", "region: london", "age_first_contact"]
    balance = [BalanceRow(covariate=c, smd_before=0.2, smd_after=0.12 if c == "prev_offences" else 0.02,
                          flag="poor" if c == "prev_offences" else "good") for c in codes]
    caveat = ("After matching, the groups still differ by more than 10% of a standard deviation on: "
              "prev_offences. Treat the results with extra caution.")
    warning = ("1054 comparison record(s) with age_band in ['up to 20'] set aside; covariate "
               "'first_offender' left out of the propensity model (constant)")
    return r.model_copy(update={"spec": MatchSpec().to_dict(), "balance": balance,
                                "caveats": [*r.caveats, caveat], "warnings": [*r.warnings, warning]})


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], list[Image.Image]]:
    files = render_all(real_codes_result(), T)
    tmp = tmp_path_factory.mktemp("codes")
    text = pdf_pages(files["pdf"], tmp)
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(tmp / "r.pdf"), str(tmp / "p")], check=True,
                   timeout=60)
    images = [Image.open(p).convert("L") for p in sorted(tmp.glob("p-*.png"))]
    return text, images


def test_no_code_name_anywhere_in_the_pdf(pages):
    text = " ".join(pages[0])
    found = [c for c in CODE_NAMES if re.search(rf"(?<![\w]){re.escape(c)}(?![\w])", text)]
    assert found == []
    assert "Previous offences" in text and "Index offence: Violence" in text
    assert "Sex: Female" in text and "Propensity score (logit)" in text
    assert "with age band in ['up to 20'] set aside; covariate 'first offence' left out" in text
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", text)          # no snake_case word at all
    assert "Confidence level 95%" in text and "Order of matching" in text
    # one sub-analysis minimum in the whole report: the analysis's own
    assert "Fewest people in a sub-analysis 60 people" in text
    assert "fewer than 60 people" in text and "fewer than 30 people" not in text


def test_main_report_then_annex_with_no_half_empty_page(pages):
    text, images = pages
    annex = next(i for i, p in enumerate(text) if "Annex: detail for statisticians" in p)
    assert 4 <= annex <= 6, annex                           # main report: pages 1..annex
    assert len(images) == len(text)
    main = " ".join(text[:annex])
    c = build_content(real_codes_result(), T)
    positions = [main.find(h) for _, h in c.present_sections()]
    assert all(p >= 0 for p in positions) and positions == sorted(positions)
    assert ANNEX_SECTIONS[0][1] not in main
    rest = " ".join(text[annex:])
    for h in ("Balance of each characteristic", "Overlap of propensity scores", "Method, data and settings"):
        assert h in rest and h not in main, h
    for i, im in enumerate(images[:annex - 1], 1):          # every main page but the last is full
        body = np.asarray(im)[int(im.size[1] * 0.08):int(im.size[1] * 0.93)]
        rows = np.nonzero((body < 200).any(axis=1))[0]
        assert rows.max() > 0.6 * body.shape[0], f"page {i} is half empty"
    # page 1: size and period, a much larger comparison group, how many were not included
    assert "The comparison group is much larger" in text[0] and "could not be included" in text[0]
    assert "The groups still differ on previous offences" in main


# ---------------------------------------------------------------------------------------------
# the organisation's voice

PROGRAMME = {"organisation": "Northgate Mentoring Trust", "org_id": "northgate", "name": "Mentoring",
             "targets": "Adults leaving prison", "delivers": "Weekly mentoring for six months",
             "selection": "Referred by prison resettlement staff; some volunteer",
             "setting": "custody", "contact_email": "team@example.org"}


def test_own_words_and_selection_route_are_printed_escaped(tmp_path):
    words = "We <b>mentor</b> people.\n<script>alert('x')</script> & we listen."
    p = load_programme({**PROGRAMME, "own_words": words})
    info = p.info()
    assert info.selection == PROGRAMME["selection"] and info.own_words == words
    r = significant_reduction().model_copy(update={"programme": info})
    files = render_all(r, T, response="We welcome the report.\nWe will <i>act</i> on it.")
    html = files["html"].decode()
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;mentor" in html
    text = " ".join(pdf_pages(files["pdf"], tmp_path))
    assert "We <b>mentor</b> people." in text and "<script>alert('x')</script> & we listen." in text
    assert "How people came to be on the programme Referred by prison resettlement staff" in text
    assert "Northgate Mentoring Trust in their own words" in text
    # the response has its own section, after the organisation's own words
    assert text.find("Response from the organisation") > text.find("in their own words") > 0
    assert "We will <i>act</i> on it." in text
    assert json.loads(files["json"])["report"]["response"].startswith("We welcome")


@pytest.mark.parametrize("own_words, expect", [
    ("fine\x07bell", "own_words contains a control character (code 0x07) at character 5"),
    ("x" * (OWN_WORDS_MAX_CHARS + 1), f"own_words: String should have at most {OWN_WORDS_MAX_CHARS}"),
])
def test_bad_own_words_are_refused_with_a_clear_message(own_words, expect):
    with pytest.raises(InvalidProgramme) as e:
        load_programme({**PROGRAMME, "own_words": own_words})
    assert expect in str(e.value)
    assert "bell" not in str(e.value)                         # the value is never echoed


def test_cli_result_json_carries_the_report_statements():
    r = with_report_statements(significant_reduction(), T)
    c = build_content(significant_reduction(), T)
    assert r.statements.can_say == list(c.can_say) and r.statements.cannot_say == list(c.cannot_say)


@pytest.mark.parametrize("response, expect", [
    ("ok\x1b[31m red", "response contains a control character (code 0x1b) at character 3"),
    ("y" * 5000, "response: 5000 characters is too long; at most 4000"),
])
def test_a_bad_response_is_refused_with_a_clear_message(response, expect):
    from jdl_core.errors import InvalidArgument
    with pytest.raises(InvalidArgument) as e:
        build_content(significant_reduction(), T, response=response)
    assert expect in str(e.value)


def test_jdl_report_prints_a_response_from_a_file(tmp_path):
    from typer.testing import CliRunner

    from jdl_cli.main import app
    src = tmp_path / "result.json"
    src.write_text(significant_reduction().model_dump_json())
    (tmp_path / "response.txt").write_text("We accept the findings.\n", encoding="utf-8")
    run = CliRunner().invoke(app, ["report", str(src), "-o", str(tmp_path / "out"), "--response",
                                   str(tmp_path / "response.txt")])
    assert run.exit_code == 0, run.output
    doc = json.loads((tmp_path / "out" / "report.json").read_text())
    assert doc["report"]["response"] == "We accept the findings."
    html = (tmp_path / "out" / "report.html").read_text()
    assert 'id="response"' in html and "We accept the findings." in html


def test_a_reason_that_would_print_a_withheld_count_is_said_without_it():
    # the time measure not estimated because "only 4 people re-offended": 4 is below the threshold,
    # and printing "only * people" next to a printed rate and group size invites the sum
    r = _with_measure(significant_reduction(), "days_to_first", estimable=False, n_treated=4,
                      reason="only 4 people in the treatment group re-offended; at least 10 "
                             "re-offenders in each group are needed", treated_value=None,
                      comparison_value=None, difference=None, ci_low=None, ci_high=None,
                      p_value=None, significant=None, direction=None)
    c = build_content(r, T)
    text = " ".join([*c.estimates, *c.can_say, *c.cannot_say, *c.headline_table.notes])
    assert "only *" not in text and "only 4" not in text
    assert "too few people in one of the groups re-offended to compare it reliably" in c.estimates[2]
    # the organisation's own duplicates and rows not found are printed even when small
    small = significant_reduction()
    steps = [s.model_copy(update={"removed": 2, "remaining": s.remaining + 19}) if s.reason == "not_found"
             else s for s in small.attrition.steps]
    d = build_content(small.model_copy(update={"attrition": small.attrition.model_copy(
        update={"steps": steps})}), T).attrition_table
    assert ("Not found in the national data", "2", "0%") == next(x for x in d.rows if x[0].startswith("Not found"))[:3]


def test_page_one_states_the_period_and_the_profile_covers_age_and_those_not_included(outputs):
    o = outputs["significant_reduction"]
    assert ("The treatment group is 321 people who took part in the programme, with index dates "
            "(release from custody or start of the order) between March 2006 and November 2009.") in o["pdf"]
    assert "Age at the index date: treatment group 18 to 63 years, average 32; comparison group average 32." in o["pdf"]
    assert "People who were not included" in o["pdf"] and "People who were not included" in o["html"]
    rows = {(r["characteristic"], r["category"]): r["n"] for r in o["json"]["not_included"]}
    assert rows[("Sex", "Male")] == 78 and rows[("Age band", "50+")] == 8
    # a small category is withheld, with a second cell so it cannot be worked out from the total
    from jdl_core.result import GroupProfileRow
    r = significant_reduction()
    small = [GroupProfileRow(characteristic="Sex", category="Male", n=88, pct=96.7),
             GroupProfileRow(characteristic="Sex", category="Female", n=3, pct=3.3)]
    d = build_content(r.model_copy(update={"not_included": small}), T).disclosed
    assert [x.n for x in d.not_included] == [None, None]


def test_not_included_percentages_cannot_reveal_a_withheld_count():
    # 1 and 5 of 6: "83%" beside 5 would give away the 1, so both go
    from jdl_core.result import GroupProfileRow
    rows = [GroupProfileRow(characteristic="Age band", category="25-34", n=1, pct=100 / 6),
            GroupProfileRow(characteristic="Age band", category="35-49", n=5, pct=500 / 6)]
    d = build_content(significant_reduction().model_copy(update={"not_included": rows}), T).disclosed
    assert [(x.n, x.pct) for x in d.not_included] == [(None, None), (None, None)]
