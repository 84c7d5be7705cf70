"""Validation of an organisation's cohort upload (CSV/XLSX): canonical rows, or reasons for refusal.

Two steps, both pure (bytes in, frames and dataclasses out; nothing is stored or logged here):

``read_upload(data, filename)``
    Reads a CSV (delimiter sniffed; UTF-8, UTF-8 with BOM, UTF-16 with BOM or Windows-1252) or the
    first worksheet of an XLSX workbook (recognised by its content, not its name) into a
    ``ParsedUpload``: a frame of strings with canonical column names (``schema.UPLOAD_REQUIRED`` /
    ``UPLOAD_OPTIONAL``) and a ``row_number`` column, plus the file-level facts (format, warnings
    about dropped columns, CSV rows with values beyond the last heading). File-level problems
    raise a ``CohortError`` subclass with a stable ``code``: the whole upload is refused and must
    not be stored. ``parse_upload`` returns the frame alone.

``validate_cohort(upload, setting=..., ...)``
    Checks every row of the ``ParsedUpload`` (or of a bare frame of canonical columns), returns a
    ``ValidatedCohort`` with the accepted rows in canonical form, a ``RowRejection`` (row number,
    column, reason code, message) for each problem of each rejected row, warnings, and counts;
    raises ``CohortTooSmall`` when fewer than ``min_size`` rows are accepted (the rejections
    travel on the exception so they can still be shown).

``validate_upload`` runs both.

The package follows those steps: ``errors`` (file-level refusals), ``model`` (limits and result
types), ``columns`` (headings and their canonical names), ``reading`` (file-format defence:
encodings, delimiters, zip and macro checks, column sets), ``cells`` (one cell's text to a date,
sex, setting, name key or identifier) and ``validate`` (the row rules and their wording). File
reading and row rules change for different reasons; everything public is re-exported here.

Decisions worth knowing:

- **Row numbers** are those a spreadsheet shows for the file, counting the header: with the
  header on the first line (row 1) the first person is row 2. Blank lines/rows (above the header
  too) are skipped but still counted, so numbers stay those of the file; a CSV record spanning
  lines (a quoted line break) is one row, as Excel shows it. The header is the first non-blank row.
- **No submitted value is ever put in a message** (rejections, warnings, exceptions): only row
  numbers, column names and the rule. Column headings are echoed only when recognised or when
  they look like headings (letters, digits, a little punctuation, at most 60 characters);
  otherwise a column is named by its position.
- **Invalid PNC ID or prison number** (bad form or check letter): a *warning*, not a rejection.
  The identifier is dropped (set to NA) and the row kept, because forename, surname, date of
  birth and sex are required and suffice for probabilistic linkage; rejecting the row would
  lose a person over an optional field.
- **Formula injection**: a kept cell whose text (after leading whitespace, tab or CR) starts with
  ``=`` or ``@``, or with ``+``/``-`` followed by anything other than a plain number, could run as
  a formula when someone opens a file made from it; the row is rejected (``formula_injection``).
  XLSX formulas are read as their text, never computed, so a formula cell is rejected the same way.
- **Dates** are day first (UK): ``DD/MM/YYYY``, ``D/M/YYYY``, ``DD-MM-YYYY``, ``DD.MM.YYYY``,
  ``YYYY-MM-DD`` (optionally followed by a time), ``2 Jan 1985``, real Excel dates, and Excel day
  serial numbers of five digits (1927 to 2100). Two-digit years and month-first dates (``12/31/1985``)
  are refused as ambiguous or invalid.
- **Sex** must be M or F (Male/Female/Man/Woman, any case): the national data and the matching
  strata use these two values only.
- **Duplicates**: a row naming the same person as an earlier accepted row (same canonical PNC ID,
  same prison number, or same normalised forename + surname + date of birth) is rejected as
  ``duplicate``; the first copy is kept.
- **Sensitive columns** (special-category data, free text about a person) refuse the whole file;
  other unrecognised columns are dropped with a warning and never reach the accepted rows (their
  cells are not checked for formulas either: nothing of them is kept).
"""
from __future__ import annotations

from ..schema import UPLOAD_OPTIONAL, UPLOAD_REQUIRED  # the canonical columns, with the rest
from .cells import looks_like_formula, name_key, parse_date
from .columns import (
                      KNOWN_COLUMNS,
                      LABELS,
                      SENSITIVE_FRAGMENTS,
                      SENSITIVE_WORDS,
                      SYNONYMS,
                      canonical_column,
                      is_sensitive_column,
)
from .errors import (
                      CohortTooSmall,
                      DuplicateColumns,
                      EmptyUpload,
                      MalformedFile,
                      MissingColumns,
                      NoDataRows,
                      SensitiveColumns,
                      TooManyRows,
                      UnsupportedFormat,
                      UploadTooLarge,
)
from .model import (
                      DEFAULT_MAX_BYTES,
                      DEFAULT_MAX_ROWS,
                      DEFAULT_MIN_SIZE,
                      MAX_AGE,
                      MIN_AGE,
                      REJECTION_REASONS,
                      ROW_COLUMNS,
                      CohortCounts,
                      CohortWarning,
                      ParsedUpload,
                      RejectionReason,
                      RowRejection,
                      UploadFormat,
                      ValidatedCohort,
                      WarningCode,
)
from .reading import parse_upload, read_upload
from .validate import validate_cohort, validate_upload

__all__ = [
    "CohortCounts", "CohortTooSmall", "CohortWarning", "DEFAULT_MAX_BYTES", "DEFAULT_MAX_ROWS",
    "DEFAULT_MIN_SIZE", "DuplicateColumns", "EmptyUpload", "KNOWN_COLUMNS", "LABELS", "MAX_AGE",
    "MIN_AGE", "MalformedFile", "MissingColumns", "NoDataRows", "ParsedUpload",
    "REJECTION_REASONS", "ROW_COLUMNS", "RejectionReason", "RowRejection", "SENSITIVE_FRAGMENTS",
    "SENSITIVE_WORDS", "SYNONYMS", "SensitiveColumns", "TooManyRows", "UnsupportedFormat",
    "UPLOAD_OPTIONAL", "UPLOAD_REQUIRED", "UploadFormat", "UploadTooLarge", "ValidatedCohort", "WarningCode", "canonical_column",
    "is_sensitive_column", "looks_like_formula", "name_key", "parse_date", "parse_upload",
    "read_upload", "validate_cohort", "validate_upload",
]
