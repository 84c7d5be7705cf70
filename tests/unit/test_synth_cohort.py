"""Sample cohorts: template format, the truth, the promised noise, selection bias, writing."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jdl_core import schema
from jdl_core.cohort import validate_cohort
from jdl_core.errors import InvalidArgument
from jdl_core.identifiers import is_valid_pnc, is_valid_prison_number
from jdl_core.index_events import select_index_events
from jdl_core.synth import cohort as C
from jdl_core.synth import names, noise

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


def _valid(truth: pd.DataFrame) -> np.ndarray:
    return (truth["expected"] != "invalid_row").to_numpy()


def test_upload_is_in_the_template_format(custody):
    up, truth = custody
    assert list(up.columns) == [*schema.UPLOAD_REQUIRED, *schema.UPLOAD_OPTIONAL]
    ok = up[_valid(truth)]      # rows broken on purpose are checked in their own test
    for col in ("date_of_birth", "intervention_start", "intervention_end"):
        assert ok[col].str.fullmatch(r"\d{2}/\d{2}/\d{4}").all(), col
        _dates(ok[col])  # every one is a real date
    assert set(ok["sex"]) == {"M", "F", "Male", "Female"}
    assert 0.2 < ok["sex"].isin(["Male", "Female"]).mean() < 0.45
    assert (up["setting"] == "custody").all()
    assert up["forename"].notna().all() and up["surname"].notna().all()
    assert (_dates(ok["intervention_end"]) > _dates(ok["intervention_start"])).all()
    assert _dates(ok["intervention_start"]).between(schema.COVERAGE_START, schema.COVERAGE_END).all()
    assert up["other_id"].str.fullmatch(r"REF\d{6}").all()
    assert list(truth.columns) == list(C.TRUTH_COLUMNS)
    assert truth["row_number"].tolist() == list(range(1, len(up) + 1))
    assert set(truth["expected"]) == set(C.EXPECTED)


def test_truth_points_at_the_intended_index_event(national, custody, community):
    for setting, (up, truth) in (("custody", custody), ("community", community)):
        keep = (truth["expected"] == "analysed").to_numpy()
        u, t, person, event = _joined(national, up[keep].reset_index(drop=True),
                                      truth[keep].reset_index(drop=True))
        assert (event["person_key"].to_numpy() == t["person_key"].to_numpy()).all()
        assert (event["disposal"] == setting).all() and event["followup_complete"].all()
        assert t["person_key"].is_unique  # one analysable row per person
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


def _kinds(truth: pd.DataFrame) -> pd.Series:
    k = truth["noise"].str.split(";").explode()
    return k[k != ""].value_counts()


def test_who_is_submitted_is_as_promised(custody):
    up, truth = custody
    r = noise.realism("typical")
    firsts = truth[~truth["is_duplicate"]]
    assert len(firsts) == SIZE
    kinds = _kinds(firsts)
    assert kinds["not_in_data"] == round(r.not_in_data * SIZE) == firsts["person_key"].isna().sum()
    assert kinds["no_sentence"] == round(r.no_sentence * SIZE)
    assert kinds["far_from_sentence"] == round(r.far_from_sentence * SIZE)
    assert firsts["event_id"].isna().sum() == kinds[["not_in_data", "no_sentence",
                                                     "far_from_sentence"]].sum()
    dups = _kinds(truth[truth["is_duplicate"]])
    assert dups["duplicate"] == round(r.duplicate * SIZE)
    assert dups["near_duplicate"] == round(r.near_duplicate * SIZE)
    assert len(up) == SIZE + dups["duplicate"] + dups["near_duplicate"]


def test_row_noise_rates_are_as_promised(national, custody):
    up, truth = custody
    r = noise.realism("typical")
    rows = truth[~truth["is_duplicate"] & truth["person_key"].notna()]
    n = len(rows)
    kinds = _kinds(rows)
    assert kinds["typo"] == round(r.typo * n)
    assert 0.25 * r.nickname * n < kinds["nickname"] <= r.nickname * n     # of formal names only
    assert kinds["spelling_variant"] > 0 and kinds["dob_wrong_year"] == round(r.dob_wrong_year * n)
    assert kinds["dob_transposed"] == round(r.dob_transposed * n)
    women = (national.people.set_index("person_key").loc[rows["person_key"].astype(int), "sex"]
             == "F").sum()
    assert kinds.get("new_surname", 0) == round(r.new_surname_female * women) + round(
        r.new_surname_male * (n - women))
    pnc = up.loc[rows.index, "pnc_id"]
    assert abs(pnc.notna().mean() - r.pnc_given_custody) < 0.02
    invalid = _kinds(truth[~truth["is_duplicate"]])[list(noise.BREAKS)].sum()
    assert invalid == round(r.invalid_row * (SIZE))


def test_noise_rows_are_what_the_truth_says(national, custody):
    up, truth = custody
    keep = (truth["person_key"].notna() & ~truth["is_duplicate"]).to_numpy() & _valid(truth)
    u, t, person = _joined_people(national, up[keep].reset_index(drop=True),
                                     truth[keep].reset_index(drop=True))
    applied = t["noise"]

    def has(kind):
        return applied.str.contains(kind).to_numpy()

    name_kinds = ("alias", "typo", "nickname", "spelling_variant", "hyphen_one_part", "new_surname")
    any_name = np.any([has(k) for k in name_kinds], axis=0)
    fore_same = u["forename"].to_numpy() == person["forename"].to_numpy()
    sur_same = u["surname"].to_numpy() == person["surname"].to_numpy()
    assert (fore_same & sur_same)[~any_name].all()

    def alone(kind):  # the row's only name kind (identifier and date kinds may come with it)
        return has(kind) & (np.sum([has(k) for k in name_kinds], axis=0) == 1)

    assert not (fore_same & sur_same)[any_name & ~has("alias")].any()
    nick = alone("nickname")
    assert nick.sum() > 0
    assert all(f in names.nicknames(p) for f, p in zip(u["forename"][nick], person["forename"][nick]))
    var = alone("spelling_variant")
    assert var.sum() > 0
    assert all(f in names.known_variants(pf) or s in names.known_variants(ps)
               for f, s, pf, ps in zip(u["forename"][var], u["surname"][var],
                                       person["forename"][var], person["surname"][var]))
    half = alone("hyphen_one_part")
    assert half.sum() > 0
    assert all(s in p.split("-") for s, p in zip(u["surname"][half], person["surname"][half]))
    dob = _dates(u["date_of_birth"])
    true_dob = person["date_of_birth"]
    dob_kinds = has("alias") | has("dob_transposed") | has("dob_wrong_year")
    assert (dob[~dob_kinds].to_numpy() == true_dob[~dob_kinds].to_numpy()).all()
    sw = has("dob_transposed") & ~has("alias")
    assert sw.sum() > 0
    assert (dob[sw].dt.day.to_numpy() == true_dob[sw].dt.month.to_numpy()).all()
    assert (dob[sw].dt.month.to_numpy() == true_dob[sw].dt.day.to_numpy()).all()
    wy = has("dob_wrong_year") & ~has("alias")
    assert wy.sum() > 0
    assert set(np.abs(dob[wy].dt.year.to_numpy() - true_dob[wy].dt.year.to_numpy())) <= {1, 10}
    pnc = u["pnc_id"]
    blank, bad = has("no_pnc"), has("bad_check_letter")
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
    assert (~given == has("no_prison_number") | person["prison_number"].isna().to_numpy()).all()
    # aliases: the name of one of the person's aliases in the national data
    al = national.aliases
    pairs = set(zip(al["person_key"], al["forename"], al["surname"]))
    used = has("alias") & ~np.any([has(k) for k in name_kinds[1:]], axis=0)
    assert used.sum() > 0
    assert all((k, f, s) in pairs for k, f, s in
               zip(t["person_key"][used], u["forename"][used], u["surname"][used]))


def _joined_people(national, upload, truth):
    """Upload rows beside the national record of the person the truth says they are."""
    keys = truth["person_key"].astype(int).to_numpy()
    person = national.people.set_index("person_key").loc[keys].reset_index()
    return upload, truth, person


def test_perfect_linkage_counts_every_row_where_the_truth_expects(national, custody, community):
    """With the truth as the links, intake and index-event selection (the service's own code)
    lose each row for the reason the truth names: invalid rows at intake, people with no
    sentence or a far one as no eligible index event, the rest analysed."""
    for setting, (up, truth) in (("custody", custody), ("community", community)):
        w = national.window
        v = validate_cohort(up.assign(row_number=truth["row_number"]), setting=setting,
                            coverage_start=w.index_start, coverage_end=w.intake_end, min_size=1)
        expect = truth["expected"].value_counts()
        exact_dups = int((truth["noise"].str.endswith("duplicate")
                          & ~truth["noise"].str.endswith("near_duplicate")
                          & (truth["expected"] == "duplicate")).sum())
        assert v.counts.invalid == expect["invalid_row"]
        assert v.counts.duplicates == exact_dups
        rows = v.rows
        key = truth.set_index("row_number").loc[rows["row_number"], "person_key"]
        links = pd.DataFrame({"row_number": rows["row_number"].to_numpy(),
                              "person_key": key.to_numpy(),
                              "status": np.where(key.isna(), "not_found", "linked_pnc")})
        sel = select_index_events(links, rows, national, setting)
        assert sel.attrition["not_found"] == expect["not_found"]
        assert sel.attrition["duplicate"] + exact_dups == expect["duplicate"]
        assert sel.attrition["no_index_event"] == expect["no_index_event"]
        kept = truth[~truth["is_duplicate"] & (truth["expected"] != "invalid_row")]
        assert sel.beyond_max_gap == _kinds(kept)["far_from_sentence"] > 0
        assert len(sel.events) == expect["analysed"]
        got = set(sel.events["event_id"])
        assert got == set(truth.loc[truth["expected"] == "analysed", "event_id"].astype(int))


def test_intake_refuses_the_broken_rows_for_the_named_reason(national, custody):
    up, truth = custody
    w = national.window
    v = validate_cohort(up.assign(row_number=truth["row_number"]), setting="custody",
                        coverage_start=w.index_start, coverage_end=w.intake_end, min_size=1)
    reason = {"blank_dob": "missing_required", "blank_sex": "missing_required",
              "month_first_dob": "invalid_date", "start_after_window": "outside_coverage"}
    by_row = {}
    for rej in v.rejections:
        by_row.setdefault(rej.row_number, set()).add(rej.reason_code)
    broken = truth[truth["expected"] == "invalid_row"]
    assert len(broken) > 0
    for row, kinds in zip(broken["row_number"], broken["noise"]):
        kind = next(k for k in kinds.split(";") if k in reason)
        assert reason[kind] in by_row[row], (kind, by_row.get(row))


def test_duplicates_follow_their_original(custody):
    up, truth = custody
    exact = truth["noise"].str.endswith(";duplicate") | (truth["noise"] == "duplicate")
    near = truth["noise"].str.endswith("near_duplicate").to_numpy()
    exact = exact.to_numpy()
    assert exact.sum() > 0 and near.sum() > 0
    assert (truth["is_duplicate"].to_numpy() == (exact | near)).all()
    rows = up.fillna("").astype(str).agg("|".join, axis=1)
    first_seen = {}
    for i, r in enumerate(rows):
        first_seen.setdefault(r, i)
    for i in np.flatnonzero(exact):
        j = first_seen[rows[i]]
        assert j < i and not exact[j]              # an exact copy of an earlier row
        assert truth.loc[j, "person_key"] is truth.loc[i, "person_key"] or \
            truth.loc[j, "person_key"] == truth.loc[i, "person_key"]
    assert rows[~exact].is_unique
    # near duplicates: the same person again, later, keyed differently and without identifiers
    for i in np.flatnonzero(near):
        key = truth.loc[i, "person_key"]
        earlier = np.flatnonzero((truth["person_key"] == key).fillna(False).to_numpy(bool)[:i]
                                 & ~near[:i])
        assert earlier.size, i
        j = earlier[0]
        assert up.loc[i, "forename"] != up.loc[j, "forename"]
        assert up.loc[i, ["surname", "date_of_birth"]].tolist() == \
            up.loc[j, ["surname", "date_of_birth"]].tolist()
        assert pd.isna(up.loc[i, "pnc_id"]) and pd.isna(up.loc[i, "prison_number"])


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
    keep = (truth["person_key"].notna() & ~truth["is_duplicate"]).to_numpy()
    u, t, person = _joined_people(national, up[keep].reset_index(drop=True),
                                     truth[keep].reset_index(drop=True))
    has = person["prison_number"].notna().to_numpy()
    given = u["prison_number"].notna().to_numpy()
    assert not (given & ~has).any()
    r = noise.realism("typical")
    assert given[has].mean() == pytest.approx(r.prison_given_community, abs=0.01)
    assert u["pnc_id"].notna().mean() == pytest.approx(r.pnc_given_community, abs=0.01)
    # most rows from a community organisation carry neither identifier
    assert (u["pnc_id"].isna() & u["prison_number"].isna()).mean() > 0.6


def test_hard_is_messier_than_typical_and_years_bound_every_intervention(national):
    _, typical = C.sample_cohort(national, 400, "community", seed=4)
    up, hard = C.sample_cohort(national, 400, "community", seed=4, realism="hard",
                               years=(2008, 2009))
    lost = {name: (t["expected"] != "analysed").mean() for name, t in
            (("typical", typical), ("hard", hard))}
    assert lost["hard"] > lost["typical"] + 0.08
    assert _kinds(hard)["no_sentence"] > _kinds(typical)["no_sentence"]
    ok = _valid(hard) & ~hard["noise"].str.contains("not_in_data").to_numpy()
    start = _dates(up.loc[ok, "intervention_start"])
    # events of 2008-2009: starts up to 30 days after an order (2010), far ones up to 455 days
    # before it (2006); the people with no sentence start inside the years themselves
    assert start.dt.year.between(2006, 2010).all()
    none = ok & hard["noise"].str.contains("no_sentence").to_numpy()
    assert _dates(up.loc[none, "intervention_start"]).dt.year.between(2008, 2009).all()


def test_without_noise_the_file_is_clean(national):
    up, truth = C.sample_cohort(national, 300, "community", "employment", seed=9, realism="clean")
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
        _, truth = C.sample_cohort(national, 800, "custody", sel, seed=21, realism="clean")
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
    ({"seed": -1}, "seed"), ({"size": 10**6}, "eligible"), ({"realism": "messy"}, "realism"),
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
