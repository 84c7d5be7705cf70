"""analyse_index_events on the national fixture: a complete, aggregate-only AnalysisResult, the
comparison pool, attrition arithmetic, and the clear errors for unsound analyses."""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from jdl_core import schema
from jdl_core.analysis import analyse_index_events, comparison_pool
from jdl_core.errors import ConstantCovariates, InvalidArgument, NoOverlap, TooFewAnalysed
from jdl_core.matching import MatchSpec
from jdl_core.national import NationalData
from jdl_core.result import AnalysisResult, ProgrammeInfo
from jdl_core.synth.cohort import sample_cohort

PROGRAMME = ProgrammeInfo(organisation="Example Trust", programme="Through the Gate",
                          description="Mentoring from three months before release",
                          setting="custody")


@pytest.fixture(scope="module")
def treated(national) -> pd.DataFrame:
    _, truth = sample_cohort(national, 300, "custody", "higher-risk", seed=21, realism="clean")
    return national.events[national.events["event_id"].isin(truth["event_id"])]


@pytest.fixture(scope="module")
def result(national, treated) -> AnalysisResult:
    return analyse_index_events(treated, national, MatchSpec(bootstrap_reps=99),
                                programme=PROGRAMME, attrition={"submitted": len(treated)},
                                submission_id="sub-0001")


def test_result_is_complete(result, treated, national_dir):
    assert result.submission_id == "sub-0001" and result.programme == PROGRAMME
    assert result.n_treated + result.dropped_treated == len(treated)
    assert result.attrition.analysed == result.n_treated
    assert 0 < result.n_comparison <= result.n_pool
    assert [m.name for m in result.measures] == ["rate", "frequency", "days_to_first"]
    assert all(m.estimable for m in result.measures)
    assert result.balance[0].covariate == "distance"
    assert {b.flag for b in result.balance} <= {"good", "acceptable", "poor"}
    # the analysis supplies figures and codes, never prose: the report's wording module makes the
    # sentences (jdl_report.wording), so every output says the same thing
    assert result.statements.can_say == [] and result.statements.cannot_say == []
    assert any("not recorded" in c for c in result.caveats)
    assert result.overlap is not None and sum(result.overlap.treated_counts) == len(treated)
    assert sum(result.overlap.matched_counts) == pytest.approx(result.n_comparison)


def test_dataset_and_spec_are_recorded(result, national_dir):
    manifest = (national_dir / "manifest.json").read_bytes()
    assert result.dataset.manifest_sha256 == hashlib.sha256(manifest).hexdigest()
    assert result.dataset.version == schema.DATASET_VERSION and result.dataset.seed == 7
    assert MatchSpec.from_dict(result.spec) == MatchSpec(bootstrap_reps=99)


def test_profile_percentages_add_up(result):
    rows = pd.DataFrame([r.model_dump() for r in result.profile])
    assert {"Sex", "Age band", "Ethnicity", "Previous offences", "Index offence",
            "Employed in the year before"} <= set(rows["characteristic"])
    sums = rows.groupby("characteristic")[["treated_pct", "comparison_pct", "treated_n"]].sum()
    np.testing.assert_allclose(sums["treated_pct"], 100.0)
    np.testing.assert_allclose(sums["comparison_pct"], 100.0)
    assert (sums["treated_n"] == result.n_treated).all()
    sex = rows[rows["characteristic"] == "Sex"].set_index("category")
    # exact matching on sex: the weighted comparison group has the same mix
    np.testing.assert_allclose(sex["treated_pct"], sex["comparison_pct"], atol=1e-9)


def test_json_round_trip_without_personal_data(result, treated, national):
    text = result.model_dump_json()
    assert AnalysisResult.model_validate_json(text) == result
    people = national.people.set_index("person_key").loc[treated["person_key"]]
    for pnc in people["pnc_id"].head(50):
        assert pnc not in text
    for fn, sn in zip(people["forename"].head(50), people["surname"].head(50)):
        assert f"{fn} {sn}" not in text
    assert '"event_id"' not in text and '"person_key"' not in text


def test_pool_is_same_disposal_and_period_without_treated_people(national, treated):
    pool = comparison_pool(national, treated)
    assert not pool["person_key"].isin(treated["person_key"]).any()
    assert set(pool["disposal"]) == {"custody"}
    assert pool["followup_complete"].all()
    years = treated["index_year"]
    assert pool["index_year"].between(years.min(), years.max()).all()
    assert {"sex", "ethnicity"} <= set(pool.columns)


def test_attrition_from_earlier_stages_is_carried_on(national, treated):
    counts = {"submitted": len(treated) + 50, "invalid_row": 10, "not_found": 25,
              "no_index_event": 15}
    r = analyse_index_events(treated, national, MatchSpec(bootstrap_reps=0),
                             programme=PROGRAMME, attrition=counts)
    steps = [(s.reason, s.removed, s.remaining) for s in r.attrition.steps]
    n = len(treated)
    assert steps[:3] == [("invalid_row", 10, n + 40), ("not_found", 25, n + 15),
                         ("no_index_event", 15, n)]
    assert r.attrition.submitted == n + 50
    assert r.attrition.steps[-1].remaining == r.attrition.analysed == r.n_treated
    assert not any("do not add up" in w for w in r.warnings)
    off = analyse_index_events(treated, national, MatchSpec(bootstrap_reps=0),
                               programme=PROGRAMME, attrition={"submitted": n + 7})
    assert any("do not add up" in w for w in off.warnings)
    with pytest.raises(InvalidArgument, match="attrition"):
        analyse_index_events(treated, national, programme=PROGRAMME, attrition=[1, 2])  # type: ignore[arg-type]


