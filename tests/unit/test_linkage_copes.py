"""Linkage that copes with messy submissions: known name variants, double-barrelled surnames,
one national person to one row, ambiguous rows that name no one, and the plain words a cohort
gets when most of it cannot be linked (report) or too few people remain (refusal)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jdl_core.analysis import _too_few_message
from jdl_core.errors import TooFewAnalysed
from jdl_core.index_events import select_index_events
from jdl_core.linkage import STATUSES, link_cohort, load_linkage_model
from jdl_core.linkage.link import one_row_per_person
from jdl_core.linkage.prepare import surname_parts
from jdl_core.linkage.quality import LinkShortfall, link_shortfall
from jdl_core.linkage.variants import forename_keys, surname_keys, variant_key
from jdl_report.content import build_content
from jdl_report.examples import _attrition, significant_reduction


@pytest.fixture(scope="module")
def model(national):
    return load_linkage_model(national)


@pytest.fixture(scope="module")
def people_alone(national) -> pd.DataFrame:
    """People whose forename + surname + sex is nobody else's and who have no alias."""
    p = national.people
    key = p["forename"].astype(str) + "|" + p["surname"].astype(str) + "|" + p["sex"].astype(str)
    alone = ~key.duplicated(keep=False) & ~p["person_key"].isin(national.aliases["person_key"])
    return p.loc[alone].reset_index(drop=True)


def _row(person: pd.Series, row_number: int, **changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "row_number": row_number, "forename": str(person["forename"]), "surname": str(person["surname"]),
        "date_of_birth": pd.Timestamp(person["date_of_birth"]), "sex": str(person["sex"]),
        "pnc_id": pd.NA, "prison_number": pd.NA, "intervention_start": pd.Timestamp("2006-01-01"),
    }
    row.update(changes)
    return row


def _rows(*rows: dict[str, object]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows))
    frame["row_number"] = frame["row_number"].astype("int64")
    return frame


# --- variants and surname parts ------------------------------------------------------------------

def test_variant_groups_join_nicknames_and_spellings_and_merge_overlaps():
    fn = forename_keys()
    assert variant_key("BILL", fn) == variant_key("WILLIAM", fn) == variant_key("LIAM", fn)
    assert variant_key("MUHAMMAD", fn) == variant_key("MOHAMED", fn)
    # Jon is short for John and for Jonathan: one key for all three
    assert variant_key("JOHN", fn) == variant_key("JONATHAN", fn)
    assert variant_key("DAVID", fn) != variant_key("WILLIAM", fn)
    assert variant_key("ZEBEDEE", fn) is None and variant_key(None, fn) is None
    sn = surname_keys()
    assert variant_key("SMYTH", sn) == variant_key("SMITH", sn)
    assert variant_key("OBRIEN", sn) is not None  # "O'Brien" standardised


@pytest.mark.parametrize(("raw", "parts"), [
    ("Smith-Jones", ("SMITH", "JONES")), ("Bonham  Carter", ("BONHAM", "CARTER")),
    ("Mc Donald", (None, None)), ("O'Brien", (None, None)), ("Smith", (None, None)), (None, (None, None)),
])
def test_surname_parts(raw, parts):
    assert surname_parts(raw) == parts


def test_model_ranks_the_new_levels_between_exact_agreement_and_disagreement(model):
    """Trained without labels, each closer agreement is worth more than the looser ones."""
    by_name = {c["output_column_name"]: c for c in model.splink_settings["comparisons"]}
    for column, labels in {
        "forename": ("Known variant of the forename", "Same Soundex code of the forename"),
        "surname": ("Known variant of the surname", "One part of a double-barrelled surname"),
        "dob_day_month": ("Day and month transposed", "Same month, another day"),
    }.items():
        levels = [lvl for lvl in by_name[column]["comparison_levels"] if not lvl.get("is_null_level")]
        bayes = {lvl["label_for_charts"]: lvl["m_probability"] / lvl["u_probability"] for lvl in levels}
        weights = [lvl["m_probability"] / lvl["u_probability"] for lvl in levels]
        assert all(np.diff(weights) <= 1e-9), column
        for label in labels:
            assert bayes[label] > weights[-1], (column, label)


