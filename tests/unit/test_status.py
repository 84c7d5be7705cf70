"""The status projection: state machine over events, idempotency, the operations queue view."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from jdl_events import events as ev
from services.intake import status

SID = "sub-" + "b" * 20
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def received(at=T0):
    return ev.SubmissionReceived(submission_id=SID, org_id="acme", setting="custody", rows_submitted=100,
                                 rows_valid=95, rows_rejected=5, cohort_key="k/c", programme_key="k/p",
                                 occurred_at=at, received_at=at)


def test_moves_through_every_stage_and_records_counts():
    rec = None
    chain = [received(),
             ev.CohortLinked(submission_id=SID, linked_key="k/l", n_linked=80, attrition={"not_found": 15},
                             occurred_at=T0 + timedelta(seconds=5)),
             ev.ControlMatched(submission_id=SID, result_key="r", n_treated=78, n_comparison=390,
                               occurred_at=T0 + timedelta(seconds=9)),
             ev.ReportReady(submission_id=SID, report_keys={"pdf": "reports/x.pdf"},
                            occurred_at=T0 + timedelta(seconds=12)),
             ev.DataPurged(submission_id=SID, outcome="purged", objects_deleted=3, versions_deleted=3,
                           key_destroyed=True, occurred_at=T0 + timedelta(seconds=13))]
    states = []
    for e in chain:
        rec = status.apply_event(rec, e)
        states.append(rec["state"])
    assert states == ["linkage", "matching", "reporting", "done", "done"]
    assert rec["attrition"] == {"not_found": 15} and rec["n_treated"] == 78
    assert rec["purged"] and status.age_seconds(rec, T0 + timedelta(days=3)) == 12


def test_replayed_and_out_of_order_events_do_not_move_backwards():
    rec = status.apply_event(None, received())
    rec = status.apply_event(rec, ev.ControlMatched(submission_id=SID, result_key="r", n_treated=1, n_comparison=1))
    late = ev.CohortLinked(submission_id=SID, linked_key="k", n_linked=1)
    rec2 = status.apply_event(rec, late)
    assert rec2["state"] == "reporting"
    assert status.apply_event(rec2, late) == rec2


def test_failure_is_terminal():
    rec = status.apply_event(None, received())
    rec = status.apply_event(rec, ev.SubmissionFailed(submission_id=SID, stage="linkage",
                                                      reason_code="too_few_analysed", reason="x"))
    rec = status.apply_event(rec, ev.ControlMatched(submission_id=SID, result_key="r", n_treated=1, n_comparison=1))
    assert rec["state"] == "failed" and rec["error"]["stage"] == "linkage"


def test_queue_view_ages_against_the_14_day_sla():
    old = status.apply_event(None, received(T0))
    other = dict(status.apply_event(None, received(T0 + timedelta(days=10))), submission_id="sub-" + "c" * 20)
    q = status.queue_view([old, other], T0 + timedelta(days=12))
    assert q["open"] == 2 and q["by_stage"]["linkage"] == 2
    assert q["oldest_age_seconds"] == 12 * 86400
    assert q["requests"][0]["sla_remaining_seconds"] == 2 * 86400


def test_overdue_purge_gauge_counts_against_the_retention_setting_the_sweep_uses(monkeypatch):
    """JDL_RETENTION_DAYS is one setting: the intake worker's overdue gauge (and so the alert)
    and the purge sweep read the same figure, so the alert cannot lag the sweep's deadline."""
    from prometheus_client import REGISTRY

    from services.intake.app import update_gauges
    from services.intake.settings import IntakeSettings
    from services.purge.settings import PurgeSettings

    monkeypatch.setenv("JDL_RETENTION_DAYS", "7")
    intake_days = IntakeSettings().infra.retention_days
    assert intake_days == PurgeSettings().infra.retention_days == 7

    stuck = status.apply_event(None, received(T0))          # open, in linkage, never purged
    update_gauges([stuck], T0 + timedelta(days=6), intake_days)
    assert REGISTRY.get_sample_value("jdl_purges_overdue") == 0
    update_gauges([stuck], T0 + timedelta(days=8), intake_days)
    assert REGISTRY.get_sample_value("jdl_purges_overdue") == 1
    update_gauges([dict(stuck, purged=True)], T0 + timedelta(days=8), intake_days)
    assert REGISTRY.get_sample_value("jdl_purges_overdue") == 0


# -- arrival order across topics ------------------------------------------------------------------
def _lifecycle(failed: bool = False) -> list:
    t = lambda s: T0 + timedelta(seconds=s)   # noqa: E731
    events = [received(),
              ev.CohortLinked(submission_id=SID, linked_key="k/l", n_linked=80,
                              attrition={"not_found": 15}, occurred_at=t(5))]
    if failed:
        events += [ev.SubmissionFailed(submission_id=SID, stage="matching", reason_code="x",
                                       reason="no comparison", occurred_at=t(9)),
                   ev.PurgeRequested(submission_id=SID, trigger="failed", occurred_at=t(10))]
    else:
        events += [ev.ControlMatched(submission_id=SID, result_key="r", n_treated=78,
                                     n_comparison=390, occurred_at=t(9)),
                   ev.ReportReady(submission_id=SID, report_keys={"pdf": "reports/x.pdf"},
                                  occurred_at=t(12))]
    events += [ev.DataPurged(submission_id=SID, outcome="purged", objects_deleted=3,
                             versions_deleted=3, key_destroyed=True,
                             certificate_key="audit/log/000000000007.json", occurred_at=t(13)),
               # a later repeat request, certified as a no-op: must not hide the real purge
               ev.DataPurged(submission_id=SID, outcome="already_purged", objects_deleted=0,
                             versions_deleted=0, key_destroyed=False,
                             certificate_key="audit/log/000000000009.json", occurred_at=t(40))]
    return events


