"""Sample cohorts: template format, the truth, the promised noise, selection bias, writing."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jdl_core import schema
from jdl_core.errors import InvalidArgument
from jdl_core.identifiers import is_valid_pnc, is_valid_prison_number
from jdl_core.synth import cohort as C

SIZE = 1000


@pytest.fixture(scope="module")
def custody(national):
    return C.sample_cohort(national, SIZE, "custody", "random", seed=5)


@pytest.fixture(scope="module")
def community(national):
    return C.sample_cohort(national, SIZE, "community", "random", seed=5)


def _dates(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, format="%d/%m/%Y")


def _joined(national, upload, truth):
    """Upload rows of people in the national data, beside their national record and event."""
    real = truth["person_key"].notna().to_numpy()
    keys = truth.loc[real, "person_key"].astype(int).to_numpy()
    person = national.people.set_index("person_key").loc[keys].reset_index()
    event = national.events.set_index("event_id").loc[
        truth.loc[real, "event_id"].astype(int).to_numpy()].reset_index()
    return upload[real].reset_index(drop=True), truth[real].reset_index(drop=True), person, event


def test_upload_is_in_the_template_format(custody):
    up, truth = custody
    assert list(up.columns) == [*schema.UPLOAD_REQUIRED, *schema.UPLOAD_OPTIONAL]
    for col in ("date_of_birth", "intervention_start", "intervention_end"):
        assert up[col].str.fullmatch(r"\d{2}/\d{2}/\d{4}").all(), col
        _dates(up[col])  # every one is a real date
    assert set(up["sex"]) == {"M", "F", "Male", "Female"}
    assert 0.2 < up["sex"].isin(["Male", "Female"]).mean() < 0.45
    assert (up["setting"] == "custody").all()
    assert up["forename"].notna().all() and up["surname"].notna().all()
    assert (_dates(up["intervention_end"]) > _dates(up["intervention_start"])).all()
    assert _dates(up["intervention_start"]).between(schema.COVERAGE_START, schema.COVERAGE_END).all()
    assert up["other_id"].str.fullmatch(r"REF\d{6}").all()
    assert list(truth.columns) == list(C.TRUTH_COLUMNS)
    assert truth["row_number"].tolist() == list(range(1, len(up) + 1))


def test_truth_points_at_the_intended_index_event(national, custody, community):
    for setting, (up, truth) in (("custody", custody), ("community", community)):
        u, t, person, event = _joined(national, up, truth)
        assert (event["person_key"].to_numpy() == t["person_key"].to_numpy()).all()
        assert (event["disposal"] == setting).all() and event["followup_complete"].all()
        firsts = t[~t["is_duplicate"]]
        assert firsts["person_key"].is_unique  # one row per person apart from exact duplicates
        start = _dates(u["intervention_start"]).to_numpy()
        if setting == "custody":
            lead = (event["index_date"].to_numpy() - start).astype("timedelta64[D]").astype(int)
            assert (lead >= 0).all() and (lead <= 180).all()
            assert (start >= event["start_date"].to_numpy()).all()  # inside the custodial spell
        else:
            lag = (start - event["start_date"].to_numpy()).astype("timedelta64[D]").astype(int)
            assert (lag >= 0).all() and (lag <= 30).all()
        _check_linkage_rule(national, setting, t["person_key"].to_numpy(), start,
                            t["event_id"].to_numpy())


def _check_linkage_rule(national, setting, keys, start, expected):
    """methodology.md section 3.3: custody -> first release on or after the intervention start;
    community -> the order in force at the start (only one), or starting next after it."""
    ev = national.events
    ev = ev[(ev["disposal"] == setting) & ev["person_key"].isin(keys)]
    by = dict(tuple(ev.groupby("person_key")))
    for key, s, want in zip(keys, start, expected):
        mine = by[key]
        if setting == "custody":
            after = mine[mine["index_date"] >= s].sort_values("index_date")
            assert after["event_id"].iloc[0] == want
        else:
            in_force = mine[(mine["start_date"] <= s) & (mine["end_date"] >= s)]
            assert in_force["event_id"].tolist() == [want]


def test_noise_is_as_promised(national, custody):
    up, truth = custody
    kinds = truth["noise"].str.split(";").explode()
    counts = kinds[kinds != ""].value_counts()
    n_dup = round(C.RATE_DUPLICATE * SIZE)
    assert len(up) == SIZE + n_dup
    assert counts["duplicate"] == n_dup == truth["is_duplicate"].sum()
    firsts = ~truth["is_duplicate"]
    assert (truth.loc[firsts, "noise"].str.split(";").explode() == "not_in_data").sum() == 20
    assert truth["person_key"].isna().sum() == 20 + truth.loc[truth["is_duplicate"], "person_key"].isna().sum()
    assert (truth.loc[firsts, "noise"].str.contains("typo")).sum() == round(C.RATE_TYPO * (SIZE - 20))
    assert (truth.loc[firsts, "noise"].str.contains("dob_transposed")).sum() == round(
        C.RATE_DOB_TRANSPOSED * (SIZE - 20))
    assert (truth.loc[firsts, "noise"].str.contains("bad_check_letter")).sum() == 5
    no_pnc = up.loc[firsts.to_numpy(), "pnc_id"].isna().mean()
    assert 0.13 < no_pnc < 0.25  # 15% blanked, plus invented people without one
    assert 0.01 < (truth.loc[firsts, "noise"].str.contains("alias")).mean() < 0.05


def test_noise_rows_are_what_the_truth_says(national, custody):
    up, truth = custody
    u, t, person, event = _joined(national, up, truth)
    noise = t["noise"]
    alias = noise.str.contains("alias").to_numpy()
    typo = noise.str.contains("typo").to_numpy()
    swapped = noise.str.contains("dob_transposed").to_numpy()
    bad = noise.str.contains("bad_check_letter").to_numpy()
    blank = noise.str.contains("no_pnc").to_numpy()
    names_same = ((u["forename"].to_numpy() == person["forename"].to_numpy())
                  & (u["surname"].to_numpy() == person["surname"].to_numpy()))
    assert names_same[~alias & ~typo].all()
    assert not names_same[typo & ~alias].any()
    dob = _dates(u["date_of_birth"])
    true_dob = person["date_of_birth"]
    plain = ~alias & ~swapped
    assert (dob[plain].to_numpy() == true_dob[plain].to_numpy()).all()
    sw = swapped & ~alias
    assert sw.sum() > 0
    assert (dob[sw].dt.day.to_numpy() == true_dob[sw].dt.month.to_numpy()).all()
    assert (dob[sw].dt.month.to_numpy() == true_dob[sw].dt.day.to_numpy()).all()
    pnc = u["pnc_id"]
    assert pnc[blank].isna().all()
    assert not any(is_valid_pnc(p) for p in pnc[bad])
    assert (pnc[bad].str.slice(0, 12).to_numpy() == person.loc[bad, "pnc_id"].str.slice(0, 12).to_numpy()).all()
    good = ~blank & ~bad
    assert (pnc[good].to_numpy() == person.loc[good, "pnc_id"].to_numpy()).all()
    # custody cohort: prison numbers are the person's own, blank only where the truth says so
    pris = u["prison_number"]
    assert pris.dropna().map(is_valid_prison_number).all()
    given = pris.notna().to_numpy()
    assert (pris[given].to_numpy() == person.loc[given, "prison_number"].to_numpy()).all()
    assert 0.85 < given.mean() < 0.95
    # aliases: name (and sometimes date of birth) of one of the person's aliases
    al = national.aliases.drop_duplicates("person_key").set_index("person_key")
    ua = u[alias]
    ka = t.loc[alias, "person_key"].astype(int).to_numpy()
    ok_alias = (ua["surname"].to_numpy() == al.loc[ka, "surname"].to_numpy()) | \
        noise[alias].str.contains("typo").to_numpy()
    assert ok_alias.all()


def test_duplicates_are_exact_copies_after_their_original(custody):
    up, truth = custody
    dup = truth["is_duplicate"].to_numpy()
    rows = up.fillna("").astype(str).agg("|".join, axis=1)
    first_seen = {}
    for i, r in enumerate(rows):
        first_seen.setdefault(r, i)
    for i in np.flatnonzero(dup):
        j = first_seen[rows[i]]
        assert j < i and not dup[j]
        assert truth.loc[j, "person_key"] is truth.loc[i, "person_key"] or \
            truth.loc[j, "person_key"] == truth.loc[i, "person_key"]
    assert rows[~dup].is_unique


def test_people_not_in_the_data_really_are_not(national, custody):
    up, truth = custody
    fake = truth["person_key"].isna().to_numpy()
    f = up[fake]
    assert f["pnc_id"].dropna().map(is_valid_pnc).all()  # well formed, but nobody's
    assert 0 < f["pnc_id"].notna().sum() < fake.sum()
    assert not f["pnc_id"].dropna().isin(set(national.people["pnc_id"])).any()
    key = national.people["forename"] + "|" + national.people["surname"] + "|" + \
        national.people["date_of_birth"].dt.strftime("%d/%m/%Y")
    assert not (f["forename"] + "|" + f["surname"] + "|" + f["date_of_birth"]).isin(set(key)).any()


def test_community_rows_rarely_carry_prison_numbers(community, national):
    up, truth = community
    u, t, person, _ = _joined(national, up, truth)
    has = person["prison_number"].notna().to_numpy()
    given = u["prison_number"].notna().to_numpy()
    assert not (given & ~has).any()
    assert 0.1 < given[has].mean() < 0.4


def test_without_noise_the_file_is_clean(national):
    up, truth = C.sample_cohort(national, 300, "community", "employment", seed=9, noise=False)
    assert len(up) == 300 and truth["person_key"].notna().all() and not truth["is_duplicate"].any()
    assert (truth["noise"] == "").all()
    u, t, person, _ = _joined(national, up, truth)
    assert (u["forename"].to_numpy() == person["forename"].to_numpy()).all()
    assert (u["surname"].to_numpy() == person["surname"].to_numpy()).all()
    assert (u["pnc_id"].to_numpy() == person["pnc_id"].to_numpy()).all()
    assert (_dates(u["date_of_birth"]).to_numpy() == person["date_of_birth"].to_numpy()).all()


def test_same_seed_same_cohort(national, custody):
    up, truth = C.sample_cohort(national, SIZE, "custody", "random", seed=5)
    pd.testing.assert_frame_equal(up, custody[0])
    pd.testing.assert_frame_equal(truth, custody[1])
    other, _ = C.sample_cohort(national, SIZE, "custody", "random", seed=6)
    assert not other.equals(up)


def _true_rate(national, truth):
    ids = truth.loc[~truth["is_duplicate"], "event_id"].dropna().astype(int)
    return national.events.set_index("event_id").loc[ids]


def test_selection_rules_bias_the_cohort_as_documented(national):
    pool = C.eligible_events(national, "custody")
    base = pool["reoffended"].astype(float).mean()
    got = {}
    for sel in C.SELECTIONS:
        _, truth = C.sample_cohort(national, 800, "custody", sel, seed=21, noise=False)
        got[sel] = _true_rate(national, truth)
    rate = {k: v["reoffended"].astype(float).mean() for k, v in got.items()}
    assert abs(rate["random"] - base) < 0.05
    assert rate["higher-risk"] > base + 0.07      # worse than average: naive comparison biased
    assert rate["lower-risk"] < base - 0.07
    assert got["higher-risk"]["ogrs_score"].mean() > pool["ogrs_score"].mean() + 5
    assert got["higher-risk"]["prev_offences"].mean() > pool["prev_offences"].mean()
    assert got["employment"]["employed"].mean() > pool["employed"].mean() + 0.15
    assert got["employment"]["age_at_index"].mean() < pool["age_at_index"].mean()


@pytest.mark.parametrize("kwargs,match", [
    ({"size": 0}, "size"), ({"size": -3}, "size"), ({"size": 2.5}, "size"),
    ({"setting": "prison"}, "setting"), ({"selection": "best"}, "selection"),
    ({"seed": -1}, "seed"), ({"size": 10**6}, "eligible"),
])
def test_bad_arguments(national, kwargs, match):
    args = {"size": 100, "setting": "custody", "selection": "random", "seed": 1, **kwargs}
    with pytest.raises(InvalidArgument, match=match):
        C.sample_cohort(national, **args)


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_write_and_read_back(tmp_path, custody, suffix):
    up, truth = custody
    path = C.write_cohort(up, tmp_path / f"cohort{suffix}")
    back = C.read_cohort(path)
    assert list(back.columns) == list(up.columns) and len(back) == len(up)
    for col in up.columns:
        a = up[col].astype(object).where(up[col].notna(), None).tolist()
        b = back[col].astype(object).where(back[col].notna(), None).tolist()
        assert a == b, col
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
    with pytest.raises(InvalidArgument, match="already exists"):
        C.write_cohort(up, path)
    C.write_cohort(truth, path, overwrite=True)
    assert len(C.read_cohort(path)) == len(truth)


def test_write_refuses_bad_paths(tmp_path, custody):
    up, _ = custody
    with pytest.raises(InvalidArgument, match=r"\.csv or \.xlsx"):
        C.write_cohort(up, tmp_path / "cohort.txt")
    with pytest.raises(InvalidArgument, match="does not exist"):
        C.write_cohort(up, tmp_path / "missing" / "cohort.csv")
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(InvalidArgument, match="directory"):
        C.write_cohort(up, tmp_path / "dir.csv")