def test_incomplete_followup_and_repeated_people_are_counted(national, treated):
    ev = national.events
    # dataset 1.1 follows every event up; events of a dataset with an earlier follow-up end
    # (flag false, outcomes null) are still counted out
    incomplete = ev[(ev["disposal"] == "custody")
                    & ~ev["person_key"].isin(treated["person_key"])].head(3).copy()
    incomplete["followup_complete"] = False
    incomplete["reoffended"] = pd.NA
    again = ev[ev["person_key"].isin(treated["person_key"]) & ~ev["event_id"].isin(treated["event_id"])
               & (ev["disposal"] == "custody") & ev["followup_complete"]].head(2)
    r = analyse_index_events(pd.concat([treated, incomplete, again]), national,
                             MatchSpec(bootstrap_reps=0), programme=PROGRAMME)
    removed = {s.reason: s.removed for s in r.attrition.steps}
    assert removed["followup_outside_coverage"] == 3
    assert removed["duplicate"] == 2
    assert r.n_treated + r.dropped_treated == len(treated)


def test_too_few_people_is_a_clear_error(national, treated):
    with pytest.raises(TooFewAnalysed, match="only 40 people .* at least 60"):
        analyse_index_events(treated.head(40), national, programme=PROGRAMME)


def test_too_few_matched_is_a_clear_error(national, treated):
    with pytest.raises(TooFewAnalysed, match="comparable person") as e:
        analyse_index_events(treated.head(80), national,
                             MatchSpec(caliper=3e-5, bootstrap_reps=0), programme=PROGRAMME)
    assert "no_match_in_caliper" in str(e.value)


def test_no_comparison_pool_is_no_overlap(national, treated):
    alone = NationalData(national.people, national.aliases,
                         national.events[national.events["person_key"].isin(treated["person_key"])],
                         national.manifest, None)
    with pytest.raises(NoOverlap, match="nobody to compare"):
        analyse_index_events(treated, alone, programme=PROGRAMME)


def test_constant_covariates_are_a_clear_error(national):
    ev = national.events
    one_year = ev[(ev["disposal"] == "custody") & ev["followup_complete"]
                  & (ev["index_year"] == 2006)].drop_duplicates("person_key").head(100)
    with pytest.raises(ConstantCovariates, match="same value"):
        analyse_index_events(one_year, national, MatchSpec(covariates=("index_year",), exact=()),
                             programme=PROGRAMME)


@pytest.fixture(scope="module")
def upload(national) -> tuple[pd.DataFrame, pd.DataFrame]:
    return sample_cohort(national, 200, "custody", "higher-risk", seed=31)


def test_analyse_chains_validation_linkage_and_index_events(national, upload):
    from jdl_core.analysis import analyse

    frame, truth = upload
    r = analyse(frame, national, MatchSpec(bootstrap_reps=0), PROGRAMME)
    assert r.attrition.submitted == len(frame)
    removed = {s.reason: s.removed for s in r.attrition.steps}
    # every exact copy is a duplicate; a near duplicate is one when linkage finds its person
    exact = int((truth["is_duplicate"] & ~truth["noise"].str.contains("near_duplicate")).sum())
    assert exact <= removed.get("duplicate", 0) <= int(truth["is_duplicate"].sum())
    assert removed.get("not_found", 0) >= 1                 # noise adds people not in the data
    assert r.attrition.analysed == r.n_treated
    assert r.attrition.steps[-1].remaining == r.n_treated
    assert r.n_treated + r.dropped_treated >= 0.9 * truth["event_id"].nunique()


def test_cli_prints_the_headline_table_and_writes_the_result(national_dir, upload, tmp_path):
    from typer.testing import CliRunner

    from jdl_cli.main import app

    frame, _ = upload
    cohort = tmp_path / "cohort.csv"
    frame.to_csv(cohort, index=False)
    out = tmp_path / "result.json"
    run = CliRunner().invoke(app, ["analyse", str(cohort), "--data", str(national_dir),
                                   "--setting", "custody", "--out", str(out)])
    assert run.exit_code == 0, run.output
    assert "One-year proven re-offending rate" in run.output and "What you can say" in run.output
    result = AnalysisResult.model_validate_json(out.read_text())
    assert f"{result.n_treated:,} analysed" in run.output
    # page 1 and the profile: the period, the age range and the people not included (aggregates)
    assert result.index_period is not None and result.index_period.first <= result.index_period.last
    assert result.age is not None and 10 <= result.age.treated_min <= result.age.treated_mean <= result.age.treated_max
    not_in = sum(r.n for r in result.not_included if r.characteristic == "Sex")
    assert 0 < not_in <= result.attrition.submitted - result.n_treated
    assert not_in == sum(r.n for r in result.not_included if r.characteristic == "Age band")
    # the result's statements are the report's (one source of the words)
    assert result.statements.can_say and result.statements.can_say[0] in run.output
    bad = CliRunner().invoke(app, ["analyse", str(cohort), "--data", str(national_dir),
                                   "--setting", "prison"])
    assert bad.exit_code == 2 and "--setting" in bad.output
