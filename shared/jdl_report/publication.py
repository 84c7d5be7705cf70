"""The publication workflow of a report, as the JDL does it: pure rules, no storage.

A report that is ready goes **in review** (seen only by its organisation and operations, who may
add a response, accept it, or withdraw it); when the organisation accepts, or the review window
of N working days ends, it is **scheduled** for the next release date (by default the second
Thursday of each month), and on that date it is **published**. A withdrawn report is never
published; a published one cannot be withdrawn. Every function takes ``now``, so tests (and
operations) control time.

The record is plain JSON (``PublicationRecord``); ``jdl_infra.publication`` stores it.
"""
from __future__ import annotations

import calendar
import unicodedata
from datetime import date, datetime, time, timedelta, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from jdl_core.errors import InvalidArgument, JdlError

__all__ = ["PUBLICATION_STATES", "PublicationPolicy", "PublicationRecord", "OrgResponse",
           "PublicationError", "ResponseError", "start_review", "advance", "add_response", "accept",
           "withdraw", "clean_response", "release_dates", "next_release", "add_working_days"]

# Publication states of a report (the pipeline state of its submission is "done" throughout).
PUBLICATION_STATES = ("in_review", "scheduled", "published", "withdrawn")
PublicationState = Literal["in_review", "scheduled", "published", "withdrawn"]


class PublicationError(JdlError):
    """An action the record's state does not allow (e.g. withdrawing a published report)."""
    code = "publication_state"


class ResponseError(InvalidArgument):
    """A response that cannot be stored as given (too long, control characters, empty)."""
    code = "invalid_response"


class PublicationPolicy(BaseModel):
    """When reports are released. Defaults: the JDL's second Thursday, monthly, 10 working days."""
    model_config = ConfigDict(extra="forbid", frozen=True)

    review_working_days: int = Field(default=10, ge=0, le=60)
    # release day: the n-th given weekday (0 = Monday ... 3 = Thursday) of a release month
    release_weekday: int = Field(default=3, ge=0, le=6)
    release_week: int = Field(default=2, ge=1, le=4)
    # every `cadence_months` months, counted from January (3 = Jan, Apr, Jul, Oct)
    cadence_months: Literal[1, 2, 3, 4, 6, 12] = 1
    first_release_month: int = Field(default=1, ge=1, le=12)
    release_time: time = time(9, 30)          # UTC; official statistics go out at 09:30
    holidays: tuple[date, ...] = ()           # not working days (bank holidays)
    # Demo and development only: publish the moment the report is ready, without review.
    auto_publish: bool = False

    @field_validator("release_time")
    @classmethod
    def _naive_time(cls, v: time) -> time:
        return v.replace(tzinfo=None)


class OrgResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str
    added_at: datetime


class HistoryItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: str                 # "ready", "response", "accepted", "review_ended", "published", "withdrawn"
    at: datetime
    by: str = "system"          # an org id, "ops" or "system"


class PublicationRecord(BaseModel):
    """One per submission whose report is ready; the system of record for its publication."""
    model_config = ConfigDict(extra="forbid")

    submission_id: str
    state: PublicationState = "in_review"
    ready_at: datetime
    review_ends_at: datetime
    accepted_at: datetime | None = None
    scheduled_at: datetime | None = None
    release_at: datetime | None = None        # set when scheduled
    published_at: datetime | None = None
    withdrawn_at: datetime | None = None
    response: OrgResponse | None = None
    # how to re-render the report (aggregate result kept after the purge; disclosure threshold)
    result_key: str | None = None
    threshold: int = 5
    history: list[HistoryItem] = Field(default_factory=list)

    @model_validator(mode="after")
    def _times_are_aware(self) -> "PublicationRecord":
        for name in ("ready_at", "review_ends_at"):
            if getattr(self, name).tzinfo is None:
                raise ValueError(f"{name} must carry a time zone")
        return self


# ------------------------------------------------------------------------------------------
# calendar
# ------------------------------------------------------------------------------------------