def test_nicknames_and_double_barrelled_surnames_link(national, model, people_alone):
    fn = forename_keys()
    groups: dict[str, list[str]] = {}
    for name, key in fn.items():
        groups.setdefault(key, []).append(name)
    # people with a forename that has a nickname far from it in spelling (Bill for William)
    nick = {}
    for name, key in fn.items():
        others = [o for o in groups[key] if o != name and o[0] != name[0]]
        if others:
            nick[name] = sorted(others)[0]
    upper = people_alone["forename"].astype(str).str.upper()
    with_nick = people_alone.loc[upper.isin(list(nick))].iloc[:8]
    plain = people_alone.loc[~upper.isin(list(nick))].iloc[:8]
    assert len(with_nick) == 8
    rows = [_row(p, i + 1, forename=nick[str(p["forename"]).upper()].title())
            for i, (_, p) in enumerate(with_nick.iterrows())]
    rows += [_row(p, 100 + i, surname=f"{p['surname']}-Okonkwo" if i % 2 else f"Okonkwo-{p['surname']}")
             for i, (_, p) in enumerate(plain.iterrows())]
    out = link_cohort(_rows(*rows), national).links
    expected = np.r_[with_nick["person_key"].to_numpy(), plain["person_key"].to_numpy()]
    right = out["person_key"].to_numpy(dtype="float") == expected
    assert right.mean() >= 0.85, out["status"].tolist()
    assert (out["person_key"].isna() | right).all()          # never someone else


# --- one national person, one row -----------------------------------------------------------------

def test_one_row_per_person_keeps_the_strongest_claim():
    links = pd.DataFrame({
        "row_number": [1, 2, 3, 4, 5, 6, 7],
        "person_key": pd.array([10, 10, 20, 20, 30, 30, pd.NA], dtype="Int64"),
        "status": pd.array(["linked_probabilistic", "linked_pnc", "linked_probabilistic",
                            "linked_probabilistic", "linked_prison_number", "linked_prison_number",
                            "not_found"], dtype="string"),
        "match_probability": [0.99, 1.0, 0.97, 0.999, 1.0, 1.0, 0.1],
        "match_weight": [9.0, np.inf, 6.0, 11.0, np.inf, np.inf, -3.0],
    })
    out = one_row_per_person(links).set_index("row_number")
    # an identifier beats names; a higher weight beats a lower; the earlier row breaks a tie
    assert out.loc[2, "status"] == "linked_pnc" and out.loc[1, "status"] == "duplicate"
    assert out.loc[4, "status"] == "linked_probabilistic" and out.loc[3, "status"] == "duplicate"
    assert out.loc[5, "status"] == "linked_prison_number" and out.loc[6, "status"] == "duplicate"
    assert out.loc[[1, 3, 6], "person_key"].isna().all()
    assert out.loc[7, "status"] == "not_found"
    linked = out.loc[out["person_key"].notna(), "person_key"]
    assert not linked.duplicated().any()


def test_a_person_submitted_twice_is_linked_once_and_counted_as_duplicate(national, model, people_alone):
    with_pnc = people_alone.loc[people_alone["pnc_id"].notna()]
    person, other = with_pnc.iloc[3], with_pnc.iloc[4]
    rows = _rows(
        # the same person under a misspelt surname and no identifier, before the PNC row
        _row(person, 1, surname=str(person["surname"]) + "e"),
        _row(person, 2, pnc_id=str(person["pnc_id"])),
        _row(other, 3),
    )
    result = link_cohort(rows, national)
    out = result.links.set_index("row_number")
    assert out.loc[2, "status"] == "linked_pnc" and out.loc[2, "person_key"] == person["person_key"]
    assert out.loc[1, "status"] == "duplicate" and pd.isna(out.loc[1, "person_key"])
    assert out.loc[3, "status"] == "linked_probabilistic"
    assert result.counts["duplicate"] == 1 and set(result.counts) == set(STATUSES)
    assert not result.linked["person_key"].duplicated().any()
    selection = select_index_events(result, rows, national, "custody", max_gap_days=None)
    assert selection.attrition["duplicate"] == 1
    assert sum(selection.attrition.values()) + len(selection.events) == len(rows)


