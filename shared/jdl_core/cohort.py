"""Validation of an organisation's cohort upload (CSV/XLSX): canonical rows, or reasons for refusal.

Two steps, both pure (bytes in, frames and dataclasses out; nothing is stored or logged here):

``parse_upload(data, filename)``
    Reads a CSV (delimiter sniffed; UTF-8, UTF-8 with BOM, UTF-16 with BOM or Windows-1252) or the
    first worksheet of an XLSX workbook (recognised by its content, not its name) into a frame of
    strings with canonical column names (``schema.UPLOAD_REQUIRED`` / ``UPLOAD_OPTIONAL``) and a
    ``row_number`` column. File-level problems raise a ``CohortError`` subclass with a stable
    ``code``: the whole upload is refused and must not be stored.

``validate_cohort(frame, setting=..., ...)``
    Checks every row, returns a ``ValidatedCohort`` with the accepted rows in canonical form, a
    ``RowRejection`` (row number, column, reason code, message) for each problem of each rejected
    row, warnings, and counts; raises ``CohortTooSmall`` when fewer than ``min_size`` rows are
    accepted (the rejections travel on the exception so they can still be shown).

``validate_upload`` runs both.

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

import codecs
import csv
import io
import re
import unicodedata
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Callable, Final, Literal, TypeVar

import numpy as np
import pandas as pd

from .errors import CohortError, InvalidArgument
from .identifiers import InvalidIdentifier, canonical_pnc, canonical_prison_number
from .schema import (ATTRIBUTE_MAX_CHARS, COVERAGE_END, COVERAGE_START, PROGRAMME_ATTRIBUTES,
                     SETTINGS, UPLOAD_OPTIONAL, UPLOAD_REQUIRED)

T = TypeVar("T")
DEFAULT_MAX_BYTES: Final = 20 * 1024 * 1024
DEFAULT_MAX_ROWS: Final = 100_000
DEFAULT_MIN_SIZE: Final = 60
MIN_AGE: Final = 10    # age of criminal responsibility in England and Wales
MAX_AGE: Final = 100
# An XLSX is a zip: refuse one whose parts expand beyond this multiple of the upload limit.
_MAX_XLSX_EXPANSION: Final = 30

# Keys of DataFrame.attrs through which parse_upload hands file-level facts to validate_cohort.
ATTR_WARNINGS: Final = "jdl_upload_warnings"
ATTR_MISALIGNED: Final = "jdl_misaligned_rows"
ATTR_FORMAT: Final = "jdl_upload_format"

UploadFormat = Literal["csv", "xlsx"]

# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


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

    def __init__(self, counts: "CohortCounts", rejections: list["RowRejection"],
                 warnings: list["CohortWarning"], min_size: int) -> None:
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


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------

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
    """What ``read_upload`` found in a file: the frame of strings and file-level facts."""

    frame: pd.DataFrame = field(repr=False)
    format: UploadFormat
    warnings: list[CohortWarning]
    misaligned_rows: tuple[int, ...]     # CSV rows with values beyond the last heading


# --------------------------------------------------------------------------------------------
# Column names
# --------------------------------------------------------------------------------------------

LABELS: Final[dict[str, str]] = {
    "forename": "forename", "surname": "surname", "date_of_birth": "date of birth", "sex": "sex",
    "intervention_start": "intervention start date", "setting": "setting (custody or community)",
    "pnc_id": "PNC ID", "prison_number": "prison number",
    "intervention_end": "intervention end date", "other_id": "other identifier",
    "completed": "completed the programme", "sessions_attended": "sessions attended",
    "delivery_mode": "delivery mode", "location": "location",
}
KNOWN_COLUMNS: Final = tuple(UPLOAD_REQUIRED) + tuple(UPLOAD_OPTIONAL) + tuple(PROGRAMME_ATTRIBUTES)

# Headings people actually write, matched after dropping case, spaces, punctuation and anything in
# brackets (so "Date of Birth (DD/MM/YYYY)", "D.O.B." and "date_of_birth" all match).
SYNONYMS: Final[dict[str, tuple[str, ...]]] = {
    "forename": ("forename", "forenames", "first name", "first names", "given name", "given names",
                 "christian name", "name first", "fname"),
    "surname": ("surname", "last name", "family name", "second name", "name last", "lname"),
    "date_of_birth": ("date of birth", "dob", "birth date", "birthdate", "date birth", "born"),
    "sex": ("sex", "gender", "sex mf", "male female"),
    "intervention_start": ("intervention start", "intervention start date", "start date", "start",
                           "programme start", "programme start date", "program start",
                           "program start date", "start of intervention", "date started",
                           "intervention date", "date of intervention"),
    "intervention_end": ("intervention end", "intervention end date", "end date", "end",
                         "programme end", "programme end date", "program end", "program end date",
                         "end of intervention", "date ended", "date left"),
    "setting": ("setting", "custody or community", "custody community", "custodial or community",
                "custody status"),
    "pnc_id": ("pnc id", "pnc", "pnc number", "pnc no", "pnc ref", "pnc reference",
               "police national computer id", "police national computer number"),
    "prison_number": ("prison number", "prison no", "prison id", "prisoner number", "prisoner no",
                      "prisoner id", "noms number", "noms no", "noms id", "nomis number",
                      "nomis id", "prison ref"),
    "other_id": ("other id", "other identifier", "other identifiers", "client id",
                 "client reference", "case id", "case reference", "your reference", "reference",
                 "ref", "crn"),
    "completed": ("completed", "completer", "completed programme", "completed the programme",
                  "programme completed", "completion"),
    "sessions_attended": ("sessions attended", "sessions", "number of sessions", "attendance"),
    "delivery_mode": ("delivery mode", "mode of delivery", "delivery", "mode"),
    "location": ("location", "site", "venue", "delivery location"),
}

# Refused columns (methodology.md section 2): special-category data under UK GDPR art. 9
# (health, sex life or sexual orientation, religion or belief, racial or ethnic origin, political
# opinion, trade union membership, genetic or biometric data) and free text about a person.
# Whole words of the heading (camelCase split) ...
SENSITIVE_WORDS: Final = frozenset({
    "health", "medical", "medication", "medications", "medicine", "diagnosis", "diagnoses",
    "diagnosed", "illness", "mental", "psychiatric", "psychological", "disability", "disabilities",
    "disabled", "gp", "nhs", "hiv", "pregnant", "pregnancy", "treatment", "therapy", "counselling",
    "drug", "drugs", "alcohol", "substance", "addiction", "addictions",
    "sexuality", "orientation", "gay", "lesbian", "bisexual", "lgbt", "lgbtq", "lgbtqi", "trans",
    "transgender", "religion", "religious", "faith", "belief", "beliefs",
    "ethnicity", "ethnic", "race", "racial", "political", "politics", "union",
    "genetic", "biometric", "biometrics", "dna", "fingerprint", "fingerprints",
    "note", "notes", "comment", "comments", "remark", "remarks", "narrative", "observation",
    "observations", "description", "freetext",
})
# ... and fragments of the heading with spaces and punctuation removed ("MentalHealthNeeds").
SENSITIVE_FRAGMENTS: Final = ("health", "medic", "diagnos", "sexual", "religio", "psychiatr",
                              "disabilit", "ethnic", "freetext", "genderidentity")


def _header_key(heading: str) -> str:
    text = unicodedata.normalize("NFKC", heading).replace("\ufeff", "")
    text = re.sub(r"\(.*?\)|\[.*?\]", " ", text)   # drop "(DD/MM/YYYY)" and similar hints
    return re.sub(r"[^0-9a-z]", "", text.lower())


_SYNONYM_KEYS: Final[dict[str, str]] = {
    _header_key(v): canon for canon, variants in SYNONYMS.items() for v in (canon, *variants)
}


def canonical_column(heading: str) -> str | None:
    """The canonical upload column a heading names, or None when it is not recognised."""
    return _SYNONYM_KEYS.get(_header_key(heading))


def is_sensitive_column(heading: str) -> bool:
    """Whether a heading names data too sensitive to accept (see SENSITIVE_WORDS / _FRAGMENTS)."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", unicodedata.normalize("NFKC", heading))
    words = re.findall(r"[a-z0-9]+", spaced.lower())
    compact = "".join(words)
    return any(w in SENSITIVE_WORDS for w in words) or any(f in compact for f in SENSITIVE_FRAGMENTS)


