"""Pydantic event models: a visible envelope, past-tense names, ids/counts/object keys only.

No event may carry personal data. Submission ids are opaque (``sub-`` + 20 hex characters) and
validated, so nothing else can be smuggled in their place.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Annotated, Final, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

from . import topics
from .vocab import PurgeOutcome, PurgeTrigger, StageName

# The one submission-id pattern (jdl_events.keys parses object keys with it).
SUBMISSION_ID_PATTERN: Final = r"sub-[0-9a-f]{20}"
SubmissionId = Annotated[str, StringConstraints(pattern=f"^{SUBMISSION_ID_PATTERN}$")]
ObjectKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._/=-]{1,512}$")]
OrgId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
Reason = Annotated[str, StringConstraints(max_length=500)]


def new_submission_id() -> str:
    return "sub-" + uuid.uuid4().hex[:20]


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Event(BaseModel):
    """Envelope shared by every event."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    schema_version: int = 1
    submission_id: SubmissionId
    occurred_at: datetime = Field(default_factory=_now)
    # each event narrows it to its own Literal name, which the ANY_EVENT union discriminates on
    event_type: str


class SubmissionReceived(Event):
    event_type: Literal["submission.received"] = "submission.received"
    org_id: OrgId
    setting: Literal["custody", "community"]
    rows_submitted: int = Field(ge=0)
    rows_valid: int = Field(ge=0)
    rows_rejected: int = Field(ge=0)
    rejected_by_reason: dict[str, int] = Field(default_factory=dict)
    cohort_key: ObjectKey          # encrypted cohort in the object store
    programme_key: ObjectKey       # programme description (no personal data)
    received_at: datetime = Field(default_factory=_now)


class CohortLinked(Event):
    event_type: Literal["cohort.linked"] = "cohort.linked"
    linked_key: ObjectKey          # encrypted linked ids and index events
    n_linked: int = Field(ge=0)
    attrition: dict[str, int] = Field(default_factory=dict)


class ControlMatched(Event):
    event_type: Literal["control.matched"] = "control.matched"
    result_key: ObjectKey          # AnalysisResult JSON (aggregates only)
    n_treated: int = Field(ge=0)
    n_comparison: int = Field(ge=0)


class ReportReady(Event):
    event_type: Literal["report.ready"] = "report.ready"
    report_keys: dict[str, ObjectKey]   # {"pdf": ..., "html": ..., "json": ...}


class SubmissionFailed(Event):
    event_type: Literal["submission.failed"] = "submission.failed"
    stage: StageName
    reason_code: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,64}$")]
    reason: Reason                 # plain words, never personal data


class PurgeRequested(Event):
    event_type: Literal["purge.requested"] = "purge.requested"
    trigger: PurgeTrigger
    due_at: datetime | None = None   # when the purge fell due (retention: received + limit)


class DataPurged(Event):
    event_type: Literal["data.purged"] = "data.purged"
    outcome: PurgeOutcome
    objects_deleted: int = Field(ge=0)
    versions_deleted: int = Field(ge=0)
    key_destroyed: bool
    certificate_key: ObjectKey | None = None


AnyEvent = Annotated[
    Union[SubmissionReceived, CohortLinked, ControlMatched, ReportReady, SubmissionFailed,
          PurgeRequested, DataPurged],
    Field(discriminator="event_type"),
]
ANY_EVENT: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent, config=ConfigDict(hide_input_in_errors=True))

# One routing table: which event type travels on which topic.
TOPIC_OF: dict[type[Event], str] = {
    SubmissionReceived: topics.SUBMISSION_RECEIVED,
    CohortLinked: topics.COHORT_LINKED,
    ControlMatched: topics.CONTROL_MATCHED,
    ReportReady: topics.REPORT_READY,
    SubmissionFailed: topics.SUBMISSION_FAILED,
    PurgeRequested: topics.PURGE_REQUESTED,
    DataPurged: topics.DATA_PURGED,
}
EVENT_OF: dict[str, type[Event]] = {t: e for e, t in TOPIC_OF.items()}


def parse_event(raw: bytes | str) -> Event:
    """Validate a JSON message into its event model (raises pydantic.ValidationError)."""
    return ANY_EVENT.validate_json(raw)


def dump_event(event: Event) -> bytes:
    return event.model_dump_json().encode()