def test_an_ambiguous_row_names_neither_person(national, model, people_alone):
    """Two national people equal on every compared field: the row is ambiguous, unlinked, and
    nothing in the result points at either of them."""
    from jdl_core.identifiers import format_pnc
    from jdl_core.national import NationalData

    person = people_alone.iloc[40]
    twin = person.copy()
    twin["person_key"] = int(national.people["person_key"].max()) + 1
    twin["pnc_id"] = format_pnc(2001, 9_999_991)
    twin["prison_number"] = pd.NA
    people = pd.concat([national.people, twin.to_frame().T.astype(national.people.dtypes.to_dict())],
                       ignore_index=True)
    doubled = NationalData(people=people, aliases=national.aliases, events=national.events,
                           manifest=national.manifest, path=None)
    result = link_cohort(_rows(_row(person, 1)), doubled, model=model)
    row = result.links.iloc[0]
    assert row["status"] == "ambiguous" and pd.isna(row["person_key"])
    assert result.counts["ambiguous"] == 1
    text = repr(result) + repr(result.links.to_dict()) + repr(result.diagnostics)
    for key in (person["person_key"], twin["person_key"]):
        assert str(int(key)) not in text


# --- most rows not linked: the report says so; too few: the refusal says why ----------------------

def test_link_shortfall_share_counts_valid_rows_and_leaves_out_withheld_counts():
    s = link_shortfall(200, {"invalid_row": 20, "not_found": 100, "ambiguous": 8, "duplicate": 2})
    assert (s.valid_rows, s.failed) == (180, 108) and s.share == pytest.approx(0.6)
    assert s.most_failed
    assert "Most of the valid rows (60%, 108 of 180)" in s.sentence()
    assert "PNC ID" in s.sentence() and "full date of birth" in s.sentence()
    withheld = link_shortfall(200, {"not_found": 80, "ambiguous": None})
    assert withheld.failed == 80 and not withheld.most_failed
    assert not LinkShortfall(valid_rows=0, not_found=0, ambiguous=0).most_failed


def test_report_says_plainly_when_most_rows_could_not_be_linked():
    base = significant_reduction()
    steps = {s.reason: s.removed for s in base.attrition.steps}
    extra = 600
    steps["not_found"] += extra
    result = base.model_copy(update={"attrition": _attrition(base.attrition.submitted + extra, steps)})
    content = build_content(result)
    statement = [f for f in content.summary_facts if f.startswith("Most of the valid rows")]
    assert len(statement) == 1
    valid = result.attrition.submitted - steps["invalid_row"]
    share = (steps["not_found"] + steps["ambiguous"]) / valid
    assert f"({100 * share:.0f}%," in statement[0]
    # the 4 ambiguous rows are shown combined with the next step (fewer than 5): no count of a
    # combined row is attributed to "matching more than one person"
    assert f"{steps['not_found']} not found" in statement[0] and "matching more than one" not in statement[0]
    assert statement[0] in content.attrition_text
    # an ordinary cohort gets no such statement
    assert not any(f.startswith("Most of the valid rows") for f in build_content(base).summary_facts)


def test_too_few_refusal_names_the_main_reasons_and_what_to_send(national):
    steps = [("invalid_row", 3), ("duplicate", 2), ("not_found", 130), ("ambiguous", 12),
             ("no_index_event", 30)]
    text = _too_few_message(23, 60, 200, steps)
    assert text.startswith("only 23 people could be analysed, of 200 submitted; at least 60")
    assert "not found in the national data: 130 (65%)" in text
    assert text.index("not found") < text.index("no eligible index event") < text.index("more than one")
    assert "PNC IDs and full dates of birth" in text
    # the refusal reason travels in a SubmissionFailed event, capped at 500 characters
    worst = [(r, 999_999) for r in ("followup_outside_coverage", "no_index_event", "ambiguous",
                                    "invalid_row", "not_found")]
    assert len(_too_few_message(59, 60, 9_999_999, worst)) <= 500