def _column_letter(position: int) -> str:
    """Spreadsheet letters of a 1-based column position (1 -> A, 27 -> AA)."""
    letters = ""
    while position > 0:
        position, rem = divmod(position - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _heading_label(heading: str, position: int) -> str:
    """How a message names a column: by its position and spreadsheet letter, never by its heading.

    A heading is submitted text like any cell (a column headed with a person's name, or a first
    row of people when the header is missing), so it is never echoed: not in refusals, warnings,
    exceptions or logs. ``heading`` is accepted so callers need not change when that rule does."""
    del heading
    return f"column {position} ({_column_letter(position)})"


# --------------------------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------------------------

_MAGIC: Final = (
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"BZh", "a bzip2 archive"),
    (b"MZ", "a Windows program"),
    (b"\x7fELF", "a program"),
    (b"{\\rtf", "an RTF document"),
    (b"\xd0\xcf\x11\xe0", "an old-format (97-2003) Office file"),
)
_FORMAT_HINT: Final = "upload the Data Upload Template as .csv or .xlsx"
_HINTS_BY_EXTENSION: Final = {
    ".xls": "save the workbook as .xlsx (Excel Workbook) or .csv and upload that",
    ".ods": "save the spreadsheet as .xlsx or .csv and upload that",
    ".numbers": "export the spreadsheet as .xlsx or .csv and upload that",
    ".pdf": "export the cohort from the system that holds it as .csv, not as a document",
    ".docx": "put the cohort in the Data Upload Template (.csv or .xlsx), not in a document",
    ".doc": "put the cohort in the Data Upload Template (.csv or .xlsx), not in a document",
}


