"""The closed vocabularies the services share, defined once: pipeline stages, submission states,
purge triggers and purge outcomes, report formats. Events, the status record, metrics labels, the audit log, the
runtime and the CLI all import them from here.

Each is a ``Literal`` (it is a JSON string on the wire, and pydantic and mypy check it) with the
tuple of its values beside it for code that iterates (metric children, queue counts).
"""
from __future__ import annotations

from typing import Final, Literal, Mapping, get_args

# -- stages -------------------------------------------------------------------------------------
# One service per stage, in pipeline order; a failure names the stage that gave up.
StageName = Literal["intake", "linkage", "matching", "reporting", "purge"]
STAGES: Final[tuple[StageName, ...]] = get_args(StageName)

# -- submission states (the status record's ``state``) -----------------------------------------
# Open: the stage now working on it ("received": accepted, linkage not started yet).
OpenState = Literal["received", "linkage", "matching", "reporting"]
# Terminal: "done" (report ready; its publication has states of its own, see
# jdl_report.publication), "failed" (a stage gave up), "refused" (the upload was not accepted).
TerminalState = Literal["done", "failed", "refused"]
SubmissionState = Literal[OpenState, TerminalState]
OPEN_STATES: Final[tuple[OpenState, ...]] = get_args(OpenState)
TERMINAL_STATES: Final[tuple[TerminalState, ...]] = get_args(TerminalState)
SUBMISSION_STATES: Final[tuple[SubmissionState, ...]] = OPEN_STATES + TERMINAL_STATES

# -- purge ----------------------------------------------------------------------------------------
# Why a purge ran: report.ready, submission.failed, a refused upload, the retention limit, an
# operator, or objects with no status record.
PurgeTrigger = Literal["report_ready", "failed", "refused", "retention", "manual", "orphan"]
PURGE_TRIGGERS: Final[tuple[PurgeTrigger, ...]] = get_args(PurgeTrigger)
# What it found: data it deleted, nothing left after an earlier purge, or nothing ever stored.
PurgeOutcome = Literal["purged", "already_purged", "unknown_submission"]
PURGE_OUTCOMES: Final[tuple[PurgeOutcome, ...]] = get_args(PurgeOutcome)

# -- reports -------------------------------------------------------------------------------------
# The files the reporting stage renders (reports/<id>/report.<format>) and how they are served.
ReportFormat = Literal["pdf", "html", "json"]
REPORT_FORMATS: Final[tuple[ReportFormat, ...]] = get_args(ReportFormat)
REPORT_MEDIA_TYPES: Final[Mapping[str, str]] = {
    "pdf": "application/pdf", "html": "text/html; charset=utf-8", "json": "application/json"}

# The trigger of the purge a submission in each terminal state is due (keyed by any state string,
# so a record's state looks it up directly).
TRIGGER_OF_STATE: Final[Mapping[str, PurgeTrigger]] = {
    "done": "report_ready", "failed": "failed", "refused": "refused"}