def test_analysis_refusal_carries_the_reasons(national):
    from jdl_core.analysis import analyse_index_events
    from jdl_core.result import ProgrammeInfo

    events = national.events
    treated = events[(events["disposal"] == "custody") & events["followup_complete"]].drop_duplicates(
        "person_key").head(30)
    programme = ProgrammeInfo(organisation="Org", programme="Prog", description="A programme.",
                              setting="custody")
    attrition = {"submitted": 130, "not_found": 90, "ambiguous": 5, "no_index_event": 5}
    with pytest.raises(TooFewAnalysed) as info:
        analyse_index_events(treated, national, programme=programme, attrition=attrition)
    message = info.value.message
    assert "only 30 people could be analysed, of 130 submitted" in message
    assert "not found in the national data: 90 (69%)" in message
    assert "PNC IDs" in message


def test_linkage_stage_keeps_not_found_ambiguous_and_duplicate_apart_and_stores_probabilities(
        national, model, people_alone):
    from jdl_core.identifiers import format_pnc
    from jdl_events.events import SubmissionReceived
    from jdl_infra.crypto import KeyRing, MasterKey, generate_master_key
    from jdl_infra.objectstore import MemoryStore
    from jdl_infra.ports import get_frame_encrypted, put_frame_encrypted
    from services.linkage.handlers import LinkagePorts, handle_submission_received

    sid = "sub-" + "0" * 19 + "7"
    ev = national.events
    custody = ev[(ev["disposal"] == "custody") & ev["followup_complete"]].drop_duplicates("person_key")
    people = national.people.set_index("person_key").loc[custody["person_key"].iloc[:12]].reset_index()
    start = pd.to_datetime(custody["start_date"].iloc[:12]).to_numpy()
    rows = [_row(p, i + 1, pnc_id=str(p["pnc_id"]) if i % 2 else pd.NA, intervention_start=start[i])
            for i, (_, p) in enumerate(people.iterrows())]
    rows.append(_row(people.iloc[1], 13, pnc_id=pd.NA, intervention_start=start[1]))  # again, no PNC
    rows.append({**_row(people.iloc[0], 14, intervention_start=start[0]), "forename": "Zebedee",
                 "surname": "Quattlebaum", "pnc_id": format_pnc(1999, 9_999_993)})     # nobody
    frame = _rows(*rows)
    store = MemoryStore()
    keyring = KeyRing(store, MasterKey.from_base64(generate_master_key()))
    keyring.create_data_key(sid)
    put_frame_encrypted(store, keyring, sid, f"submissions/{sid}/cohort.parquet.enc", frame)
    event = SubmissionReceived(submission_id=sid, org_id="acme", setting="custody",
                               rows_submitted=len(frame), rows_valid=len(frame), rows_rejected=0,
                               cohort_key=f"submissions/{sid}/cohort.parquet.enc",
                               programme_key=f"submissions/{sid}/programme.json")
    ports = LinkagePorts(store=store, keyring=keyring, national=lambda: national, max_gap_days=None)
    (linked_event,) = handle_submission_received(event, ports)
    attrition = linked_event.attrition
    assert attrition["not_found"] == 1 and attrition["duplicate"] == 1 and attrition["ambiguous"] == 0
    linked = get_frame_encrypted(store, keyring, sid, linked_event.linked_key)
    assert list(linked.columns) == ["row_number", "person_key", "event_id", "status", "match_probability"]
    assert not linked["person_key"].duplicated().any()
    assert set(linked["status"]) <= {"linked_pnc", "linked_probabilistic"}
    assert (linked.loc[linked["status"] == "linked_pnc", "match_probability"] == 1.0).all()
    assert linked["match_probability"].between(0.5, 1.0).all()
    assert linked_event.n_linked == len(linked) == len(frame) - 2 - attrition.get("no_index_event", 0) \
        - attrition.get("followup_outside_coverage", 0)


