"""The synthetic national dataset: schema, identifiers, consistency, realism targets, the true
risk model, determinism, atomic writing and loading errors."""
from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from jdl_core import schema
from jdl_core.errors import DataError, InvalidArgument
from jdl_core.identifiers import format_pnc, is_valid_pnc, pnc_check_letter
from jdl_core.national import load_national, pandas_dtypes
from jdl_core.synth import generator as gen
from jdl_core.synth.risk import default_model, linear_predictor, load_risk_model, true_probability


@pytest.fixture(scope="module")
def complete(national) -> pd.DataFrame:
    """Events with complete follow-up, with the person's sex joined on."""
    ev = national.events[national.events["followup_complete"]]
    sex = national.people.set_index("person_key")["sex"]
    out = ev.assign(sex=ev["person_key"].map(sex).to_numpy())
    out["reoff"] = out["reoffended"].astype(float)
    return out


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- schema ------------------------------------------------------------------------------------
def test_files_and_columns_follow_the_schema(national, national_dir):
    for fname, cols in ((schema.PEOPLE_FILE, schema.PEOPLE_COLUMNS),
                        (schema.ALIASES_FILE, schema.ALIAS_COLUMNS),
                        (schema.EVENTS_FILE, schema.EVENT_COLUMNS)):
        assert pq.read_schema(national_dir / fname).equals(gen.arrow_schema(cols)), fname
    for frame, cols in ((national.people, schema.PEOPLE_COLUMNS),
                        (national.aliases, schema.ALIAS_COLUMNS),
                        (national.events, schema.EVENT_COLUMNS)):
        assert list(frame.columns) == list(cols)
        assert {c: str(t) for c, t in frame.dtypes.items()} == pandas_dtypes(cols)