def _hint_for(filename: str) -> str:
    ext = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return _HINTS_BY_EXTENSION.get(ext, _FORMAT_HINT)


def read_upload(data: bytes, filename: str = "", *, max_bytes: int = DEFAULT_MAX_BYTES,
                max_rows: int = DEFAULT_MAX_ROWS) -> ParsedUpload:
    """Read a cohort file into a ``ParsedUpload``; raise a ``CohortError`` if it must be refused.

    The format is decided by the content, never by ``filename``, which only words the hint of a
    refusal (it is never echoed: a file name may itself hold a person's name).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidArgument(f"data must be bytes, not {type(data).__name__}")
    data = bytes(data)
    if max_bytes < 1 or max_rows < 1:
        raise InvalidArgument(f"max_bytes and max_rows must be positive (got {max_bytes}, {max_rows})")
    if len(data) > max_bytes:
        raise UploadTooLarge(
            f"the file is {len(data):,} bytes; the limit is {max_bytes:,} bytes",
            hint="split the cohort or remove columns the template does not ask for")
    if not data.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise EmptyUpload("the file is empty", hint=_FORMAT_HINT)

    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        header, records = _read_xlsx(data, max_bytes=max_bytes, max_rows=max_rows)
        fmt: UploadFormat = "xlsx"
        misaligned: list[int] = []
    else:
        for magic, what in _MAGIC:
            if data.startswith(magic):
                raise UnsupportedFormat(f"the file is {what}, not a CSV or XLSX file",
                                        hint=_hint_for(filename))
        try:
            header, records, misaligned = _read_csv(data, max_rows=max_rows)
        except UnsupportedFormat as e:
            raise UnsupportedFormat(e.message, hint=_hint_for(filename)) from None
        fmt = "csv"
    frame, warnings = _build_frame(header, records)
    frame.attrs[ATTR_WARNINGS] = list(warnings)
    frame.attrs[ATTR_MISALIGNED] = tuple(misaligned)
    frame.attrs[ATTR_FORMAT] = fmt
    return ParsedUpload(frame, fmt, warnings, tuple(misaligned))


def parse_upload(data: bytes, filename: str = "", *, max_bytes: int = DEFAULT_MAX_BYTES,
                 max_rows: int = DEFAULT_MAX_ROWS) -> pd.DataFrame:
    """Read a cohort file into a frame of strings (``row_number`` + canonical columns).

    File-level warnings (dropped columns) and CSV rows with surplus values are carried in
    ``frame.attrs`` (``ATTR_WARNINGS``, ``ATTR_MISALIGNED``) for ``validate_cohort`` to report.
    """
    return read_upload(data, filename, max_bytes=max_bytes, max_rows=max_rows).frame


_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f]")


def _decode_text(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF16_LE) or data.startswith(codecs.BOM_UTF16_BE):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise UnsupportedFormat("the file is not readable text", hint=_FORMAT_HINT) from None
    if b"\x00" in data:
        raise UnsupportedFormat("the file is binary, not a CSV or XLSX file", hint=_FORMAT_HINT)
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise UnsupportedFormat("the file is not text in UTF-8 or Windows-1252", hint=_FORMAT_HINT)
    # Text files hold almost no control characters; binary data decoded as cp1252 holds many.
    # The first megabyte is witness enough.
    sample = text[:1_000_000]
    if len(_CONTROL_CHARS.findall(sample)) > max(2, len(sample) // 100):
        raise UnsupportedFormat("the file is binary, not a CSV or XLSX file", hint=_FORMAT_HINT)
    return text


def _sniff_delimiter(text: str) -> str:
    # The header is the best witness: the delimiter that splits it into the most headings wins
    # (csv.Sniffer is easily misled by dates and names in small samples).
    sample = text[:65536]
    first = next((ln for ln in sample.splitlines() if ln.strip()), "")
    best, best_n = ",", 1
    for d in (",", ";", "\t", "|"):
        try:
            n = len(next(csv.reader([first], delimiter=d)))
        except (csv.Error, StopIteration):
            continue
        if n > best_n:
            best, best_n = d, n
    return best


def _read_csv(data: bytes, *, max_rows: int) -> tuple[list[str], list[tuple[int, list[str]]], list[int]]:
    text = _decode_text(data)
    head = text.lstrip()[:10].lower()
    if head.startswith(("<", "{", "[")):
        raise UnsupportedFormat("the file is HTML, XML or JSON, not a CSV or XLSX file",
                                hint=_FORMAT_HINT)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(text))
    header: list[str] | None = None
    records: list[tuple[int, list[str]]] = []
    misaligned: list[int] = []
    try:
        for row_number, fields in enumerate(reader, start=1):
            if not any(f.strip() for f in fields):
                continue                     # blank line: skipped, but still numbered
            if header is None:
                header = fields
                continue
            if len(fields) > len(header):
                if any(f.strip() for f in fields[len(header):]):
                    misaligned.append(row_number)
                fields = fields[: len(header)]
            records.append((row_number, fields))
            if len(records) > max_rows:
                raise TooManyRows(f"the file has more than {max_rows:,} rows of people",
                                  hint="split the cohort into several submissions")
    except csv.Error:
        raise MalformedFile("the CSV file could not be read (unbalanced quotes or an "
                            "over-long field)", hint="export it again from the spreadsheet") from None
    if header is None:
        raise EmptyUpload("the file is empty", hint=_FORMAT_HINT)
    return header, records, misaligned


def _cell_text(value: Any) -> str:
    """A cell as text: dates as YYYY-MM-DD, whole numbers without '.0', blanks as ''."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (datetime, pd.Timestamp)):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (bool, np.bool_)):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return ""
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    text = getattr(value, "text", None)      # openpyxl ArrayFormula / DataTableFormula
    if isinstance(text, str):
        return text if text.startswith("=") else "=" + text
    return str(value)


