"""The publication rules without storage: release dates across month and year ends, the review
window in working days, the state machine (response, accept, withdraw, publish) and the checks
on a response's text."""
from __future__ import annotations

from datetime import date, datetime, time, timezone

import pytest

from jdl_report.publication import (
    PublicationError,
    PublicationPolicy,
    ResponseError,
    accept,
    add_response,
    add_working_days,
    advance,
    clean_response,
    next_release,
    nth_weekday,
    release_dates,
    start_review,
    withdraw,
)

UTC = timezone.utc
POLICY = PublicationPolicy()


def at(y: int, m: int, d: int, h: int = 12, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=UTC)


def test_second_thursday_of_known_months():
    # checked against a calendar: Thursdays of Dec 2026 are 3, 10, 17...; Jan 2027 7, 14...
    assert nth_weekday(2026, 12, 3, 2) == date(2026, 12, 10)
    assert nth_weekday(2027, 1, 3, 2) == date(2027, 1, 14)
    assert nth_weekday(2026, 10, 3, 2) == date(2026, 10, 8)    # 1 Oct 2026 is a Thursday
    assert nth_weekday(2027, 2, 3, 2) == date(2027, 2, 11)


def test_release_date_across_month_and_year_ends():
    # after the December release: the next is in January of the next year
    assert next_release(at(2026, 12, 10, 9, 31), POLICY) == datetime(2027, 1, 14, 9, 30, tzinfo=UTC)
    assert next_release(at(2026, 12, 31, 23, 59), POLICY) == datetime(2027, 1, 14, 9, 30, tzinfo=UTC)
    # before the release time on the day itself: that day
    assert next_release(at(2026, 12, 10, 9, 0), POLICY) == datetime(2026, 12, 10, 9, 30, tzinfo=UTC)
    # at the release instant: strictly after, so the next month
    assert next_release(datetime(2026, 12, 10, 9, 30, tzinfo=UTC), POLICY).date() == date(2027, 1, 14)
    # after the 2nd Thursday of a month: the next month's
    assert next_release(at(2026, 11, 20), POLICY).date() == date(2026, 12, 10)


def test_quarterly_cadence_and_other_weekday():
    q = PublicationPolicy(cadence_months=3, first_release_month=1)     # Jan, Apr, Jul, Oct
    assert [d.date() for d in release_dates(at(2026, 10, 9), q, 3)] == [
        date(2027, 1, 14), date(2027, 4, 8), date(2027, 7, 8)]
    tue = PublicationPolicy(release_weekday=1, release_week=1, release_time=time(7, 0))
    assert next_release(at(2026, 12, 31), tue) == datetime(2027, 1, 5, 7, 0, tzinfo=UTC)


def test_review_window_counts_working_days_over_weekends_holidays_and_year_end():
    # Friday 18 Dec 2026 + 10 working days, with 25, 28 Dec and 1 Jan as holidays
    hol = PublicationPolicy(holidays=(date(2026, 12, 25), date(2026, 12, 28), date(2027, 1, 1)))
    assert add_working_days(at(2026, 12, 18, 14), 10, hol) == at(2027, 1, 6, 14)
    assert add_working_days(at(2026, 12, 18, 14), 10, POLICY) == at(2027, 1, 1, 14)
    assert add_working_days(at(2026, 12, 4), 0, POLICY) == at(2026, 12, 4)


