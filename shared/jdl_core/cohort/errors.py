"""File-level refusals of a cohort upload: each ``CohortError`` subclass has a stable ``code``."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import CohortError

if TYPE_CHECKING:      # the result types name these errors' payloads only
    from .model import CohortCounts, CohortWarning, RowRejection


class UploadTooLarge(CohortError):
    code = "file_too_large"


class UnsupportedFormat(CohortError):
    code = "unsupported_format"


class EmptyUpload(CohortError):
    code = "empty_file"


class NoDataRows(CohortError):
    code = "no_data_rows"


class TooManyRows(CohortError):
    code = "too_many_rows"


class MalformedFile(CohortError):
    """The file looks like CSV/XLSX but its structure cannot be read."""

    code = "malformed_file"


class MissingColumns(CohortError):
    code = "missing_columns"

    def __init__(self, missing: list[str], message: str, *, hint: str | None = None) -> None:
        self.columns = tuple(missing)
        super().__init__(message, hint=hint)


class DuplicateColumns(CohortError):
    code = "duplicate_columns"

    def __init__(self, columns: list[str], message: str, *, hint: str | None = None) -> None:
        self.columns = tuple(columns)
        super().__init__(message, hint=hint)


class SensitiveColumns(CohortError):
    code = "sensitive_columns"

    def __init__(self, columns: list[str], message: str, *, hint: str | None = None) -> None:
        self.columns = tuple(columns)
        super().__init__(message, hint=hint)


class CohortTooSmall(CohortError):
    """Fewer valid people than the minimum; carries the counts, rejections and warnings."""

    code = "too_few_rows"

    def __init__(self, counts: CohortCounts, rejections: list[RowRejection],
                 warnings: list[CohortWarning], min_size: int) -> None:
        self.counts = counts
        self.rejections = list(rejections)
        self.warnings = list(warnings)
        self.min_size = min_size
        reasons = ", ".join(f"{r}: {n}" for r, n in sorted(counts.by_reason.items()))
        super().__init__(
            f"only {counts.accepted} of {counts.submitted} rows are valid; at least {min_size} "
            f"people are needed" + (f" (rows rejected by reason: {reasons})" if reasons else ""),
            hint="correct the rows listed in the rejections, or add people, and upload again",
        )