def _read_xlsx(data: bytes, *, max_bytes: int,
               max_rows: int) -> tuple[list[str], list[tuple[int, list[str]]]]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise UnsupportedFormat("the file is a damaged zip archive, not a CSV or XLSX file",
                                hint=_FORMAT_HINT) from None
    names = {i.filename for i in infos}
    if "xl/workbook.xml" not in names or "[Content_Types].xml" not in names:
        what = "an OpenDocument file" if "mimetype" in names else (
            "a Word document" if "word/document.xml" in names else "a zip archive")
        raise UnsupportedFormat(f"the file is {what}, not an XLSX workbook", hint=_FORMAT_HINT)
    if "xl/vbaProject.bin" in names:
        raise UnsupportedFormat("the workbook contains macros, which are not accepted",
                                hint="save it as .xlsx (Excel Workbook, no macros) or .csv")
    expanded = sum(i.file_size for i in infos)
    if expanded > _MAX_XLSX_EXPANSION * max_bytes:
        raise UploadTooLarge(f"the workbook expands to {expanded:,} bytes when unpacked; the limit "
                             f"is {_MAX_XLSX_EXPANSION * max_bytes:,}", hint="save it as .csv")

    import openpyxl   # imported here: only XLSX uploads pay for it

    header: list[str] | None = None
    records: list[tuple[int, list[str]]] = []
    try:
        # data_only=False: formulas come back as their text ("=..."), never their cached results,
        # so they are caught as formula cells instead of being trusted.
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception:      # openpyxl raises many types for damaged files; none is more useful
        raise MalformedFile("the XLSX workbook could not be read",
                            hint="open it in Excel and save it again, or save it as .csv") from None
    try:
        if not wb.worksheets:
            raise MalformedFile("the workbook has no worksheet", hint=_FORMAT_HINT)
        ws = wb.worksheets[0]
        # Some writers record wrong sheet dimensions; reading without them sees every cell.
        ws.reset_dimensions()
        for row_number, values in enumerate(ws.iter_rows(min_row=1, values_only=True), start=1):
            fields = [_cell_text(v) for v in values]
            if not any(f.strip() for f in fields):
                continue
            if header is None:
                header = fields
                continue
            records.append((row_number, fields))
            if len(records) > max_rows:
                raise TooManyRows(f"the worksheet has more than {max_rows:,} rows of people",
                                  hint="split the cohort into several submissions")
    except (CohortError, MemoryError):
        raise       # out of memory is the reader's limit, not a malformed file
    except Exception:
        raise MalformedFile("the XLSX workbook could not be read",
                            hint="open it in Excel and save it again, or save it as .csv") from None
    finally:
        wb.close()
    if header is None:
        raise EmptyUpload("the first worksheet of the workbook is empty", hint=_FORMAT_HINT)
    return header, records