# --- must show: precision and recall against the generator's truth on typical cohorts -------------

@pytest.fixture(scope="module")
def typical_cohorts(national, model) -> list[tuple[str, pd.DataFrame, pd.DataFrame]]:
    """Four typical cohorts (custody and community, two seeds each) of 400 people, validated as
    intake would; truth row numbers shifted to the spreadsheet numbering validate_cohort uses."""
    import datetime as dt

    from jdl_core.cohort import validate_cohort
    from jdl_core.synth.cohort import sample_cohort

    out = []
    for setting in ("custody", "community"):
        for seed in (21, 22):
            upload, truth = sample_cohort(national, 400, setting, "random", seed=seed, realism="typical")
            rows = validate_cohort(upload, setting=setting, min_size=1, today=dt.date(2011, 6, 30)).rows
            out.append((setting, rows, truth.assign(row_number=truth["row_number"] + 1)))
    return out


def test_typical_cohorts_link_with_the_promised_precision_and_recall(national, typical_cohorts):
    """Identifiers as the organisation gave them: precision >= 0.99 and recall >= 0.97 of the
    people submitted who are in the national data; names and dates of birth only: >= 0.98 and
    >= 0.95. No national person is ever linked to two rows."""
    from jdl_core.linkage.quality import accuracy

    for setting, rows, truth in typical_cohorts:
        as_given = link_cohort(rows, national)
        names_only = link_cohort(rows.assign(pnc_id=pd.NA, prison_number=pd.NA), national)
        given, names = accuracy(as_given.links, truth), accuracy(names_only.links, truth)
        assert given.people_in_data >= 300 and given.linked_rows > 0
        assert given.precision >= 0.99 and given.recall >= 0.97, (setting, given)
        assert names.precision >= 0.98 and names.recall >= 0.95, (setting, names)
        assert given.people_linked_twice == 0 and names.people_linked_twice == 0
        assert as_given.counts["linked_pnc"] > 0 and names_only.counts["linked_pnc"] == 0
        # people not in the national data are never linked to anyone
        absent = truth.loc[truth["person_key"].isna(), "row_number"]
        assert len(absent) > 0
        assert as_given.links.loc[as_given.links["row_number"].isin(absent), "person_key"].isna().all()


def test_accuracy_counts_people_found_once_and_people_linked_twice():
    from jdl_core.linkage.quality import accuracy

    truth = pd.DataFrame({"row_number": [1, 2, 3, 4, 5],
                          "person_key": pd.array([10, 10, 20, 30, pd.NA], dtype="Int64")})
    links = pd.DataFrame({"row_number": [1, 2, 3, 4, 5],
                          "person_key": pd.array([10, pd.NA, 30, pd.NA, 30], dtype="Int64")})
    acc = accuracy(links, truth)
    # 10 found (once, by either row); 20 linked to the wrong person; 30 missed; row 5 is nobody
    assert acc.people_in_data == 3 and acc.recall == pytest.approx(1 / 3)
    assert acc.linked_rows == 3 and acc.precision == pytest.approx(1 / 3)
    assert acc.people_linked_twice == 1


def test_a_dataset_dropped_from_the_cache_still_links_for_whoever_holds_it(national, model, people_alone):
    """Evicting a prepared dataset (other datasets opened, or clear_cache) closes its DuckDB
    connection; the NationalData that still holds it builds a new one instead of failing."""
    from jdl_core.linkage import clear_cache

    rows = _rows(_row(people_alone.iloc[50], 1), _row(people_alone.iloc[51], 2))
    before = link_cohort(rows, national).links
    clear_cache()
    after = link_cohort(rows, national).links
    pd.testing.assert_frame_equal(before, after)
    assert (after["status"] == "linked_probabilistic").all()
