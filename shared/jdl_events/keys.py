"""The object-store layout, defined once: every key the services write or read, and the parsers
that take a submission id (or audit sequence number) back out of a listed key.

Services share the object store as well as the topics, so its layout is part of the contract.
A change to the layout is one diff here; ``tests/unit/test_keys.py`` fails if a key is built by
hand anywhere else in ``shared/`` or ``services/``.

Individual-level data (encrypted, deleted by the purge)::

    submissions/<id>/cohort.parquet.enc           valid rows of the upload (intake)
    submissions/<id>/programme.json               the programme description (intake)
    submissions/<id>/linked.parquet.enc           linked ids and index events (linkage)
    submissions/<id>/cohort_profile.parquet.enc   sex, age, index event of each row (linkage)
    keys/<id>.json                                wrapped data key; destroying it is its own step
    keys/destroyed/<id>.json                      tombstone of a destroyed data key

Aggregates and bookkeeping (no personal data; kept after the purge)::

    status/<id>.json                  the status record (intake's projection of every event)
    stages/<id>/<stage>.json          a stage's marker: the events it sent (jdl_pipeline.stage)
    results/<id>/analysis.json        the AnalysisResult (matching)
    reports/<id>/report.<fmt>         the rendered report, pdf/html/json (reporting)
    publication/records/<id>.json     the publication record
    publication/entries/<id>.json     the catalogue entry prepared with the report
    catalogue/<id>.json               the public catalogue: written only when published
    purges/<id>/in_progress.json      an interrupted purge (purge)
    reconcile/<id>.json               re-drive attempts of a stalled submission (reconciler)
    reconcile/settled.json            ids the reconciler need not read again
    audit/log/<seq:012d>.json         the hash-chained deletion audit log
    public/audit/checkpoints/<seq:012d>.json, public/audit/checkpoint.json,
    public/audit/signing-key.json     signed audit checkpoints and the key that checks them

The S3 adapter's own scratch objects (jdl_infra.objectstore, on endpoints without conditional
writes) live under ``_jdl/``: ``_jdl/leases/<key>`` and ``_jdl/conditional-write-probe/<hex>``.

Builders validate the submission id (``NotASubmissionId``, a ValueError, names no value): a key
built from anything else (a name, a path with ``..``) is never produced. Parsers return None for
a key that is not of their kind, so a listing can be filtered with them.
"""
from __future__ import annotations

import re
from typing import Callable, Final

from .events import SUBMISSION_ID_PATTERN

_SUBMISSION_ID_RE: Final = re.compile(SUBMISSION_ID_PATTERN)


class NotASubmissionId(ValueError):
    """A value given where a submission id was required (the value is not echoed: it may be a
    name)."""

    def __init__(self) -> None:
        super().__init__("submission_id is not a submission id: expected 'sub-' followed by 20 "
                         "lowercase hexadecimal characters")


def is_submission_id(value: object) -> bool:
    return isinstance(value, str) and _SUBMISSION_ID_RE.fullmatch(value) is not None


def _sid(submission_id: str) -> str:
    if not is_submission_id(submission_id):
        raise NotASubmissionId()
    return submission_id


# -- prefixes (for listing) ---------------------------------------------------------------------
SUBMISSIONS: Final = "submissions/"
DATA_KEYS: Final = "keys/"
DESTROYED_KEYS: Final = f"{DATA_KEYS}destroyed/"
STATUS: Final = "status/"
STAGES: Final = "stages/"
RESULTS: Final = "results/"
REPORTS: Final = "reports/"
PUBLICATION_RECORDS: Final = "publication/records/"
PUBLICATION_ENTRIES: Final = "publication/entries/"
CATALOGUE: Final = "catalogue/"
PURGES: Final = "purges/"
RECONCILE: Final = "reconcile/"
AUDIT_LOG: Final = "audit/log/"
PUBLIC_AUDIT: Final = "public/audit/"
CHECKPOINTS: Final = f"{PUBLIC_AUDIT}checkpoints/"

STORE_SCRATCH: Final = "_jdl/"

# -- fixed keys -------------------------------------------------------------------------------
LATEST_CHECKPOINT: Final = f"{PUBLIC_AUDIT}checkpoint.json"
CHECKPOINT_PUBLIC_KEY: Final = f"{PUBLIC_AUDIT}signing-key.json"
RECONCILE_SETTLED: Final = f"{RECONCILE}settled.json"
# read by the API's readiness check: any key will do, and none is ever written here
STORE_PROBE: Final = f"{STATUS}.readyz"