def _build_frame(header: list[str],
                 records: list[tuple[int, list[str]]]) -> tuple[pd.DataFrame, list[CohortWarning]]:
    """Map headings to canonical columns, refuse bad column sets, keep only known columns."""
    width = max([len(header)] + [len(f) for _, f in records])
    header = [h.strip() for h in header] + [""] * (width - len(header))
    canon = [canonical_column(h) if h else None for h in header]

    if not any(c in UPLOAD_REQUIRED for c in canon):
        # Probably no header row: the first row may be a person, so none of it is echoed.
        raise MissingColumns(
            list(UPLOAD_REQUIRED),
            "none of the required columns was found in the first row: "
            + ", ".join(UPLOAD_REQUIRED),
            hint="the first row must hold the column headings of the Data Upload Template")

    sensitive = [(i, h) for i, (h, c) in enumerate(zip(header, canon), 1)
                 if h and c is None and is_sensitive_column(h)]
    if sensitive:
        labels = [_heading_label(h, i) for i, h in sensitive]
        raise SensitiveColumns(
            labels,
            f"the file has {len(labels)} column(s) too sensitive to accept (health, sexuality, "
            f"religion, ethnicity or free-text notes about a person): " + ", ".join(labels),
            hint="delete these columns and upload again; the file has not been stored")

    positions: dict[str, list[int]] = {}
    for i, c in enumerate(canon):
        if c is not None:
            positions.setdefault(c, []).append(i)
    dupes = {c: p for c, p in positions.items() if len(p) > 1}
    if dupes:
        labels = [f"{c} ({' and '.join(_heading_label(header[i], i + 1) for i in p)})"
                  for c, p in dupes.items()]
        raise DuplicateColumns(
            list(dupes), "more than one column gives the same field: " + "; ".join(labels),
            hint="keep one column for each field")

    missing = [c for c in UPLOAD_REQUIRED if c not in positions]
    if missing:
        hint = "add them with these headings (see the Data Upload Template)"
        if {"forename", "surname"} & set(missing) and any(
                _header_key(h) in ("name", "fullname", "names") for h in header):
            hint = "give forename and surname in two columns, not one name column"
        raise MissingColumns(missing, "required column(s) missing: " + ", ".join(missing),
                             hint=hint)
    if not records:
        raise NoDataRows("the file has a header row but no rows of people",
                         hint="add one row per person below the headings")

    warnings: list[CohortWarning] = []
    has_values = [False] * width
    for _, f in records:
        for i, v in enumerate(f):
            if v.strip():
                has_values[i] = True
    dropped = [_heading_label(h, i + 1) for i, (h, c) in enumerate(zip(header, canon))
               if h and c is None]
    if dropped:
        warnings.append(CohortWarning(
            "dropped_columns",
            f"{len(dropped)} column(s) not in the template were ignored and not stored: "
            + ", ".join(dropped)))
    unnamed = [f"column {i + 1}" for i, h in enumerate(header) if not h and has_values[i]]
    if unnamed:
        warnings.append(CohortWarning(
            "unnamed_columns",
            f"{len(unnamed)} column(s) without a heading hold values, which were ignored and not "
            f"stored: " + ", ".join(unnamed)))

    columns: dict[str, Any] = {"row_number": np.array([rn for rn, _ in records], dtype=np.int64)}
    for c in KNOWN_COLUMNS:
        if c in positions:
            i = positions[c][0]
            columns[c] = [f[i] if i < len(f) else "" for _, f in records]
    return pd.DataFrame(columns), warnings


# --------------------------------------------------------------------------------------------
# Cells
# --------------------------------------------------------------------------------------------

_FORMULA_LEAD: Final = frozenset("=@+-\t\r\n ")
_PLAIN_NUMBER = re.compile(r"[+-]\s*\d+(?:[.,]\d+)?")


def looks_like_formula(value: str) -> bool:
    """Whether a cell's text would be taken as a formula by a spreadsheet (CSV/formula injection).

    Leading whitespace, tab and CR are skipped first: they are a known way to hide a formula.
    """
    s = value.lstrip(" \t\r\n")
    if not s:
        return False
    if s[0] in "=@":
        return True
    if s[0] in "+-":
        # "+44..." or "-5" are numbers; "-2+3+cmd|' /C calc'!A0" or "+SUM(A1)" are not.
        return len(s) > 1 and not _PLAIN_NUMBER.fullmatch(s)
    return False


_MISSING_TOKENS: Final = frozenset({"", "n/a", "na", "n.a.", "null", "none", "nil", "unknown",
                                    "not known", "-", "--", "?", "#n/a"})
_MONTHS: Final = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_TIME = r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
_ISO_DATE = re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})" + _TIME)
_DMY_DATE = re.compile(r"(\d{1,2})([-/.])(\d{1,2})\2(\d{4})" + _TIME)
_DMONY_DATE = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?[-\s/]+([A-Za-z]{3,9})\.?[-\s/,]+(\d{4})")
_EXCEL_SERIAL = re.compile(r"(\d{5})(?:\.\d+)?")
_EXCEL_EPOCH: Final = date(1899, 12, 30)   # so that serial 61 is 1900-03-01, as Excel counts
_MIN_YEAR, _MAX_YEAR = 1900, 2100


def parse_date(text: str) -> date | None:
    """A UK (day-first) date from a cell's text, or None when it is not one (see module doc)."""
    s = text.strip()
    y = m = d = None
    if mt := _ISO_DATE.fullmatch(s):
        y, m, d = int(mt[1]), int(mt[3]), int(mt[4])
    elif mt := _DMY_DATE.fullmatch(s):
        d, m, y = int(mt[1]), int(mt[3]), int(mt[4])
    elif mt := _DMONY_DATE.fullmatch(s):
        month = mt[2].lower()
        m = _MONTHS.get(month[:3])
        full = ("january", "february", "march", "april", "may", "june", "july", "august",
                "september", "october", "november", "december")
        if m is None or not (len(month) == 3 or month == full[m - 1] or month == "sept"):
            return None
        d, y = int(mt[1]), int(mt[3])
    elif mt := _EXCEL_SERIAL.fullmatch(s):
        try:
            result = _EXCEL_EPOCH + timedelta(days=int(mt[1]))
        except OverflowError:
            return None
        return result if result.year <= _MAX_YEAR else None
    else:
        return None
    if not _MIN_YEAR <= y <= _MAX_YEAR:
        return None
    try:
        return date(y, m, d)
    except ValueError:          # 31/02, month 13 (a month-first date), day 0...
        return None