def _project(events, start=None):
    rec = start
    for e in events:
        rec = status.apply_event(rec, e)
    return rec


@pytest.mark.parametrize("failed", [False, True], ids=["done", "failed"])
def test_projection_is_the_same_for_every_arrival_order(failed):
    import random

    events = _lifecycle(failed)
    expected = _project(events)
    assert expected["state"] == ("failed" if failed else "done")
    assert expected["counts"]["linked"] == 80 and expected["counts"]["rows_valid"] == 95
    assert expected["purge_outcome"] == "purged"
    assert expected["certificate_key"] == "audit/log/000000000007.json"
    assert expected["completed_at"] == status.iso(T0 + timedelta(seconds=9 if failed else 12))
    rnd = random.Random(11)
    api_first = status.new_record(SID, "acme", T0)      # the API writes "received" first
    for i in range(200):
        shuffled = events[:]
        rnd.shuffle(shuffled)
        got = _project(shuffled, api_first if i % 2 else None)
        assert got == expected, [e.event_type for e in shuffled]
        ats = [h["at"] for h in got["history"]]
        assert ats == sorted(ats, key=status.parse_iso)          # ordered by event time
        # and every prefix of the shuffled stream keeps the linked count once it has been seen
        partial = api_first if i % 2 else None
        for e in shuffled:
            partial = status.apply_event(partial, e)
            if any(isinstance(x, ev.CohortLinked) for x in shuffled[:shuffled.index(e) + 1]):
                assert partial["counts"]["linked"] == 80


def test_a_late_event_never_overwrites_newer_counts_or_state():
    t = lambda s: T0 + timedelta(seconds=s)   # noqa: E731
    first = ev.CohortLinked(submission_id=SID, linked_key="k/l", n_linked=70, occurred_at=t(5))
    redo = ev.CohortLinked(submission_id=SID, linked_key="k/l", n_linked=80, occurred_at=t(50))
    matched = ev.ControlMatched(submission_id=SID, result_key="r", n_treated=1, n_comparison=1,
                                occurred_at=t(60))
    for order in ([first, redo, matched], [redo, matched, first], [matched, redo, first]):
        rec = _project([received(), *order])
        assert rec["counts"]["linked"] == 80 and rec["state"] == "reporting"
    # two terminal events: the earlier one (by event time) decides, whichever arrives first
    done = ev.ReportReady(submission_id=SID, report_keys={}, occurred_at=t(70))
    late_fail = ev.SubmissionFailed(submission_id=SID, stage="reporting", reason_code="x",
                                    reason="y", occurred_at=t(80))
    assert _project([received(), late_fail, done])["state"] == "done"
    assert _project([received(), done, late_fail])["state"] == "done"


def test_refused_record_stays_refused():
    rec = status.new_record(SID, "acme", T0, state="refused")
    rec = status.apply_event(rec, ev.DataPurged(submission_id=SID, outcome="purged",
                                                objects_deleted=0, versions_deleted=0,
                                                key_destroyed=False))
    assert rec["state"] == "refused" and rec["purged"]


def test_a_refused_upload_certified_as_holding_nothing_counts_as_purged():
    """Refusals store nothing, so their purge outcome is unknown_submission: purged, not pending,
    never an overdue purge (the JdlPurgeOverdue alert), whatever the age."""
    from prometheus_client import REGISTRY

    from services.intake.app import update_gauges

    refused = status.new_record(SID, "acme", T0, state="refused")
    refused["completed_at"] = refused["received_at"]
    rec = status.apply_event(refused, ev.DataPurged(submission_id=SID, outcome="unknown_submission",
                                                    objects_deleted=0, versions_deleted=0,
                                                    key_destroyed=False,
                                                    certificate_key="audit/log/000000000001.json"))
    assert rec["purged"] and rec["state"] == "refused"
    later = T0 + timedelta(days=45)
    assert status.queue_view([rec], later)["purge_pending"] == 0
    update_gauges([rec], later, 30.0)
    assert REGISTRY.get_sample_value("jdl_purges_overdue") == 0
    # records written before this rule (purged=False, outcome unknown_submission) count too
    old = dict(rec, purged=False)
    update_gauges([old], later, 30.0)
    assert REGISTRY.get_sample_value("jdl_purges_overdue") == 0
    # but a finished submission whose purge found nothing is not silently counted as purged
    done = dict(old, state="done")
    assert not status.is_purged(done)
    update_gauges([done], later, 30.0)
    assert REGISTRY.get_sample_value("jdl_purges_overdue") == 1


def test_a_repeated_purge_keeps_the_first_certificate():
    rec = status.apply_event(None, received())
    first = ev.DataPurged(submission_id=SID, outcome="purged", objects_deleted=3, versions_deleted=3,
                          key_destroyed=True, certificate_key="audit/log/000000000004.json")
    again = ev.DataPurged(submission_id=SID, outcome="already_purged", objects_deleted=0,
                          versions_deleted=0, key_destroyed=False,
                          certificate_key="audit/log/000000000009.json")
    rec = status.apply_event(status.apply_event(rec, first), again)
    assert rec["purged"] and rec["certificate_key"] == "audit/log/000000000004.json"
    assert rec["purge_outcome"] == "purged"