# -- individual-level data and data keys -------------------------------------------------------
def submission_prefix(submission_id: str) -> str:
    """Prefix under which every individual-level object of a submission lives."""
    return f"{SUBMISSIONS}{_sid(submission_id)}/"


def cohort_key(submission_id: str) -> str:
    return f"{submission_prefix(submission_id)}cohort.parquet.enc"


def programme_key(submission_id: str) -> str:
    return f"{submission_prefix(submission_id)}programme.json"


def linked_key(submission_id: str) -> str:
    return f"{submission_prefix(submission_id)}linked.parquet.enc"


def cohort_profile_key(submission_id: str) -> str:
    return f"{submission_prefix(submission_id)}cohort_profile.parquet.enc"


def data_key_key(submission_id: str) -> str:
    """The wrapped data key: not under the data prefix, so destroying it is its own step."""
    return f"{DATA_KEYS}{_sid(submission_id)}.json"


def tombstone_key(submission_id: str) -> str:
    return f"{DESTROYED_KEYS}{_sid(submission_id)}.json"


# -- aggregates and bookkeeping ----------------------------------------------------------------
def status_key(submission_id: str) -> str:
    return f"{STATUS}{_sid(submission_id)}.json"


def stage_prefix(submission_id: str) -> str:
    return f"{STAGES}{_sid(submission_id)}/"


def stage_marker_key(submission_id: str, stage: str) -> str:
    """A stage's marker; the intake API records its submission.received here too (``intake``)."""
    return f"{stage_prefix(submission_id)}{stage}.json"


def result_key(submission_id: str) -> str:
    return f"{RESULTS}{_sid(submission_id)}/analysis.json"


def report_key(submission_id: str, fmt: str) -> str:
    return f"{REPORTS}{_sid(submission_id)}/report.{fmt}"


def publication_record_key(submission_id: str) -> str:
    return f"{PUBLICATION_RECORDS}{_sid(submission_id)}.json"


def catalogue_entry_key(submission_id: str) -> str:
    """The catalogue entry prepared with the report (not public until published)."""
    return f"{PUBLICATION_ENTRIES}{_sid(submission_id)}.json"


def catalogue_key(submission_id: str) -> str:
    """The public catalogue's copy of the entry: exists only once the report is published."""
    return f"{CATALOGUE}{_sid(submission_id)}.json"


def purge_prefix(submission_id: str) -> str:
    return f"{PURGES}{_sid(submission_id)}/"


def purge_marker_key(submission_id: str) -> str:
    return f"{purge_prefix(submission_id)}in_progress.json"


def reconcile_attempts_key(submission_id: str) -> str:
    return f"{RECONCILE}{_sid(submission_id)}.json"


def audit_entry_key(seq: int) -> str:
    return f"{AUDIT_LOG}{seq:012d}.json"


def checkpoint_key(seq: int) -> str:
    return f"{CHECKPOINTS}{seq:012d}.json"


def lease_key(key: str) -> str:
    """The S3 adapter's lease on creating ``key`` (endpoints without If-None-Match)."""
    return f"{STORE_SCRATCH}leases/{key}"


def conditional_write_probe_key(token: str) -> str:
    return f"{STORE_SCRATCH}conditional-write-probe/{token}"


# -- parsers ------------------------------------------------------------------------------------
def _parser(prefix: str, rest: str) -> Callable[[str], str | None]:
    pattern = re.compile(f"^{re.escape(prefix)}({SUBMISSION_ID_PATTERN}){rest}")

    def parse(key: str) -> str | None:
        m = pattern.match(key)
        return m.group(1) if m else None

    return parse


# Each takes a listed key and returns its submission id, or None for a key of another kind.
id_of_status_key = _parser(STATUS, r"\.json$")
id_of_submission_object = _parser(SUBMISSIONS, "/")          # anything under the data prefix
id_of_data_key = _parser(DATA_KEYS, r"\.json$")              # keys/<id>.json, not keys/destroyed/
id_of_report_key = _parser(REPORTS, "/")
id_of_purge_marker = _parser(PURGES, r"/in_progress\.json$")

_AUDIT_ENTRY_RE: Final = re.compile(rf"^{re.escape(AUDIT_LOG)}(\d{{12}})\.json$")


def seq_of_audit_entry(key: str) -> int | None:
    m = _AUDIT_ENTRY_RE.match(key)
    return int(m.group(1)) if m else None
