"""Deletion certificates: the record of one purge request, as the purge service writes it into
the audit log (``jdl_infra.audit``) and as ``jdl audit show`` and the status projection read it.

Part of purge's contract with its readers, kept beside the log that stores it. No personal data:
ids, object keys chosen by the services, version ids, counts and times.
"""
from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from jdl_events.events import SubmissionId
from jdl_events.vocab import PurgeOutcome, PurgeTrigger

# Audit entry types whose payload is a DeletionCertificate.
CERTIFICATE: Final = "certificate"   # a purge that deleted something (outcome "purged")
PURGE_NOOP: Final = "purge_noop"     # a purge request that found nothing to do (already purged/unknown)
CERTIFICATE_TYPES: Final = (CERTIFICATE, PURGE_NOOP)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


class DeletedVersion(_Frozen):
    key: str
    version_id: str


class Verification(_Frozen):
    """What was listed again after deleting: nothing may remain."""

    checked_at: datetime
    prefix: str
    remaining_objects: int = Field(ge=0)    # current objects under the prefix
    remaining_versions: int = Field(ge=0)   # every version and delete marker under the prefix
    key_object: str
    key_versions_remaining: int = Field(ge=0)
    key_absent: bool

    @property
    def passed(self) -> bool:
        return (self.remaining_objects == 0 and self.remaining_versions == 0
                and self.key_versions_remaining == 0 and self.key_absent)


class DeletionCertificate(_Frozen):
    """Record of one purge request: what was deleted, when, and how it was verified.

    No personal data: ids, object keys chosen by the services, version ids, counts and times.
    """

    format: Literal["jdl-deletion-certificate/1"] = "jdl-deletion-certificate/1"
    purge_id: str = Field(pattern=r"^[0-9a-f]{32}$")   # one per purge request (ties marker to entry)
    submission_id: SubmissionId
    trigger: PurgeTrigger
    outcome: PurgeOutcome
    requested_at: datetime
    due_at: datetime | None = None
    purged_at: datetime
    attempts: int = Field(ge=1, default=1)             # >1: resumed after an interruption
    objects_deleted: list[str] = Field(default_factory=list)
    versions_deleted: list[DeletedVersion] = Field(default_factory=list)
    key_id_destroyed: str | None = None
    verification: Verification
    previous_certificate_seq: int | None = None        # already_purged / re-purge: earlier entry

    @property
    def n_objects(self) -> int:
        return len(self.objects_deleted)

    @property
    def n_versions(self) -> int:
        return len(self.versions_deleted)

    @property
    def lag_seconds(self) -> float | None:
        """Due to done, for the purge-lag histogram."""
        return None if self.due_at is None else (self.purged_at - self.due_at).total_seconds()
