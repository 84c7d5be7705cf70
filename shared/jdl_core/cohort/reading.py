"""File-format defence: reading the bytes of a CSV or XLSX upload into a ``ParsedUpload``.

Encodings, delimiter sniffing, content-based format detection, zip-bomb and macro checks, openpyxl
quirks, and the column-set refusals (missing, duplicated or sensitive columns). Rows are not
judged here: that is ``validate``.
"""
from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from typing import Any, Final

import numpy as np
import pandas as pd

from ..errors import CohortError, InvalidArgument
from ..schema import UPLOAD_REQUIRED
from .cells import cell_text
from .columns import KNOWN_COLUMNS, _header_key, _heading_label, canonical_column, is_sensitive_column
from .errors import (
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
from .model import DEFAULT_MAX_BYTES, DEFAULT_MAX_ROWS, CohortWarning, ParsedUpload, UploadFormat

# An XLSX is a zip: refuse one whose parts expand beyond this multiple of the upload limit.
_MAX_XLSX_EXPANSION: Final = 30

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
    return ParsedUpload(frame, fmt, tuple(warnings), tuple(misaligned))


def parse_upload(data: bytes, filename: str = "", *, max_bytes: int = DEFAULT_MAX_BYTES,
                 max_rows: int = DEFAULT_MAX_ROWS) -> pd.DataFrame:
    """Read a cohort file into a frame of strings (``row_number`` + canonical columns) only.

    The frame alone does not carry the file-level facts (dropped columns, CSV rows with surplus
    values): to validate a file, pass ``read_upload``'s ``ParsedUpload`` to ``validate_cohort``.
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


def _check_xlsx_archive(data: bytes, *, max_bytes: int) -> None:
    """Refuse a zip that is not a plain workbook (damaged, another format, macros) or that would
    expand beyond the limit, before openpyxl unpacks anything."""
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


def _read_xlsx(data: bytes, *, max_bytes: int,
               max_rows: int) -> tuple[list[str], list[tuple[int, list[str]]]]:
    _check_xlsx_archive(data, max_bytes=max_bytes)
    import openpyxl  # imported here: only XLSX uploads pay for it

    header: list[str] | None = None
    records: list[tuple[int, list[str]]] = []
    try:
        # data_only=False: formulas come back as their text ("=..."), never their cached results,
        # so they are caught as formula cells instead of being trusted.
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception:  # noqa: BLE001 - openpyxl raises many types for damaged files; none is more useful
        raise MalformedFile("the XLSX workbook could not be read",
                            hint="open it in Excel and save it again, or save it as .csv") from None
    try:
        if not wb.worksheets:
            raise MalformedFile("the workbook has no worksheet", hint=_FORMAT_HINT)
        ws = wb.worksheets[0]
        # Some writers record wrong sheet dimensions; reading without them sees every cell.
        ws.reset_dimensions()
        for row_number, values in enumerate(ws.iter_rows(min_row=1, values_only=True), start=1):
            fields = [cell_text(v) for v in values]
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
    except Exception:  # noqa: BLE001 - as above: openpyxl raises many types
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
    _refuse_unusable_headings(header, canon)
    positions = _column_positions(header, canon)
    if not records:
        raise NoDataRows("the file has a header row but no rows of people",
                         hint="add one row per person below the headings")
    columns: dict[str, Any] = {"row_number": np.array([rn for rn, _ in records], dtype=np.int64)}
    for c in KNOWN_COLUMNS:
        if c in positions:
            i = positions[c]
            columns[c] = [f[i] if i < len(f) else "" for _, f in records]
    return pd.DataFrame(columns), _column_warnings(header, canon, records)


def _refuse_unusable_headings(header: list[str], canon: list[str | None]) -> None:
    """Refuse a file without a header row, or with columns too sensitive to accept."""
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


def _column_positions(header: list[str], canon: list[str | None]) -> dict[str, int]:
    """Position of each canonical column; refuses a field given twice or a required one missing."""
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
    return {c: p[0] for c, p in positions.items()}


def _column_warnings(header: list[str], canon: list[str | None],
                     records: list[tuple[int, list[str]]]) -> list[CohortWarning]:
    """Warnings for the columns dropped: headings not in the template, and unheaded values."""
    warnings: list[CohortWarning] = []
    has_values = [False] * len(header)
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
    return warnings
