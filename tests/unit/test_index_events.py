"""Index-event selection: the custody and community rules, the follow-up rule, duplicates and
attrition, on hand-built frames with known answers and on a sample cohort against its truth."""
from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from jdl_core import schema
from jdl_core.cohort import validate_cohort
from jdl_core.errors import InvalidArgument, LinkageError
from jdl_core.index_events import INDEX_STAGE_REASONS, select_index_events
from jdl_core.linkage import link_cohort, load_linkage_model
from jdl_core.national import NationalData
from jdl_core.synth.cohort import sample_cohort


def _events(*specs: tuple[int, int, str, str, str]) -> pd.DataFrame:
    """(event_id, person_key, disposal, start_date, end_date) -> an events frame; index_date is
    the release (custody: end) or the order start (community), as in the generator."""
    rows = []
    for event_id, person, disposal, start, end in specs:
        start_ts, end_ts = pd.Timestamp(start), pd.Timestamp(end)
        index = end_ts if disposal == "custody" else start_ts
        rows.append({
            "event_id": event_id, "person_key": person, "disposal": disposal,
            "start_date": start_ts, "index_date": index, "end_date": end_ts,
            "index_year": index.year, "offence_group": "theft", "sentence_months": 6.0,
            "age_at_index": 30, "prev_offences": 3, "prev_custody": 1, "age_first_contact": 16,
            "copas_rate": 0.1, "ogrs_score": 40.0, "employed": False, "on_benefit": True,
            "region": "London", "followup_complete": True, "reoffended": 0,
            "reoffence_count": 0, "days_to_first": pd.NA, "first_seriousness": pd.NA,
            "reoffences_indictable": 0, "reoffences_either_way": 0, "reoffences_summary": 0,
            "first_custodial": 0, "custodial_sentences": 0,
        })
    return pd.DataFrame(rows)


def _national(events: pd.DataFrame) -> NationalData:
    return NationalData(
        people=pd.DataFrame(columns=list(schema.PEOPLE_COLUMNS)),
        aliases=pd.DataFrame(columns=list(schema.ALIAS_COLUMNS)),
        events=events,
        manifest={"dataset_version": schema.DATASET_VERSION,
                  # these frames' follow-up rule is tested against this end (the cases below
                  # are built around it), read from the manifest as for a real dataset
                  "coverage": {"followup_end": "2011-06-30"}},
        path=None,
    )