_SEX: Final = {"m": "M", "male": "M", "man": "M", "f": "F", "female": "F", "woman": "F"}
_SETTING: Final = {
    "custody": "custody", "custodial": "custody", "prison": "custody", "in custody": "custody",
    "custodial sentence": "custody",
    "community": "community", "in the community": "community", "community order": "community",
    "community sentence": "community", "probation": "community",
}
_NAME = re.compile(r"[^\W\d_](?:[^\W\d_]|[ '’‘`.\-])*")
_MAX_NAME = 100


_NAME_DROP = re.compile(r"['’‘`.]")


def name_key(name: str) -> str:
    """Upper-case linkage key of a name: accents folded, apostrophes and dots removed, hyphens
    and runs of spaces made one space ("O'Brien-Smyth " -> "OBRIEN SMYTH")."""
    if not name.isascii():
        name = "".join(ch for ch in unicodedata.normalize("NFKD", name)
                       if not unicodedata.combining(ch))
    return " ".join(_NAME_DROP.sub("", name).replace("-", " ").split()).upper()


def _to_date(value: Any, name: str) -> date:
    if isinstance(value, date):
        return value.date() if isinstance(value, datetime) else value
    if isinstance(value, str):
        d = parse_date(value)
        if d is not None:
            return d
    raise InvalidArgument(f"{name} must be a date or YYYY-MM-DD string, not {value!r}")


_NAME_COLUMNS: Final = ("forename", "surname")
_DATE_COLUMNS: Final = ("date_of_birth", "intervention_start", "intervention_end")
_IGNORED: Final = "; the {} was ignored and the person will be found by name, date of birth and sex"
# Fixed wording per (reason, column): messages are built from these only, never from a cell.
_MESSAGES: Final[dict[tuple[str, str | None], str]] = {
    ("misaligned_row", None): "the row has more values than the header has columns (often an "
                              "unquoted comma inside a value); the row was not used",
    **{("formula_injection", c): f"{LABELS[c]} starts like a spreadsheet formula (=, +, -, @); "
                                 "formulas are not accepted" for c in KNOWN_COLUMNS},
    **{("missing_required", c): f"{LABELS[c]} is empty; it is required" for c in UPLOAD_REQUIRED},
    **{("invalid_name", c): f"{LABELS[c]} must start with a letter and hold only letters, spaces, "
                            f"hyphens, apostrophes and full stops (at most {_MAX_NAME})"
       for c in _NAME_COLUMNS},
    **{("invalid_date", c): f"{LABELS[c]} is not a date in an accepted form; use day/month/year "
                            "with a four-digit year (DD/MM/YYYY) or YYYY-MM-DD"
       for c in _DATE_COLUMNS},
    ("dob_in_future", "date_of_birth"): "date of birth is in the future",
    ("implausible_age", "date_of_birth"): f"date of birth gives an age below {MIN_AGE} or above "
                                          f"{MAX_AGE} at the intervention start",
    ("end_before_start", "intervention_end"): "intervention end date is before the intervention "
                                              "start date",
    ("invalid_sex", "sex"): "sex must be M or F (Male or Female)",
    ("invalid_setting", "setting"): "setting must be custody or community",
}


def _is_name(text: str) -> bool:
    return len(text) <= _MAX_NAME and _NAME.fullmatch(text) is not None


def _identifier(canonical: Callable[[str], str]) -> Callable[[str], tuple[str | None, str | None]]:
    """A checker giving (canonical form, None) or (None, why it is invalid, in the wording of
    jdl_core.identifiers, which never repeats the value)."""
    def check(text: str) -> tuple[str | None, str | None]:
        try:
            return canonical(text), None
        except InvalidIdentifier as e:
            return None, e.message
    return check


