"""Limits and result types of cohort intake: rejection reasons, warnings, counts, the parsed and
the validated upload. Plain data: nothing here reads a file or checks a row."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

import pandas as pd

from ..schema import PROGRAMME_ATTRIBUTES

DEFAULT_MAX_BYTES: Final = 20 * 1024 * 1024
DEFAULT_MAX_ROWS: Final = 100_000
DEFAULT_MIN_SIZE: Final = 60
MIN_AGE: Final = 10    # age of criminal responsibility in England and Wales
MAX_AGE: Final = 100

UploadFormat = Literal["csv", "xlsx"]

RejectionReason = Literal[
    "missing_required",    # a required cell is empty
    "invalid_date",        # not a date in an accepted form (or not a real calendar date)
    "dob_in_future",
    "implausible_age",     # under MIN_AGE or over MAX_AGE at the intervention start
    "outside_coverage",    # intervention start outside the national data's coverage
    "end_before_start",
    "invalid_sex",
    "invalid_name",        # no letter, or characters other than letters, spaces, - ' .
    "invalid_setting",     # not custody/community
    "setting_mismatch",    # custody/community, but not the programme's setting
    "formula_injection",
    "misaligned_row",      # a CSV row with more values than the header has columns
    "duplicate",
]
REJECTION_REASONS: Final[dict[str, str]] = {
    "missing_required": "a required value is empty",
    "invalid_date": "a date is not in an accepted form",
    "dob_in_future": "the date of birth is in the future",
    "implausible_age": f"the age at the intervention start is below {MIN_AGE} or above {MAX_AGE}",
    "outside_coverage": "the intervention start is outside the period of the national data",
    "end_before_start": "the intervention ends before it starts",
    "invalid_sex": "sex is not M or F",
    "invalid_name": "a name contains characters other than letters, spaces, hyphens, "
                    "apostrophes and full stops",
    "invalid_setting": "setting is not custody or community",
    "setting_mismatch": "setting differs from the programme's setting",
    "formula_injection": "a cell holds a spreadsheet formula",
    "misaligned_row": "the row has more values than the header has columns",
    "duplicate": "the same person appears in an earlier row",
}
WarningCode = Literal["invalid_pnc", "invalid_prison_number", "dropped_columns", "unnamed_columns"]


@dataclass(frozen=True)
class RowRejection:
    """One problem of one rejected row. The message never contains the cell's value."""

    row_number: int            # as a spreadsheet shows it, counting the header (usually row 1)
    column: str | None         # canonical column name, None for a whole-row problem
    reason_code: str           # one of REJECTION_REASONS
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"row_number": self.row_number, "column": self.column,
                "reason_code": self.reason_code, "message": self.message}


@dataclass(frozen=True)
class CohortWarning:
    """Something ignored or dropped without rejecting a row (row_number None: the whole file)."""

    code: str                  # one of WarningCode
    message: str
    row_number: int | None = None
    column: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "row_number": self.row_number,
                "column": self.column}


@dataclass(frozen=True)
class CohortCounts:
    """Rows submitted, accepted and rejected; ``by_reason`` counts rows per reason (a row with two
    problems counts under both, so the values may sum to more than ``rejected``)."""

    submitted: int
    accepted: int
    rejected: int
    by_reason: dict[str, int] = field(default_factory=dict)
    warnings_by_code: dict[str, int] = field(default_factory=dict)

    @property
    def duplicates(self) -> int:
        return self.by_reason.get("duplicate", 0)

    @property
    def invalid(self) -> int:
        """Rejected for any reason other than being a duplicate (duplicates have no other reason)."""
        return self.rejected - self.duplicates

    def to_dict(self) -> dict[str, Any]:
        return {"submitted": self.submitted, "accepted": self.accepted, "rejected": self.rejected,
                "invalid": self.invalid, "duplicates": self.duplicates,
                "by_reason": dict(self.by_reason), "warnings_by_code": dict(self.warnings_by_code)}


ROW_COLUMNS: Final = (
    "row_number", "forename", "surname", "forename_key", "surname_key", "date_of_birth", "sex",
    "pnc_id", "prison_number", "intervention_start", "intervention_end", "other_id",
    *PROGRAMME_ATTRIBUTES,
)


@dataclass(frozen=True)
class ValidatedCohort:
    """Accepted rows (personal data: kept out of repr) and everything said about the others."""

    rows: pd.DataFrame = field(repr=False)   # columns ROW_COLUMNS, one row per accepted person
    rejections: list[RowRejection]
    warnings: list[CohortWarning]
    counts: CohortCounts
    setting: str

    def summary(self) -> dict[str, Any]:
        """JSON-ready report for the submitter: counts, rejections and warnings, no personal data."""
        return {"setting": self.setting, "counts": self.counts.to_dict(),
                "rejections": [r.to_dict() for r in self.rejections],
                "warnings": [w.to_dict() for w in self.warnings]}


@dataclass(frozen=True)
class ParsedUpload:
    """What ``read_upload`` found in a file: the frame of strings and the file-level facts that
    ``validate_cohort`` reports with the rows (it takes this object, not the frame alone)."""

    frame: pd.DataFrame = field(repr=False)   # row_number + the canonical columns present
    format: UploadFormat
    warnings: tuple[CohortWarning, ...]       # about the whole file (dropped, unnamed columns)
    misaligned_rows: tuple[int, ...]          # CSV rows with values beyond the last heading