def _cohort(*rows: tuple[int, object, str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(row_number, person_key or None, status, intervention_start) -> (links, rows)."""
    links = pd.DataFrame({
        "row_number": [r[0] for r in rows],
        "person_key": pd.array([r[1] for r in rows], dtype="Int64"),
        "status": [r[2] for r in rows],
        "match_probability": 1.0,
    })
    cohort = pd.DataFrame({
        "row_number": [r[0] for r in rows],
        "intervention_start": pd.to_datetime([r[3] for r in rows]),
    })
    return links, cohort


CUSTODY = _events(
    (1, 100, "custody", "2003-01-10", "2004-03-01"),
    (2, 100, "custody", "2005-01-01", "2005-06-01"),
    (3, 100, "community", "2004-06-01", "2005-06-01"),   # wrong disposal for custody programmes
    (4, 101, "custody", "2004-01-01", "2004-05-01"),
    (5, 102, "custody", "2003-01-01", "2003-02-01"),      # released before the programme
    (6, 103, "custody", "2009-06-01", "2009-12-30"),      # follow-up ends exactly 2011-06-30
    (7, 104, "custody", "2009-06-01", "2009-12-31"),      # follow-up ends 2011-07-01
)


def test_custody_first_release_on_or_after_the_start():
    links, rows = _cohort(
        (2, 100, "linked_pnc", "2004-05-01"),             # -> event 2 (event 1 released earlier)
        (3, 101, "linked_probabilistic", "2004-05-01"),   # released that very day -> event 4
        (4, 102, "linked_prison_number", "2004-05-01"),   # nothing after -> no index event
        (5, 103, "linked_pnc", "2009-07-01"),
        (6, 104, "linked_pnc", "2009-07-01"),
    )
    # the choice rule alone (the maximum gap is tested below; row 2's release ends a spell that
    # began 245 days after the start)
    sel = select_index_events(links, rows, _national(CUSTODY), "custody", max_gap_days=None)
    assert sel.events["row_number"].tolist() == [2, 3, 5]
    assert sel.events["event_id"].tolist() == [2, 4, 6]
    assert (sel.events["disposal"] == "custody").all()
    assert sel.attrition == {"duplicate": 0, "not_found": 0, "ambiguous": 0,
                             "no_index_event": 1, "followup_outside_coverage": 1}
    assert list(sel.events.columns) == ["row_number", *schema.EVENT_COLUMNS]


COMMUNITY = _events(
    (10, 200, "community", "2004-01-01", "2004-12-31"),
    (11, 200, "community", "2004-06-01", "2005-06-01"),
    (12, 200, "community", "2006-01-01", "2007-01-01"),
    (13, 200, "custody", "2005-07-01", "2005-09-01"),
    (14, 201, "community", "2003-01-01", "2003-12-31"),
)


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ("2004-07-01", 11),   # two orders in force: the one that started last
        ("2004-03-01", 10),   # only the first is in force
        ("2004-06-01", 11),   # in force from its first day
        ("2005-06-01", 11),   # ... to its last
        ("2005-08-01", 12),   # none in force: the next to start (custody event ignored)
        ("2007-02-01", None),  # none in force, none later
    ],
)
def test_community_order_in_force_else_next(start, expected):
    links, rows = _cohort((1, 200, "linked_pnc", start))
    sel = select_index_events(links, rows, _national(COMMUNITY), "community", max_gap_days=None)
    if expected is None:
        assert sel.events.empty and sel.attrition["no_index_event"] == 1
    else:
        assert sel.events["event_id"].tolist() == [expected]
        assert sel.attrition["no_index_event"] == 0


def test_followup_rule_uses_the_given_end():
    links, rows = _cohort((1, 101, "linked_pnc", "2004-01-01"))
    # Release 2004-05-01: 365 + 182 days later is 2005-10-30.
    assert len(select_index_events(links, rows, _national(CUSTODY), "custody",
                                   followup_end="2005-10-30").events) == 1
    late = select_index_events(links, rows, _national(CUSTODY), "custody", followup_end="2005-10-29")
    assert late.events.empty and late.attrition["followup_outside_coverage"] == 1
    assert late.followup_end == "2005-10-29"


def test_duplicates_keep_the_first_row_and_attrition_adds_up():
    links, rows = _cohort(
        (5, 100, "linked_pnc", "2004-05-01"),
        (2, 100, "linked_probabilistic", "2004-05-01"),   # same person again: duplicate
        (7, None, "not_found", "2004-05-01"),
        (8, None, "ambiguous", "2004-05-01"),
        (9, 102, "linked_pnc", "2004-05-01"),            # no release after the start
        (11, 104, "linked_pnc", "2009-07-01"),           # follow-up outside the data
        (12, 101, "linked_pnc", "2004-02-01"),
    )
    sel = select_index_events(links, rows, _national(CUSTODY), "custody", max_gap_days=None)
    assert sel.events["row_number"].tolist() == [5, 12]      # row 5 came first in the file
    assert sel.attrition == {"duplicate": 1, "not_found": 1, "ambiguous": 1,
                             "no_index_event": 1, "followup_outside_coverage": 1}
    assert tuple(sel.attrition) == INDEX_STAGE_REASONS
    assert len(sel.events) + sum(sel.attrition.values()) == len(rows) == sel.submitted
    table = sel.to_attrition(invalid_rows=3, intake_duplicates=2)
    assert table.submitted == 12 and table.analysed == 2
    assert [s.reason for s in table.steps] == ["invalid_row", *INDEX_STAGE_REASONS]
    assert [s.removed for s in table.steps] == [3, 3, 1, 1, 1, 1]
    assert [s.remaining for s in table.steps] == [9, 6, 5, 4, 3, 2]


GAPS = _events(
    (20, 300, "custody", "2004-05-01", "2004-11-01"),     # reception 120 days after the start
    (21, 301, "custody", "2004-03-01", "2004-09-01"),     # reception 61 days before: in custody
    (22, 302, "custody", "2004-04-01", "2004-07-01"),     # reception exactly 90 days after
    (23, 303, "community", "2004-05-01", "2005-05-01"),   # next order 120 days after
    (24, 304, "community", "2003-06-01", "2004-06-01"),   # order in force at the start
)


@pytest.mark.parametrize(("setting", "person", "kept"), [
    ("custody", 300, False), ("custody", 301, True), ("custody", 302, True),
    ("community", 303, False), ("community", 304, True)])
def test_maximum_gap_between_intervention_and_index_event(setting, person, kept):
    start = "2004-01-02" if person != 301 else "2004-05-01"
    links, rows = _cohort((1, person, "linked_pnc", start))
    sel = select_index_events(links, rows, _national(GAPS), setting)   # default: 90 days
    assert sel.max_gap_days == 90
    assert (len(sel.events) == 1) is kept
    # a 120-day gap is excluded as "no eligible index event", and counted as too far
    assert sel.attrition["no_index_event"] == (0 if kept else 1)
    assert sel.beyond_max_gap == (0 if kept else 1)
    # the gap is a setting: 120 days allowed when the limit is 120 (or off)
    assert len(select_index_events(links, rows, _national(GAPS), setting,
                                   max_gap_days=120).events) == 1
    assert len(select_index_events(links, rows, _national(GAPS), setting,
                                   max_gap_days=None).events) == 1


def test_followup_end_defaults_to_the_datasets_manifest():
    links, rows = _cohort((1, 104, "linked_pnc", "2009-07-01"))
    national = _national(CUSTODY)
    assert select_index_events(links, rows, national, "custody").followup_end == "2011-06-30"
    national.manifest["coverage"]["followup_end"] = "2012-06-30"
    sel = select_index_events(links, rows, national, "custody")   # the 2009-12-31 release counts
    assert sel.followup_end == "2012-06-30" and sel.events["event_id"].tolist() == [7]


def test_bad_arguments_are_named():
    links, rows = _cohort((1, 100, "linked_pnc", "2004-05-01"))
    national = _national(CUSTODY)
    with pytest.raises(InvalidArgument, match="setting"):
        select_index_events(links, rows, national, "caution")
    with pytest.raises(InvalidArgument, match="max_gap_days"):
        select_index_events(links, rows, national, "custody", max_gap_days=-1)
    with pytest.raises(InvalidArgument, match="followup_end"):
        select_index_events(links, rows, national, "custody", followup_end="2012-01-01")
    with pytest.raises(InvalidArgument, match="followup_end"):
        select_index_events(links, rows, national, "custody", followup_end="not a date")
    with pytest.raises(LinkageError, match="intervention_start"):
        select_index_events(links, rows.drop(columns=["intervention_start"]), national, "custody")
    with pytest.raises(LinkageError, match="no linkage status"):
        select_index_events(links.iloc[0:0], rows, national, "custody")
    with pytest.raises(InvalidArgument, match="links"):
        select_index_events(["not", "links"], rows, national, "custody")  # type: ignore[arg-type]
    sel = select_index_events(links, rows, national, "custody")
    with pytest.raises(InvalidArgument, match="invalid_rows"):
        sel.to_attrition(invalid_rows=-1)


@pytest.mark.parametrize(("setting", "seed"), [("custody", 5), ("community", 6)])
def test_sample_cohort_gets_its_intended_index_events(national, setting, seed):
    load_linkage_model(national)
    upload, truth = sample_cohort(national, 400, setting, "random", seed=seed)
    rows = validate_cohort(upload, setting=setting, min_size=1, today=dt.date(2011, 6, 30)).rows
    linkage = link_cohort(rows, national)
    sel = select_index_events(linkage, rows, national, setting)
    truth = truth.assign(row_number=truth["row_number"] + 1)
    joined = sel.events.merge(truth, on="row_number", suffixes=("", "_true"))
    correctly_linked = joined[joined["person_key"] == joined["person_key_true"]]
    # of the rows the truth expects analysed (the others have no sentence, one too far away, or
    # are duplicates or people not in the data)
    assert len(correctly_linked) >= 0.95 * (truth["expected"] == "analysed").sum()
    assert (correctly_linked["event_id"] == correctly_linked["event_id_true"]).all()
    assert sel.events["followup_complete"].all()
    assert (sel.events["disposal"] == setting).all()
    assert len(sel.events) + sum(sel.attrition.values()) == len(rows)
    assert sel.attrition["not_found"] == linkage.counts["not_found"]