def _memoised(fn: Callable[[str], T]) -> Callable[[str], T]:
    """Memoise fn for one validation only. Values repeat within a cohort (dates, names), but a
    module-level cache would keep people's names and dates in the process after the submission
    is deleted, so each call of validate_cohort gets its own cache, dropped when it returns."""
    cache: dict[str, T] = {}

    def call(text: str) -> T:
        try:
            return cache[text]
        except KeyError:
            result = cache[text] = fn(text)
            return result
    return call


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def validate_cohort(
    df: pd.DataFrame,
    *,
    setting: str,
    coverage_start: date | str = COVERAGE_START,
    coverage_end: date | str = COVERAGE_END,
    min_size: int = DEFAULT_MIN_SIZE,
    today: date | None = None,
    coverage_note: str = "",
) -> ValidatedCohort:
    """Check every row of a parsed upload (see the module doc for the rules and choices).

    ``df`` is what ``parse_upload`` returns, or any frame with the canonical column names (a
    frame without ``row_number`` is numbered as a spreadsheet would: first row = 2). ``setting``
    is the programme's setting; ``today`` (default: the current date) bounds dates of birth.
    ``coverage_note`` says why the coverage ends where it does (national.DataWindow.note).
    Raises ``CohortTooSmall`` when fewer than ``min_size`` rows are accepted.
    """
    if setting not in SETTINGS:
        raise InvalidArgument(f"setting must be one of {', '.join(SETTINGS)}, not {setting!r}")
    if not isinstance(min_size, int) or min_size < 1:
        raise InvalidArgument(f"min_size must be a positive integer, not {min_size!r}")
    start_bound = _to_date(coverage_start, "coverage_start")
    end_bound = _to_date(coverage_end, "coverage_end")
    if start_bound > end_bound:
        raise InvalidArgument(f"coverage_start ({start_bound}) is after coverage_end ({end_bound})")
    today = today or date.today()
    missing = [c for c in UPLOAD_REQUIRED if c not in df.columns]
    if missing:
        raise MissingColumns(missing, "required column(s) missing: " + ", ".join(missing),
                             hint="name the columns as in schema.UPLOAD_REQUIRED")

    n = len(df)
    row_numbers = (df["row_number"].astype("int64").tolist() if "row_number" in df.columns
                   else list(range(2, n + 2)))
    misaligned = set(df.attrs.get(ATTR_MISALIGNED, ()))
    warnings: list[CohortWarning] = list(df.attrs.get(ATTR_WARNINGS, ()))
    msg = dict(_MESSAGES)
    msg["outside_coverage", "intervention_start"] = (
        "intervention start date is outside the period covered by the national data "
        f"({start_bound.isoformat()} to {end_bound.isoformat()})"
        + (f": {coverage_note}" if coverage_note else ""))
    msg["setting_mismatch", "setting"] = (
        f"setting differs from the programme's setting ({setting}); people from the other "
        "setting need a submission of their own")

    # Column by column first (list comprehensions and memoised parsers are fast), then one pass
    # over the rows to gather each row's problems.
    to_date, to_key, is_name = _memoised(parse_date), _memoised(name_key), _memoised(_is_name)
    to_pnc = _memoised(_identifier(canonical_pnc))
    to_prison = _memoised(_identifier(canonical_prison_number))
    raw = {c: ([_cell_text(v) for v in df[c].tolist()] if c in df.columns else [""] * n)
           for c in KNOWN_COLUMNS}
    # The first-character test is a cheap filter: most cells cannot be formulas.
    formula = {c: [bool(v) and v[0] in _FORMULA_LEAD and looks_like_formula(v) for v in raw[c]]
               for c in KNOWN_COLUMNS}
    val = {c: ["" if f else v.strip() for v, f in zip(raw[c], formula[c])] for c in KNOWN_COLUMNS}
    # Absent: empty (names) or a "no value" token (other columns); a formula cell is not absent.
    absent = {c: [not f and (not v if c in _NAME_COLUMNS else v.lower() in _MISSING_TOKENS)
                  for v, f in zip(val[c], formula[c])] for c in KNOWN_COLUMNS}
    names = {c: [" ".join(v.split()) for v in val[c]] for c in _NAME_COLUMNS}
    dates = {c: [None if f or a or not v else to_date(v)
                 for v, f, a in zip(val[c], formula[c], absent[c])] for c in _DATE_COLUMNS}
    given = {c: [bool(v) and not f and not a for v, f, a in zip(val[c], formula[c], absent[c])]
             for c in KNOWN_COLUMNS}
    sexes = [_SEX.get(v.lower()) if g else None for v, g in zip(val["sex"], given["sex"])]
    settings = [_SETTING.get(" ".join(v.lower().split())) if g else None
                for v, g in zip(val["setting"], given["setting"])]
    pncs = [to_pnc(v) if g else (None, None)
            for v, g in zip(val["pnc_id"], given["pnc_id"])]
    prisons = [to_prison(v) if g else (None, None)
               for v, g in zip(val["prison_number"], given["prison_number"])]

    rejections: list[RowRejection] = []
    accepted: list[dict[str, Any]] = []
    seen: dict[tuple, int] = {}          # duplicate key -> row number of its first accepted row
    rejected_reasons: list[set[str]] = []

    for i in range(n):
        rn = row_numbers[i]
        problems: list[tuple[str | None, str]] = []      # (column, reason)
        if rn in misaligned:
            problems.append((None, "misaligned_row"))
        problems += [(c, "formula_injection") for c in KNOWN_COLUMNS if formula[c][i]]
        problems += [(c, "missing_required") for c in UPLOAD_REQUIRED if absent[c][i]]
        problems += [(c, "invalid_name") for c in _NAME_COLUMNS
                     if names[c][i] and not is_name(names[c][i])]
        problems += [(c, "invalid_date") for c in _DATE_COLUMNS
                     if given[c][i] and dates[c][i] is None]
        dob = dates["date_of_birth"][i]
        start = dates["intervention_start"][i]
        end = dates["intervention_end"][i]
        if dob is not None and dob > today:
            problems.append(("date_of_birth", "dob_in_future"))
        elif dob is not None and start is not None:
            age = start.year - dob.year - ((start.month, start.day) < (dob.month, dob.day))
            if not MIN_AGE <= age <= MAX_AGE:
                problems.append(("date_of_birth", "implausible_age"))
        if start is not None and not start_bound <= start <= end_bound:
            problems.append(("intervention_start", "outside_coverage"))
        if start is not None and end is not None and end < start:
            problems.append(("intervention_end", "end_before_start"))
        if given["sex"][i] and sexes[i] is None:
            problems.append(("sex", "invalid_sex"))
        if given["setting"][i]:
            if settings[i] is None:
                problems.append(("setting", "invalid_setting"))
            elif settings[i] != setting:
                problems.append(("setting", "setting_mismatch"))

        (pnc, pnc_error), (prison, prison_error) = pncs[i], prisons[i]
        if pnc_error:
            warnings.append(CohortWarning("invalid_pnc", pnc_error + _IGNORED.format("PNC ID"),
                                          rn, "pnc_id"))
        if prison_error:
            warnings.append(CohortWarning("invalid_prison_number",
                                          prison_error + _IGNORED.format("prison number"),
                                          rn, "prison_number"))

        if problems:
            rejections += [RowRejection(rn, c, code, msg[code, c]) for c, code in problems]
            rejected_reasons.append({code for _, code in problems})
            continue

        forename, surname = names["forename"][i], names["surname"][i]
        fkey, skey = to_key(forename), to_key(surname)
        keys: list[tuple[tuple, str | None, str]] = []
        if pnc:
            keys.append((("pnc", pnc), "pnc_id", "same PNC ID"))
        if prison:
            keys.append((("prison", prison), "prison_number", "same prison number"))
        keys.append((("name_dob", fkey.replace(" ", ""), skey.replace(" ", ""), dob), None,
                     "same forename, surname and date of birth"))
        first = next(((seen[k], col, why) for k, col, why in keys if k in seen), None)
        if first is not None:
            rejections.append(RowRejection(
                rn, first[1], "duplicate",
                f"the same person as row {first[0]} ({first[2]}); only the first row was used"))
            rejected_reasons.append({"duplicate"})
            continue
        for k, _, _ in keys:
            seen[k] = rn
        accepted.append({
            "row_number": rn, "forename": forename, "surname": surname,
            "forename_key": fkey, "surname_key": skey, "date_of_birth": dob, "sex": sexes[i],
            "pnc_id": pnc, "prison_number": prison, "intervention_start": start,
            "intervention_end": end, "other_id": val["other_id"][i] if given["other_id"][i] else None,
            # a value longer than a category label is free text: not kept, never analysed
            **{a: (" ".join(val[a][i].split()) if given[a][i]
                   and len(val[a][i]) <= ATTRIBUTE_MAX_CHARS else None)
               for a in PROGRAMME_ATTRIBUTES},
        })

    by_reason = Counter(r for reasons in rejected_reasons for r in reasons)
    counts = CohortCounts(
        submitted=n, accepted=len(accepted), rejected=len(rejected_reasons),
        by_reason={r: by_reason[r] for r in REJECTION_REASONS if by_reason[r]},
        warnings_by_code=dict(Counter(w.code for w in warnings)),
    )
    if len(accepted) < min_size:
        raise CohortTooSmall(counts, rejections, warnings, min_size)
    return ValidatedCohort(_rows_frame(accepted), rejections, warnings, counts, setting)