def test_manifest_describes_the_data(national, national_dir):
    m = national.manifest
    assert m["dataset_version"] == schema.DATASET_VERSION
    assert m["seed"] == 7 and m["generator_version"] == gen.GENERATOR_VERSION
    assert m["row_counts"] == {"people": len(national.people), "aliases": len(national.aliases),
                               "events": len(national.events)}
    assert m["schema"]["events"] == schema.EVENT_COLUMNS
    for name, info in m["files"].items():
        assert _sha(national_dir / name) == info["sha256"]
    assert set(m["files"]) == {schema.PEOPLE_FILE, schema.ALIASES_FILE, schema.EVENTS_FILE,
                               schema.RISK_MODEL_FILE}
    complete = national.events[national.events["followup_complete"]]
    assert m["base_rates"]["overall"] == pytest.approx(complete["reoffended"].astype(float).mean(),
                                                       abs=1e-4)
    custody = complete[complete["disposal"] == "custody"]
    assert m["base_rates"]["by_disposal"]["custody"] == pytest.approx(
        custody["reoffended"].astype(float).mean(), abs=1e-4)
    assert m["coverage"]["first_index_date"] >= schema.COVERAGE_START
    assert m["coverage"]["last_index_date"] <= schema.COVERAGE_END
    text = json.dumps(m)
    # reproducible: no wall-clock times, no host paths
    assert not re.search(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:", text)
    assert "created" not in text and str(national_dir) not in text


# --- people and identifiers --------------------------------------------------------------------
def test_pnc_ids_are_valid_unique_and_canonical(national):
    pnc = national.people["pnc_id"]
    assert pnc.notna().all() and pnc.is_unique
    assert all(re.fullmatch(r"\d{4}/\d{7}[A-Z]", p) for p in pnc)
    assert all(is_valid_pnc(p) for p in pnc)
    # PNC year is the year of first contact: never before birth nor after the first index event
    year = pnc.str.slice(0, 4).astype(int).to_numpy()
    birth = national.people["date_of_birth"].dt.year.to_numpy()
    first = national.events.groupby("person_key")["index_year"].min().to_numpy()
    assert (year >= birth + 9).all() and (year <= first).all()


def test_vectorised_check_letter_matches_identifiers_module():
    rng = np.random.default_rng(0)
    years = np.r_[rng.integers(1960, 2011, 3000), np.full(3000, 2008)]  # many in one year
    ids = gen._pnc_ids(years, rng).to_pylist()
    assert len(set(ids)) == len(ids)
    for pid, year in zip(ids, years):
        y, s, c = int(pid[:4]), int(pid[5:12]), pid[12]
        assert y == year and 1 <= s <= 9_999_999 and c == pnc_check_letter(y, s)
        assert pid == format_pnc(y, s)


def test_prison_numbers_valid_unique_and_only_for_people_ever_in_custody(national):
    people, ev = national.people, national.events
    pn = people["prison_number"]
    present = pn.notna().to_numpy()
    assert all(re.fullmatch(r"[A-Z]\d{4}[A-Z]{2}", p) for p in pn.dropna())
    assert pn.dropna().is_unique
    custody_people = set(ev.loc[ev["disposal"] == "custody", "person_key"])
    custody_people |= set(ev.loc[ev["prev_custody"] > 0, "person_key"])
    ever = people["person_key"].isin(custody_people).to_numpy()
    assert np.array_equal(present, ever)
    assert 0.2 < present.mean() < 0.8


def test_people_demographics_and_name_frequencies(national):
    p = national.people
    assert 0.83 < (p["sex"] == "M").mean() < 0.87
    assert set(p["sex"].unique()) == {"M", "F"}
    assert set(p["ethnicity"].unique()) == set(schema.ETHNICITIES)
    counts = p["surname"].value_counts()
    assert counts.index[0] == "Smith"
    assert counts["Smith"] > 2 * counts.get("Wilson", 0) > 0  # realistic skew, not uniform
    assert p["surname"].nunique() > 250 and p["forename"].nunique() > 200
    male_names = set(p.loc[p["sex"] == "M", "forename"].value_counts().index[:20])
    assert {"David", "Michael", "Paul", "Mark", "John"} <= male_names
    assert (p["date_of_birth"].dt.year.between(1915, 1992)).all()


def test_aliases_cover_about_a_seventh_and_differ_from_the_main_record(national):
    # a tenth from the generator, more from the typical realism's surname changes, nicknames and
    # one-part forms of double-barrelled surnames (synth/noise.py)
    p = national.people.set_index("person_key")
    a = national.aliases
    share = a["person_key"].nunique() / len(p)
    assert 0.12 < share < 0.18
    main = p.loc[a["person_key"]]
    same = ((main["forename"].to_numpy() == a["forename"].to_numpy())
            & (main["surname"].to_numpy() == a["surname"].to_numpy())
            & (main["date_of_birth"].to_numpy() == a["date_of_birth"].to_numpy()))
    assert not same.any()
    other_dob = main["date_of_birth"].to_numpy() != a["date_of_birth"].to_numpy()
    assert 0.05 < other_dob.mean() < 0.25  # occasionally a different date of birth
    assert (main["surname"].to_numpy() != a["surname"].to_numpy()).mean() > 0.5


# --- index events ------------------------------------------------------------------------------
def test_event_dates_follow_the_disposal_rules(national):
    ev = national.events
    assert ev["event_id"].tolist() == list(range(len(ev)))
    assert set(ev["disposal"].unique()) == set(schema.DISPOSALS)
    assert set(ev["offence_group"].unique()) <= set(schema.OFFENCE_GROUPS)
    assert set(ev["region"].unique()) == set(schema.REGIONS)
    assert ev["index_date"].between(schema.COVERAGE_START, schema.COVERAGE_END).all()
    assert (ev["index_year"] == ev["index_date"].dt.year).all()
    cu = ev[ev["disposal"] == "custody"]
    assert (cu["start_date"] < cu["index_date"]).all() and (cu["end_date"] == cu["index_date"]).all()
    assert (cu["sentence_months"] > 0).all()
    # release after about half the sentence
    served = (cu["index_date"] - cu["start_date"]).dt.days / (cu["sentence_months"] * 30.4375)
    assert served.between(0.45, 0.55).all()
    co = ev[ev["disposal"] == "community"]
    assert (co["index_date"] == co["start_date"]).all() and (co["end_date"] > co["start_date"]).all()
    ca = ev[ev["disposal"] == "caution"]
    assert (ca["start_date"] == ca["index_date"]).all() and (ca["end_date"] == ca["index_date"]).all()
    assert (ca["sentence_months"] == 0).all()
    assert set(national.people["person_key"]) == set(ev["person_key"])  # everyone has an event
    assert len(ev) / len(national.people) > 2.0  # several per person on average
    assert ev.groupby("person_key").size().max() >= 8


def test_history_is_consistent_over_each_persons_sequence(national):
    ev = national.events.sort_values(["person_key", "index_date"])
    same = (ev["person_key"].to_numpy()[1:] == ev["person_key"].to_numpy()[:-1])
    prev = ev["prev_offences"].to_numpy()
    cust = ev["prev_custody"].to_numpy()
    was_custody = (ev["disposal"] == "custody").to_numpy()
    assert (np.diff(prev)[same] >= 1).all()  # the previous index offence is now history
    assert np.array_equal(np.diff(cust)[same], was_custody[:-1][same].astype(int))
    assert (ev["index_date"].diff().dt.days.to_numpy()[1:][same] > 0).all()
    # next disposal starts after the previous custodial release
    start_next = ev["start_date"].to_numpy()[1:]
    end_prev = ev["end_date"].to_numpy()[:-1]
    assert (start_next[same & was_custody[:-1]] > end_prev[same & was_custody[:-1]]).all()
    assert (ev.groupby("person_key")["age_first_contact"].nunique() == 1).all()
    assert (ev["age_first_contact"] <= ev["age_at_index"]).all()
    assert (ev["age_first_contact"] >= 10).all() and (ev["age_at_index"] >= 18).all()
    # a re-offence within the year is the person's next index event
    reoff = ev["reoffended"].fillna(0).to_numpy()[:-1] == 1
    gap = (ev["start_date"].to_numpy()[1:] - ev["index_date"].to_numpy()[:-1]).astype(
        "timedelta64[D]").astype(int)
    days = ev["days_to_first"].fillna(0).to_numpy()[:-1]
    link = same & reoff
    assert (gap[link] > days[link]).all() and (gap[link] <= days[link] + 182).all()
    ok = ev["followup_complete"].to_numpy()[:-1] & same & ~reoff
    assert (gap[ok] > 365).all()  # no proven offence within the year for non-re-offenders


def test_as_at_index_covariates_are_computed_as_documented(national):
    ev = national.events
    dob = national.people.set_index("person_key").loc[ev["person_key"], "date_of_birth"]
    dob = pd.Series(dob.to_numpy(), index=ev.index)
    had_birthday = ((ev["index_date"].dt.month * 100 + ev["index_date"].dt.day)
                    >= (dob.dt.month * 100 + dob.dt.day))
    age = ev["index_date"].dt.year - dob.dt.year - (~had_birthday).astype(int)
    assert (age == ev["age_at_index"]).all()
    years = (ev["age_at_index"] - ev["age_first_contact"]).astype(float)
    copas = np.log((ev["prev_offences"] + 1.0) / (years + 10.0))
    assert np.allclose(copas, ev["copas_rate"], atol=1e-5)
    assert ev["ogrs_score"].between(0, 100).all()
    # OGRS-style score ranks risk: it rises with previous offences
    assert ev.groupby(pd.cut(ev["prev_offences"], [-1, 0, 5, 1000]), observed=True)[
        "ogrs_score"].mean().is_monotonic_increasing
    assert 0.2 < ev["employed"].mean() < 0.5 and 0.25 < ev["on_benefit"].mean() < 0.5
    # benefit is much commoner among the unemployed
    assert ev.loc[~ev["employed"], "on_benefit"].mean() > ev.loc[ev["employed"], "on_benefit"].mean() + 0.2


def test_followup_and_outcome_columns(national):
    ev = national.events
    limit = pd.Timestamp(schema.FOLLOWUP_END) - pd.Timedelta(
        days=schema.FOLLOWUP_DAYS + schema.PROVING_DAYS)
    assert ((ev["index_date"] <= limit) == ev["followup_complete"]).all()
    # outcomes are observed to 2012-06-30: every 2002-2010 index event, 2010 included, has its
    # one-year follow-up and proving period (intended change of dataset 1.1; was 0 of 2010)
    assert not (~ev["followup_complete"]).any()
    assert ev.loc[ev["index_year"] == 2010, "reoffended"].notna().all()
    assert (ev["index_year"] == 2010).sum() > 1000
    c = ev[ev["followup_complete"]]
    assert c["reoffended"].notna().all() and c["reoffence_count"].notna().all()
    r = c["reoffended"] == 1
    assert (c.loc[r, "reoffence_count"] >= 1).all() and (c.loc[~r, "reoffence_count"] == 0).all()
    assert c.loc[r, "days_to_first"].between(1, 365).all()
    assert c.loc[~r, "days_to_first"].isna().all()
    # re-offenders offend more than once on average; the first re-offence comes early
    assert 2.0 < c.loc[r, "reoffence_count"].astype(float).mean() < 4.0
    assert 80 < c.loc[r, "days_to_first"].astype(float).mean() < 160


# --- realism targets (methodology.md section 1), on events with complete follow-up -------------
def test_overall_rate_and_disposals(complete):
    overall = complete["reoff"].mean()
    assert 0.22 <= overall <= 0.30
    by = complete.groupby("disposal")["reoff"].mean()
    assert by["caution"] < by["community"] and by["caution"] < by["custody"]
    cu = complete[complete["disposal"] == "custody"]
    short = cu.loc[cu["sentence_months"] < 12, "reoff"]
    assert short.size > 5000 and short.mean() >= 0.47  # target >= 45%, with margin for sampling


def test_rate_rises_with_previous_offences(complete):
    band = pd.cut(complete["prev_offences"], [-1, 0, 2, 6, 10, 10**6],
                  labels=["0", "1-2", "3-6", "7-10", "11+"])
    rates = complete.groupby(band, observed=True)["reoff"].agg(["mean", "size"])
    assert (rates["size"] > 3000).all()
    assert (np.diff(rates["mean"].to_numpy()) > 0.04).all()  # steep, not just monotone


def test_rate_falls_with_age(complete):
    band = pd.cut(complete["age_at_index"], [0, 20, 24, 29, 39, 49, 200],
                  labels=["18-20", "21-24", "25-29", "30-39", "40-49", "50+"])
    rates = complete.groupby(band, observed=True)["reoff"].agg(["mean", "size"])
    assert (rates["size"] > 2000).all()
    assert (np.diff(rates["mean"].to_numpy()) < -0.01).all()


def test_women_lower_than_men(complete):
    by = complete.groupby("sex")["reoff"].mean()
    assert by["F"] < by["M"] - 0.05


# --- the true risk model -----------------------------------------------------------------------
def test_risk_model_file_recomputes_probabilities_matching_observed_rates(national, national_dir,
                                                                         complete):
    model = load_risk_model(national_dir)
    assert model == default_model() and model["formula"]
    p = true_probability(complete, model=model)
    y = complete["reoff"].to_numpy()
    se = np.sqrt(np.sum(p * (1 - p))) / p.size
    assert abs(p.mean() - y.mean()) < 4 * se
    # calibrated in every decile of risk, not just on average
    dec = pd.qcut(p, 10, labels=False)
    for d in range(10):
        m = dec == d
        se_d = np.sqrt(np.sum(p[m] * (1 - p[m]))) / m.sum()
        assert abs(p[m].mean() - y[m].mean()) < 4.5 * se_d
    # joining sex from people gives the same answer as a frame that has it
    p2 = true_probability(complete.drop(columns="sex"), people=national.people, model=model)
    assert np.allclose(p, p2)


def test_coefficients_are_recovered_by_logistic_regression(complete):
    """Known answer: fitting the documented terms to the data recovers the coefficients."""
    model = default_model()
    cols = []
    for term in model["terms"]:
        one = {"terms": [dict(term, coef=1.0)]}
        cols.append(linear_predictor(complete, one))
    x = np.column_stack(cols)
    y = complete["reoff"].to_numpy()
    beta = np.zeros(x.shape[1])
    for _ in range(25):  # Newton-Raphson for the logistic likelihood (a few lines, no threads)
        p = 1.0 / (1.0 + np.exp(-x @ beta))
        hess = (x * (p * (1 - p))[:, None]).T @ x
        step = np.linalg.solve(hess, x.T @ (y - p))
        beta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    bse = np.sqrt(np.diag(np.linalg.inv(hess)))
    truth = np.array([t["coef"] for t in model["terms"]])
    z = (beta - truth) / bse
    assert np.all(np.abs(z) < 4.5), dict(zip([t["name"] for t in model["terms"]], z.round(1)))


def test_generator_and_readers_evaluate_categorical_terms_alike():
    model = default_model()
    frame = pd.DataFrame({
        "age_at_index": [19, 45], "sex": ["F", "M"], "prev_offences": [0, 12], "prev_custody": [0, 3],
        "copas_rate": [-2.3, -0.5], "disposal": ["caution", "custody"], "sentence_months": [0.0, 6.0],
        "offence_group": ["theft", "fraud"], "employed": [True, False], "on_benefit": [False, True],
        "region": ["London", "Wales"], "index_year": [2004, 2008]})
    codes = frame.assign(
        sex=[1, 0], disposal=[2, 0], offence_group=[schema.OFFENCE_GROUPS.index("theft"),
                                                    schema.OFFENCE_GROUPS.index("fraud")],
        region=[schema.REGIONS.index("London"), schema.REGIONS.index("Wales")])
    codes = {k: np.asarray(v) for k, v in codes.items()}
    codes["sex"] = codes["sex"].astype(np.int8)
    assert np.allclose(linear_predictor(frame, model), linear_predictor(codes, model))
    # hand computation for the first row
    by = {t["name"]: t["coef"] for t in model["terms"]}
    eta0 = (by["intercept"] + by["age"] * (19 - 30) / 10 + by["age 18-20"] + by["female"]
            + by["copas rate"] * (-2.3 + 1.0) + by["caution"] + by["offence: theft"]
            + by["employed"] + by["region: London"] + by["index year"] * (2004 - 2006))
    assert linear_predictor(frame, model)[0] == pytest.approx(eta0)


# --- determinism, atomic writing, loading errors -----------------------------------------------
def test_same_seed_same_bytes_different_seed_different(tmp_path):
    a = gen.generate_national(3000, 11, tmp_path / "a")
    b = gen.generate_national(3000, 11, tmp_path / "b")
    c = gen.generate_national(3000, 12, tmp_path / "c")
    names = [schema.PEOPLE_FILE, schema.ALIASES_FILE, schema.EVENTS_FILE, schema.RISK_MODEL_FILE,
             schema.MANIFEST_FILE]
    for n in names:
        assert _sha(tmp_path / "a" / n) == _sha(tmp_path / "b" / n), n
    assert a == b
    for n in (schema.PEOPLE_FILE, schema.ALIASES_FILE, schema.EVENTS_FILE, schema.MANIFEST_FILE):
        assert _sha(tmp_path / "a" / n) != _sha(tmp_path / "c" / n), n
    assert c["seed"] == 12


def test_same_bytes_in_another_process_with_another_hash_seed(tmp_path):
    import os
    import subprocess
    import sys

    gen.generate_national(2000, 5, tmp_path / "here")
    code = ("import sys; from jdl_core.synth.generator import generate_national; "
            "generate_national(2000, 5, sys.argv[1])")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "there")], check=True, env=env)
    for f in sorted((tmp_path / "here").iterdir()):
        assert _sha(f) == _sha(tmp_path / "there" / f.name), f.name