def _aware(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise InvalidArgument("a time without a time zone was given; pass an aware datetime (UTC)")
    return t.astimezone(timezone.utc)


def nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th ``weekday`` (0 = Monday) of a month, e.g. the second Thursday."""
    first = date(year, month, 1)
    offset = (weekday - first.weekday()) % 7
    day = 1 + offset + 7 * (n - 1)
    if day > calendar.monthrange(year, month)[1]:   # cannot happen for n <= 4, kept as a guard
        raise InvalidArgument(f"there is no week {n} weekday {weekday} in {year}-{month:02d}")
    return date(year, month, day)


def _is_release_month(month: int, p: PublicationPolicy) -> bool:
    return (month - p.first_release_month) % p.cadence_months == 0


def release_dates(after: datetime, p: PublicationPolicy, count: int = 1) -> list[datetime]:
    """The next ``count`` release times strictly after ``after`` (UTC)."""
    after = _aware(after)
    out: list[datetime] = []
    y, m = after.year, after.month
    while len(out) < count:
        if _is_release_month(m, p):
            at = datetime.combine(nth_weekday(y, m, p.release_weekday, p.release_week),
                                  p.release_time, tzinfo=timezone.utc)
            if at > after:
                out.append(at)
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def next_release(after: datetime, p: PublicationPolicy) -> datetime:
    return release_dates(after, p, 1)[0]


def is_working_day(d: date, p: PublicationPolicy) -> bool:
    return d.weekday() < 5 and d not in p.holidays


def add_working_days(start: datetime, days: int, p: PublicationPolicy) -> datetime:
    """``start`` moved forward by ``days`` working days (weekends and holidays skipped), same time
    of day: a report ready on Friday 14:00 with 10 working days is due two weeks later, 14:00."""
    t = _aware(start)
    left = days
    while left > 0:
        t += timedelta(days=1)
        if is_working_day(t.date(), p):
            left -= 1
    return t


# ------------------------------------------------------------------------------------------
# transitions
# ------------------------------------------------------------------------------------------

def _log(rec: PublicationRecord, action: str, at: datetime, by: str) -> None:
    rec.history.append(HistoryItem(action=action, at=at, by=by))


def start_review(submission_id: str, ready_at: datetime, p: PublicationPolicy, *,
                 result_key: str | None = None, threshold: int = 5) -> PublicationRecord:
    """The record of a report that has just been rendered (in review, or published at once when
    the policy says ``auto_publish``)."""
    ready_at = _aware(ready_at)
    rec = PublicationRecord(submission_id=submission_id, ready_at=ready_at,
                            review_ends_at=(ready_at if p.auto_publish else
                                            add_working_days(ready_at, p.review_working_days, p)),
                            result_key=result_key, threshold=threshold)
    _log(rec, "ready", ready_at, "system")
    if p.auto_publish:
        rec.state, rec.scheduled_at, rec.release_at = "scheduled", ready_at, ready_at
        _log(rec, "auto_publish", ready_at, "system")
        rec, _ = advance(rec, ready_at, p)
    return rec


def advance(rec: PublicationRecord, now: datetime, p: PublicationPolicy) -> tuple[PublicationRecord, bool]:
    """Apply what time alone does: the review window ends (-> scheduled for the next release after
    it), the release date comes (-> published). Deterministic: the times written are the deadline
    and the release date, not ``now``, so two processes advancing the same record agree."""
    now = _aware(now)
    rec = rec.model_copy(deep=True)
    changed = False
    if rec.state == "in_review" and now >= rec.review_ends_at:
        rec.state, rec.scheduled_at = "scheduled", rec.review_ends_at
        rec.release_at = next_release(rec.review_ends_at, p)
        _log(rec, "review_ended", rec.review_ends_at, "system")
        changed = True
    if rec.state == "scheduled" and rec.release_at is not None and now >= rec.release_at:
        rec.state, rec.published_at = "published", rec.release_at
        _log(rec, "published", rec.release_at, "system")
        changed = True
    return rec, changed


def _require(rec: PublicationRecord, allowed: tuple[str, ...], action: str) -> None:
    if rec.state not in allowed:
        when = {"published": f" (published {rec.published_at:%-d %B %Y})" if rec.published_at else "",
                "withdrawn": " (it was withdrawn)"}.get(rec.state, "")
        raise PublicationError(f"cannot {action}: the report is {rec.state.replace('_', ' ')}{when}; "
                               f"this is possible only while it is "
                               f"{' or '.join(s.replace('_', ' ') for s in allowed)}")


def add_response(rec: PublicationRecord, text: str, now: datetime, by: str,
                 p: PublicationPolicy) -> PublicationRecord:
    """Store the organisation's response (replacing an earlier one) while the report is in review."""
    rec, _ = advance(rec, now, p)
    _require(rec, ("in_review",), "add a response")
    rec.response = OrgResponse(text=clean_response(text), added_at=_aware(now))
    _log(rec, "response", _aware(now), by)
    return rec


def accept(rec: PublicationRecord, now: datetime, by: str, p: PublicationPolicy) -> PublicationRecord:
    """The organisation is content: schedule for the next release date without waiting."""
    rec, _ = advance(rec, now, p)
    _require(rec, ("in_review",), "accept the report")
    now = _aware(now)
    rec.state, rec.accepted_at, rec.scheduled_at = "scheduled", now, now
    rec.release_at = next_release(now, p)
    _log(rec, "accepted", now, by)
    return rec


def withdraw(rec: PublicationRecord, now: datetime, by: str, p: PublicationPolicy) -> PublicationRecord:
    """Withdraw before publication (in review or scheduled). Refused once published."""
    rec, _ = advance(rec, now, p)
    _require(rec, ("in_review", "scheduled"), "withdraw the report")
    now = _aware(now)
    rec.state, rec.withdrawn_at = "withdrawn", now
    _log(rec, "withdrawn", now, by)
    return rec


# ------------------------------------------------------------------------------------------
# the organisation's response: plain text, printed escaped
# ------------------------------------------------------------------------------------------

def clean_response(text: str) -> str:
    """The response as stored: plain text, normalised (NFC, Windows line ends -> \\n), trimmed,
    then checked by the report's own rule (``content.check_response``: length limit, no control
    characters), so what is accepted here is exactly what the report prints.

    Refused with a message saying what and where (never echoing the text). HTML is not refused:
    it is kept as text and every renderer escapes it, so ``<script>`` prints as those characters.
    """
    from .content import check_response

    if not isinstance(text, str):
        raise ResponseError("response: expected text")
    t = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n").strip()
    if not t:
        raise ResponseError("response: the text is empty")
    try:
        check_response(t)
    except InvalidArgument as e:
        raise ResponseError(str(e)) from None
    return t