def _rows_frame(accepted: list[dict[str, Any]]) -> pd.DataFrame:
    # Typed arrays built directly: one frame construction instead of a cast per column.
    data: dict[str, Any] = {}
    for c in ROW_COLUMNS:
        values = [r[c] for r in accepted]
        if c == "row_number":
            data[c] = np.asarray(values, dtype=np.int64)
        elif c in ("date_of_birth", "intervention_start", "intervention_end"):
            data[c] = np.array(values, dtype="datetime64[D]").astype("datetime64[ns]")
        else:
            data[c] = pd.array(values, dtype="string")
    return pd.DataFrame(data, columns=list(ROW_COLUMNS))


def validate_upload(
    data: bytes,
    filename: str = "",
    *,
    setting: str,
    coverage_start: date | str = COVERAGE_START,
    coverage_end: date | str = COVERAGE_END,
    min_size: int = DEFAULT_MIN_SIZE,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_rows: int = DEFAULT_MAX_ROWS,
    today: date | None = None,
) -> ValidatedCohort:
    """``parse_upload`` then ``validate_cohort``: the whole intake check of one file."""
    frame = parse_upload(data, filename, max_bytes=max_bytes, max_rows=max_rows)
    return validate_cohort(frame, setting=setting, coverage_start=coverage_start,
                           coverage_end=coverage_end, min_size=min_size, today=today)