def test_failure_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    def boom(data, directory, seed, people):
        pq.write_table(data.people, directory / schema.PEOPLE_FILE)
        raise RuntimeError("disk full")

    monkeypatch.setattr(gen, "write_tables", boom)
    with pytest.raises(RuntimeError):
        gen.generate_national(500, 1, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_target_rules(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidArgument, match="existing file"):
        gen.generate_national(100, 1, tmp_path / "file")
    with pytest.raises(InvalidArgument, match="does not exist"):
        gen.generate_national(100, 1, tmp_path / "missing" / "out")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("keep me")
    with pytest.raises(InvalidArgument, match="not empty"):
        gen.generate_national(100, 1, tmp_path / "busy", overwrite=True)
    assert (tmp_path / "busy" / "notes.txt").read_text() == "keep me"
    for bad in (0, -5, 2.5, True):
        with pytest.raises(InvalidArgument, match="people"):
            gen.generate_national(bad, 1, tmp_path / "x")
    with pytest.raises(InvalidArgument, match="seed"):
        gen.generate_national(10, -1, tmp_path / "x")
    # an empty directory is fine; an existing dataset is replaced only with overwrite
    (tmp_path / "empty").mkdir()
    gen.generate_national(200, 1, tmp_path / "empty")
    with pytest.raises(InvalidArgument, match="not empty"):
        gen.generate_national(200, 2, tmp_path / "empty")
    m = gen.generate_national(200, 2, tmp_path / "empty", overwrite=True)
    assert load_national(tmp_path / "empty").manifest == m and m["seed"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy", "empty", "file"]


def test_load_national_errors_are_clear(tmp_path, national_dir):
    with pytest.raises(DataError, match="does not exist"):
        load_national(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="manifest.json"):
        load_national(tmp_path / "empty")
    d = tmp_path / "old"
    gen.generate_national(200, 3, d)
    m = json.loads((d / schema.MANIFEST_FILE).read_text())
    m["dataset_version"] = "0.1"
    (d / schema.MANIFEST_FILE).write_text(json.dumps(m))
    with pytest.raises(DataError, match="version '0.1'"):
        load_national(d)
    m["dataset_version"] = schema.DATASET_VERSION
    (d / schema.MANIFEST_FILE).write_text(json.dumps(m))
    load_national(d, verify=True)
    (d / schema.ALIASES_FILE).write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match="sha256"):
        load_national(d, verify=True)
    with pytest.raises(DataError, match="cannot be read"):
        load_national(d)
    (d / schema.EVENTS_FILE).unlink()
    with pytest.raises(DataError, match="missing events.parquet"):
        load_national(d)


def test_repr_has_no_personal_data(national):
    text = repr(national)
    assert national.people["surname"].iloc[0] not in text
    assert national.people["pnc_id"].iloc[0] not in text and "people=40000" in text


@pytest.mark.slow
def test_default_size_is_fast_and_large_enough(tmp_path):
    started = time.perf_counter()
    m = gen.generate_national(gen.DEFAULT_PEOPLE, gen.DEFAULT_SEED, tmp_path / "d")
    assert time.perf_counter() - started < 15
    assert m["row_counts"]["events"] >= 200_000
    assert 0.22 <= m["base_rates"]["overall"] <= 0.30
