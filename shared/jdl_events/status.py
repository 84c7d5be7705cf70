"""The status record: one per submission, the intake worker's projection of every event about it
(services/intake/status.py), stored at ``status/<id>.json`` (``keys.status_key``).

It is the one contract between services that travels through the object store rather than a
topic: the purge service's retention sweep and reconciler, ``jdl audit verify`` and (through the
API's ``GET /v1/submissions/<id>``) the CLI read it. Ids, counts, object keys and times only.

Only ``submission_id``, ``state`` and ``received_at`` are required, so a record written before a
field existed still reads; intake always writes every field (``new_record``). Times are aware
UTC datetimes, written as ISO 8601 with ``+00:00`` (what the projection has always stored).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer

from .events import ObjectKey, Reason, SubmissionId
from .vocab import (
    OPEN_STATES,
    TERMINAL_STATES,
    PurgeOutcome,
    PurgeTrigger,
    StageName,
    SubmissionState,
    TerminalState,
)


def is_purged(purged: bool, purge_outcome: str | None, state: str | None) -> bool:
    """Certified as holding nothing. A refused upload stored nothing, so the purge's certificate
    for it says ``unknown_submission`` (nothing found): that is its purge, not a pending one."""
    return bool(purged) or purge_outcome in ("purged", "already_purged") or (
        purge_outcome == "unknown_submission" and state == "refused")


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


UtcTime = Annotated[datetime, AfterValidator(_utc),
                    PlainSerializer(lambda t: t.isoformat(), return_type=str, when_used="json")]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class StatusError(_Part):
    """Why the submission failed or was refused (plain words, never personal data)."""

    stage: StageName
    reason_code: str = Field(pattern=r"^[a-z_]{1,64}$")
    reason: Reason


class HistoryEntry(_Part):
    event: str          # event_type
    event_id: str
    at: UtcTime


class Stamp(_Part):
    """The event that last wrote a group of fields (the projection's last-writer-wins order)."""

    at: UtcTime
    event_id: str
    rank: int = 0


class Terminal(_Part):
    """The earliest terminal event: it decides the terminal state, whatever arrives later."""

    state: TerminalState
    at: UtcTime
    event_id: str


class StatusRecord(_Part):
    submission_id: SubmissionId
    org_id: str = "unknown"          # until submission.received says (events may arrive first)
    state: SubmissionState
    received_at: UtcTime
    updated_at: UtcTime | None = None
    completed_at: UtcTime | None = None
    counts: dict[str, int] = Field(default_factory=dict)      # rows_submitted/valid/rejected, linked
    attrition: dict[str, int] = Field(default_factory=dict)
    n_treated: int | None = None
    n_comparison: int | None = None
    report_keys: dict[str, ObjectKey] = Field(default_factory=dict)
    error: StatusError | None = None
    purged: bool = False
    purged_at: UtcTime | None = None
    purge_outcome: PurgeOutcome | None = None
    certificate_key: ObjectKey | None = None
    purge_requested: PurgeTrigger | None = None
    # bookkeeping of the projection, not shown by the API (history is shown as "stages")
    history: list[HistoryEntry] = Field(default_factory=list)
    event_times: dict[str, Stamp] = Field(default_factory=dict)
    terminal: Terminal | None = None

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def is_purged(self) -> bool:
        return is_purged(self.purged, self.purge_outcome, self.state)

    def document(self) -> dict[str, Any]:
        """The stored JSON document: the fields that were set, in JSON types."""
        return self.model_dump(mode="json", exclude_unset=True)


class StatusView(StatusRecord):
    """``GET /v1/submissions/<id>``: the record without its bookkeeping, and what the API adds.
    Read by the CLI client; fields the API adds later are ignored, not refused."""

    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)

    stages: list[dict[str, Any]] = Field(default_factory=list)     # [{"event", "at"}]
    age_seconds: float = 0.0
    publication: dict[str, Any] = Field(default_factory=dict)      # jdl_infra.publication.view
    report_urls: dict[str, str] = Field(default_factory=dict)
