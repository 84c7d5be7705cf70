"""Linkage: exact identifiers, the Splink model (training, JSON round trip) and the decision rule,
checked against the generator's truth on the 40,000-person session dataset."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from jdl_core import schema
from jdl_core.cohort import validate_cohort
from jdl_core.errors import InvalidArgument, LinkageError
from jdl_core.identifiers import format_pnc
from jdl_core.linkage import (
    STATUSES,
    LinkageModel,
    link_cohort,
    load_linkage_model,
    train_linkage_model,
)
from jdl_core.linkage.model import M_FLOOR, regularise_m
from jdl_core.linkage.prepare import soundex, standardise_name
from jdl_core.linkage.probabilistic import decide
from jdl_core.national import NationalData
from jdl_core.synth.cohort import sample_cohort


@pytest.fixture(scope="module")
def model(national) -> LinkageModel:
    # Trained once per session into the fixture dataset's directory, then loaded from there.
    return load_linkage_model(national)


def _row(person: pd.Series, row_number: int = 1, **changes: object) -> dict[str, object]:
    row = {
        "row_number": row_number,
        "forename": str(person["forename"]),
        "surname": str(person["surname"]),
        "date_of_birth": pd.Timestamp(person["date_of_birth"]),
        "sex": str(person["sex"]),
        "pnc_id": pd.NA,
        "prison_number": pd.NA,
        "intervention_start": pd.Timestamp("2006-01-01"),
        "intervention_end": pd.NaT,
    }
    row.update(changes)
    return row


def _rows(*rows: dict[str, object]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows))
    frame["row_number"] = frame["row_number"].astype("int64")
    return frame


@pytest.fixture(scope="module")
def unique_people(national) -> pd.DataFrame:
    """People whose forename + surname + sex is held by nobody else (and who have no alias), so a
    probabilistic link to them is unambiguous whatever noise a test adds to the date of birth."""
    p = national.people
    key = p["forename"].astype(str) + "|" + p["surname"].astype(str) + "|" + p["sex"].astype(str)
    alone = ~key.duplicated(keep=False) & ~p["person_key"].isin(national.aliases["person_key"])
    dob = pd.to_datetime(p["date_of_birth"])
    # Day <= 12 and != month, so the day and month can be exchanged into another valid date.
    swappable = (dob.dt.day <= 12) & (dob.dt.day != dob.dt.month)
    return p.loc[alone & swappable].reset_index(drop=True)


# --- helpers with known answers ------------------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "code"),
    [("ROBERT", "R163"), ("RUPERT", "R163"), ("ASHCRAFT", "A261"), ("TYMCZAK", "T522"),
     ("PFISTER", "P236"), ("LEE", "L000"), (None, None)],
)
def test_soundex_known_codes(name, code):
    assert soundex(name) == code


@pytest.mark.parametrize(
    ("raw", "std"),
    [("O'Brien-Smith", "OBRIENSMITH"), ("  zoë ", "ZOE"), ("Mc Donald", "MCDONALD"), ("--", None),
     (None, None), (float("nan"), None)],
)
def test_standardise_name(raw, std):
    assert standardise_name(raw) == std


def test_regularise_m_makes_bayes_factors_monotone_and_keeps_sums():
    settings = {"comparisons": [{"comparison_levels": [
        {"is_null_level": True},
        {"m_probability": 0.2, "u_probability": 0.01},   # exact: BF 20
        {"m_probability": 0.6, "u_probability": 0.01},   # near spelling: BF 60 (violates)
        {"m_probability": 0.2, "u_probability": 0.98},
        {"m_probability": 0.0, "u_probability": 0.0001},  # never seen for a match: floored
    ]}]}
    out = regularise_m(settings)
    levels = out["comparisons"][0]["comparison_levels"][1:]
    m = np.array([lvl["m_probability"] for lvl in levels])
    u = np.array([lvl["u_probability"] for lvl in levels])
    bf = m / u
    assert m.sum() == pytest.approx(1.0)
    assert np.all(np.diff(bf) <= 1e-9), bf
    # exact and near spelling pooled: (0.2 + 0.6) / 0.02 = 40 before the floor's renormalisation
    assert bf[0] == pytest.approx(bf[1]) == pytest.approx(40 / (1 + M_FLOOR), rel=1e-6)
    assert m.min() > 0
    assert settings["comparisons"][0]["comparison_levels"][2]["m_probability"] == 0.6  # input untouched


def test_decide_links_clear_winners_only():
    pairs = pd.DataFrame({
        "row_number": [1, 1, 2, 2, 3],
        "person_key": [10, 11, 20, 21, 30],
        "match_weight": [12.0, 2.0, 9.0, 8.0, 1.0],
        "match_probability": [0.9998, 0.8, 0.998, 0.996, 0.6],
    })
    out = decide(pairs, np.array([1, 2, 3, 4]), threshold=0.95, margin_bits=5.0).set_index("row_number")
    assert out.loc[1, "status"] == "linked_probabilistic" and out.loc[1, "person_key"] == 10
    assert out.loc[2, "status"] == "ambiguous" and pd.isna(out.loc[2, "person_key"])
    assert out.loc[3, "status"] == "not_found" and out.loc[3, "match_probability"] == 0.6
    assert out.loc[4, "status"] == "not_found" and out.loc[4, "match_probability"] == 0.0


# --- the trained model ---------------------------------------------------------------------------

def test_model_is_saved_beside_the_data_with_the_dataset_version(national, model):
    path = national.path / schema.LINKAGE_MODEL_FILE
    stored = json.loads(path.read_text())
    manifest_sha = __import__("hashlib").sha256((national.path / schema.MANIFEST_FILE).read_bytes()).hexdigest()
    assert stored["manifest_sha256"] == manifest_sha == model.manifest_sha256
    assert stored["dataset_version"] == national.manifest["dataset_version"]
    assert stored["n_people"] == len(national.people)
    assert stored["splink_settings"]["probability_two_random_records_match"] == pytest.approx(1 / len(national.people))
    assert model.matches(national)
    # Trained without labels: exact agreement is the most likely level for a match on every field.
    for comparison in model.splink_settings["comparisons"]:
        levels = [lvl for lvl in comparison["comparison_levels"] if not lvl.get("is_null_level")]
        bayes = [lvl["m_probability"] / lvl["u_probability"] for lvl in levels]
        assert bayes[0] == max(bayes) and bayes[0] > 1 > bayes[-1], comparison["output_column_name"]
    # No names or dates of people end up in the model file.
    text = path.read_text()
    for value in national.people["surname"].value_counts().index[:20]:
        assert str(value) not in text and str(value).upper() not in text


def test_model_json_round_trip_gives_the_same_predictions(national, model, tmp_path, unique_people):
    retrained = train_linkage_model(national, tmp_path / "model.json", seed=11)
    loaded = LinkageModel.load(tmp_path / "model.json")
    assert loaded == retrained
    assert loaded.fingerprint == retrained.fingerprint
    assert loaded.splink_settings == json.loads(retrained.to_json())["splink_settings"]
    people = unique_people.iloc[:30]
    rows = _rows(*[
        _row(p, i + 1, forename=str(p["forename"])[:-1] if i % 3 == 0 else str(p["forename"]))
        for i, (_, p) in enumerate(people.iterrows())
    ])
    a = link_cohort(rows, national, model=retrained).links
    b = link_cohort(rows, national, model=loaded).links
    pd.testing.assert_frame_equal(a, b)
    assert (a["status"] == "linked_probabilistic").sum() >= 28


def test_model_file_from_another_version_is_refused(tmp_path):
    with pytest.raises(LinkageError, match="format_version"):
        LinkageModel.from_json(json.dumps({"format_version": "0"}))
    with pytest.raises(LinkageError, match="not valid JSON"):
        LinkageModel.from_json("{")
    with pytest.raises(LinkageError, match="does not exist"):
        LinkageModel.load(tmp_path / "absent.json")


# --- accuracy against the generator's truth ----------------------------------------------------

@pytest.mark.parametrize(("setting", "selection", "seed"), [("custody", "random", 3), ("community", "higher-risk", 4)])
def test_noisy_sample_cohort_precision_and_recall(national, model, setting, selection, seed):
    upload, truth = sample_cohort(national, 600, setting, selection, seed=seed)
    rows = validate_cohort(upload, setting=setting, min_size=1, today=dt.date(2011, 6, 30)).rows
    result = link_cohort(rows, national)
    # validate_cohort numbers rows as a spreadsheet does (header = row 1); truth counts from 1.
    truth = truth.assign(row_number=truth["row_number"] + 1)
    joined = result.links.merge(truth, on="row_number", suffixes=("", "_true"), validate="one_to_one")
    linked = joined[joined["person_key"].notna()]
    precision = (linked["person_key"] == linked["person_key_true"]).fillna(False).mean()
    in_data = joined[joined["person_key_true"].notna()]
    recall = (in_data["person_key"] == in_data["person_key_true"]).fillna(False).mean()
    assert precision >= 0.99, precision
    assert recall >= 0.95, recall
    assert sum(result.counts.values()) == len(rows)
    assert set(result.counts) == set(STATUSES)
    assert result.counts["linked_pnc"] > 0 and result.counts["linked_probabilistic"] > 0
    # Noise kinds meant for the probabilistic pass are linked correctly.
    for kind in ("typo", "dob_transposed", "alias"):
        rows_of_kind = in_data[in_data["noise"].str.contains(kind)]
        if len(rows_of_kind):
            hit = (rows_of_kind["person_key"] == rows_of_kind["person_key_true"]).fillna(False).mean()
            assert hit >= 0.8, (kind, hit)
    # People not in the data are never linked.
    invented = joined[joined["person_key_true"].isna()]
    assert len(invented) > 0 and invented["person_key"].isna().all()


# --- exact pass ------------------------------------------------------------------------------

def test_pnc_links_exactly_even_with_a_misspelt_name(national, model):
    person = national.people[national.people["prison_number"].notna()].iloc[5]
    rows = _rows(_row(person, 7, forename="Xq" + str(person["forename"]), pnc_id=str(person["pnc_id"])))
    out = link_cohort(rows, national).links.iloc[0]
    assert out["status"] == "linked_pnc" and out["person_key"] == person["person_key"]
    assert out["match_probability"] == 1.0


def test_prison_number_links_when_no_pnc(national, model):
    person = national.people[national.people["prison_number"].notna()].iloc[8]
    rows = _rows(_row(person, 2, prison_number=str(person["prison_number"])))
    out = link_cohort(rows, national)
    assert out.links.iloc[0]["status"] == "linked_prison_number"
    assert out.links.iloc[0]["person_key"] == person["person_key"]
    assert out.counts["linked_prison_number"] == 1


def test_pnc_beats_a_conflicting_prison_number(national, model):
    with_prison = national.people[national.people["prison_number"].notna()]
    a, b = with_prison.iloc[10], with_prison.iloc[11]
    rows = _rows(_row(a, 1, pnc_id=str(a["pnc_id"]), prison_number=str(b["prison_number"])))
    out = link_cohort(rows, national)
    assert out.links.iloc[0]["status"] == "linked_pnc" and out.links.iloc[0]["person_key"] == a["person_key"]
    assert out.diagnostics["identifier_conflict"] == 1


def test_identifier_of_someone_else_is_not_trusted(national, model, unique_people):
    """A valid PNC ID typed against another person's details is not corroborated by date of birth
    or surname, so the row is linked on its own name and date of birth instead."""
    me, other = unique_people.iloc[0], unique_people.iloc[1]
    assert me["date_of_birth"] != other["date_of_birth"]
    rows = _rows(_row(me, 1, pnc_id=str(other["pnc_id"])))
    out = link_cohort(rows, national)
    assert out.links.iloc[0]["person_key"] == me["person_key"]
    assert out.links.iloc[0]["status"] == "linked_probabilistic"
    assert out.diagnostics["identifier_not_corroborated"] == 1


def test_pnc_not_in_the_data_falls_through_to_names(national, model, unique_people):
    person = unique_people.iloc[2]
    unused = format_pnc(1999, 9_999_998)
    assert unused not in set(national.people["pnc_id"].dropna())
    out = link_cohort(_rows(_row(person, 1, pnc_id=unused)), national)
    assert out.links.iloc[0]["status"] == "linked_probabilistic"
    assert out.links.iloc[0]["person_key"] == person["person_key"]
    assert out.diagnostics["pnc_not_in_data"] == 1


# --- probabilistic pass ------------------------------------------------------------------------

def test_transposed_date_of_birth_still_links(national, model, unique_people):
    rows = []
    for i, (_, p) in enumerate(unique_people.iloc[3:13].iterrows()):
        d = pd.Timestamp(p["date_of_birth"])
        rows.append(_row(p, i + 1, date_of_birth=pd.Timestamp(d.year, d.day, d.month)))
    out = link_cohort(_rows(*rows), national).links
    expected = unique_people.iloc[3:13]["person_key"].to_numpy()
    assert (out["status"] == "linked_probabilistic").all(), out["status"].tolist()
    assert np.array_equal(out["person_key"].to_numpy(dtype="int64"), expected)


def test_typing_errors_in_names_still_link(national, model, unique_people):
    rows = []
    people = unique_people.iloc[13:25]
    for i, (_, p) in enumerate(people.iterrows()):
        fore, sur = str(p["forename"]), str(p["surname"])
        if i % 2 == 0:
            fore = fore[0] + fore[2] + fore[1] + fore[3:]   # neighbours swapped
        else:
            sur = sur + sur[-1]                               # doubled letter
        rows.append(_row(p, i + 1, forename=fore.lower(), surname=f"  {sur} "))
    out = link_cohort(_rows(*rows), national).links
    assert (out["status"] == "linked_probabilistic").all(), out["status"].tolist()
    assert np.array_equal(out["person_key"].to_numpy(dtype="int64"), people["person_key"].to_numpy())


def test_alias_names_link_to_the_person(national, model):
    aliases = national.aliases.merge(national.people[["person_key", "sex"]], on="person_key")
    counts = national.people.groupby(["forename", "surname"]).size()
    # Aliases whose name is nobody's main name, so the alias record is the only route to them.
    unused = ~pd.MultiIndex.from_frame(aliases[["forename", "surname"]].astype(str)).isin(
        counts.index.map(lambda t: (str(t[0]), str(t[1]))))
    chosen = aliases[unused].drop_duplicates("person_key").iloc[:10]
    rows = _rows(*[_row(a, i + 1) for i, (_, a) in enumerate(chosen.iterrows())])
    out = link_cohort(rows, national).links
    right = (out["person_key"].to_numpy(dtype="float") == chosen["person_key"].to_numpy()).mean()
    assert right >= 0.9, out["status"].tolist()
    assert (out["person_key"].isna() | (out["person_key"].to_numpy(dtype="float") == chosen["person_key"].to_numpy())).all()


def test_person_not_in_the_data_is_not_linked(national, model):
    rows = _rows(
        {"row_number": 1, "forename": "Zebedee", "surname": "Quattlebaum",
         "date_of_birth": pd.Timestamp("1971-03-05"), "sex": "M", "pnc_id": pd.NA, "prison_number": pd.NA},
        {"row_number": 2, "forename": "Ottoline", "surname": "Vexley-Brandt",
         "date_of_birth": pd.Timestamp("1983-11-30"), "sex": "F", "pnc_id": pd.NA, "prison_number": pd.NA},
    )
    out = link_cohort(rows, national)
    assert (out.links["status"] == "not_found").all() and out.links["person_key"].isna().all()
    assert out.counts["not_found"] == 2


def test_two_people_with_the_same_name_and_birth_date_are_ambiguous(national, model, unique_people):
    person = unique_people.iloc[30]
    twin = person.copy()
    twin["person_key"] = int(national.people["person_key"].max()) + 1
    twin["pnc_id"] = format_pnc(2001, 9_999_997)
    twin["prison_number"] = pd.NA
    people = pd.concat([national.people, twin.to_frame().T.astype(national.people.dtypes.to_dict())],
                       ignore_index=True)
    doubled = NationalData(people=people, aliases=national.aliases, events=national.events,
                           manifest=national.manifest, path=None)
    rows = _rows(_row(person, 1), _row(unique_people.iloc[31], 2))
    out = link_cohort(rows, doubled, model=model).links
    assert out.iloc[0]["status"] == "ambiguous" and pd.isna(out.iloc[0]["person_key"])
    assert out.iloc[0]["match_probability"] >= 0.95      # plausible, but so is the other person
    assert out.iloc[1]["status"] == "linked_probabilistic"
    # Against the original data the same row links: the twin is what made it ambiguous.
    assert link_cohort(rows.iloc[:1], national).links.iloc[0]["status"] == "linked_probabilistic"


def test_links_keep_row_order_and_hold_no_personal_data(national, model, unique_people):
    rows = _rows(*[_row(p, 100 - i) for i, (_, p) in enumerate(unique_people.iloc[40:45].iterrows())])
    out = link_cohort(rows, national)
    assert out.links["row_number"].tolist() == [100, 99, 98, 97, 96]
    assert list(out.links.columns) == ["row_number", "person_key", "status", "match_probability"]
    assert str(unique_people.iloc[40]["surname"]) not in repr(out)


def test_bad_arguments_are_named(national, model, unique_people):
    rows = _rows(_row(unique_people.iloc[0], 1))
    with pytest.raises(InvalidArgument, match="threshold"):
        link_cohort(rows, national, threshold=1.5)
    with pytest.raises(InvalidArgument, match="margin_bits"):
        link_cohort(rows, national, margin_bits=-1)
    with pytest.raises(LinkageError, match="repeated"):
        link_cohort(pd.concat([rows, rows]), national)
    with pytest.raises(LinkageError, match="date_of_birth") as info:
        link_cohort(rows.drop(columns=["date_of_birth"]), national)
    assert str(unique_people.iloc[0]["surname"]) not in str(info.value)
    with pytest.raises(InvalidArgument, match="LinkageModel"):
        link_cohort(rows, national, model={"not": "a model"})  # type: ignore[arg-type]


def test_empty_cohort_links_nothing(national, model):
    rows = _rows(_row(national.people.iloc[0], 1)).iloc[0:0]
    out = link_cohort(rows, national)
    assert out.links.empty and sum(out.counts.values()) == 0


def test_model_frozen_dataclass_is_reproducible_json(model):
    again = LinkageModel.from_json(model.to_json())
    assert again == model and dataclasses.asdict(again) == dataclasses.asdict(model)