def test_review_window_expiry_schedules_then_publishes_on_the_release_date():
    rec = start_review("sub-1", at(2026, 11, 2, 10), POLICY)        # Monday
    assert rec.state == "in_review" and rec.review_ends_at == at(2026, 11, 16, 10)
    same, changed = advance(rec, at(2026, 11, 16, 9, 59), POLICY)
    assert same.state == "in_review" and not changed
    sched, changed = advance(rec, at(2026, 11, 16, 10), POLICY)
    assert changed and sched.state == "scheduled" and sched.scheduled_at == at(2026, 11, 16, 10)
    assert sched.release_at == datetime(2026, 12, 10, 9, 30, tzinfo=UTC)
    still, _ = advance(sched, at(2026, 12, 10, 9, 29), POLICY)
    assert still.state == "scheduled"
    done, _ = advance(sched, at(2026, 12, 10, 9, 30), POLICY)
    assert done.state == "published" and done.published_at == datetime(2026, 12, 10, 9, 30, tzinfo=UTC)
    # one jump over both steps gives the same result (deterministic times)
    jump, _ = advance(rec, at(2027, 3, 1), POLICY)
    assert jump.model_dump() == done.model_dump()


def test_accept_schedules_for_the_next_release_without_waiting_for_the_window():
    rec = start_review("sub-1", at(2026, 12, 1), POLICY)
    acc = accept(rec, at(2026, 12, 2), "acme", POLICY)
    assert acc.state == "scheduled" and acc.release_at == datetime(2026, 12, 10, 9, 30, tzinfo=UTC)
    assert [h.action for h in acc.history] == ["ready", "accepted"] and acc.history[-1].by == "acme"
    with pytest.raises(PublicationError, match="only while it is in review"):
        add_response(acc, "too late", at(2026, 12, 3), "acme", POLICY)


def test_withdraw_before_publication_and_refused_after():
    rec = start_review("sub-1", at(2026, 12, 1), POLICY)
    w = withdraw(rec, at(2026, 12, 2), "acme", POLICY)
    assert w.state == "withdrawn" and w.withdrawn_at == at(2026, 12, 2)
    # a withdrawn report never becomes published, however long we wait
    assert advance(w, at(2030, 1, 1), POLICY)[0].state == "withdrawn"
    sched = accept(rec, at(2026, 12, 2), "acme", POLICY)
    assert withdraw(sched, at(2026, 12, 9), "acme", POLICY).state == "withdrawn"
    with pytest.raises(PublicationError, match=r"published 10 December 2026.*in review or scheduled"):
        withdraw(sched, at(2026, 12, 10, 10), "acme", POLICY)


def test_response_is_stored_during_review_and_replaced():
    rec = start_review("sub-1", at(2026, 12, 1), POLICY)
    r1 = add_response(rec, "  We welcome the report.\r\nSecond line.  ", at(2026, 12, 2), "acme", POLICY)
    assert r1.response is not None and r1.response.text == "We welcome the report.\nSecond line."
    r2 = add_response(r1, "Replaced.", at(2026, 12, 3), "acme", POLICY)
    assert r2.response.text == "Replaced." and r2.state == "in_review"


def test_auto_publish_policy_publishes_at_once():
    rec = start_review("sub-1", at(2026, 12, 1), PublicationPolicy(auto_publish=True))
    assert rec.state == "published" and rec.published_at == at(2026, 12, 1)


@pytest.mark.parametrize("text, match", [
    ("", "empty"),
    ("x" * 4001, "4001 characters is too long; at most 4000"),
    ("ok\x00bad", r"control character \(code 0x00\) at character 3"),
    ("line one\nab\x1b[31m", r"control character \(code 0x1b\) at character 12"),
])
def test_bad_responses_are_refused_with_what_and_where(text, match):
    with pytest.raises(ResponseError, match=match) as e:
        clean_response(text)
    assert "bad" not in str(e.value)       # the text itself is never echoed


def test_html_in_a_response_is_kept_as_text():
    # refused nowhere: the renderers escape it (checked on the rendered report in test_publication_api)
    assert clean_response("<script>alert(1)</script> & <b>") == "<script>alert(1)</script> & <b>"
    assert clean_response("tab\there") == "tab\there"


def test_naive_times_are_refused():
    with pytest.raises(Exception, match="time zone"):
        start_review("sub-1", datetime(2026, 12, 1), POLICY)
