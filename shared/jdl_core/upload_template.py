"""The Data Upload Template to download (CSV and XLSX) and its column list with rules.

Derived from one source: the column names from ``schema.UPLOAD_REQUIRED``/``UPLOAD_OPTIONAL``,
their readable labels from ``cohort.LABELS``, the accepted values from the parser's own tables,
so the template, the upload page and the validator cannot disagree. The template holds headings
only (an example person in a file people fill in risks being submitted).
"""
from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass

from .cohort import LABELS, MAX_AGE, MIN_AGE, REJECTION_REASONS
from .cohort.cells import SETTING_WORDS, SEX_WORDS
from .schema import (
    ATTRIBUTE_MAX_CHARS,
    COVERAGE_END,
    COVERAGE_START,
    PROGRAMME_ATTRIBUTES,
    UPLOAD_OPTIONAL,
    UPLOAD_REQUIRED,
)

__all__ = ["TemplateColumn", "template_columns", "template_rules", "template_csv", "template_xlsx"]

_DATE = "a date, day first: 25/03/2006 (also 25-03-2006, 25 Mar 2006, 2006-03-25)"
# What each column takes; every upload column must have an entry (checked by a test).
_RULES: dict[str, str] = {
    "forename": "letters, spaces, hyphens, apostrophes and full stops; as on official records",
    "surname": "letters, spaces, hyphens, apostrophes and full stops; as on official records",
    "date_of_birth": f"{_DATE}; age at the intervention start {MIN_AGE} to {MAX_AGE}",
    "sex": "M or F (" + ", ".join(sorted(k for k in SEX_WORDS if len(k) > 1)) + " also accepted)",
    "intervention_start": f"{_DATE}; when the person started with your programme",
    "setting": "custody or community, the same for every row as the programme's setting ("
               + ", ".join(sorted(k for k in SETTING_WORDS if k not in ("custody", "community")))
               + " also accepted)",
    "pnc_id": "Police National Computer ID if you hold it, e.g. 2004/0046583U (improves linking)",
    "prison_number": "prison (NOMIS) number if you hold it, e.g. A1234BC (improves linking)",
    "intervention_end": f"{_DATE}; on or after the start; leave empty if still taking part",
    "other_id": "your own reference for the person; not analysed, never printed",
    **{a: f"optional short category (at most {ATTRIBUTE_MAX_CHARS} characters, e.g. yes/no); "
          "each value is analysed as a sub-group of its own" for a in PROGRAMME_ATTRIBUTES},
}


@dataclass(frozen=True)
class TemplateColumn:
    name: str          # the heading to use
    label: str         # what it means
    required: bool
    rule: str          # accepted values


def template_columns() -> list[TemplateColumn]:
    return [TemplateColumn(c, LABELS[c], c in UPLOAD_REQUIRED, _RULES[c])
            for c in (*UPLOAD_REQUIRED, *UPLOAD_OPTIONAL, *PROGRAMME_ATTRIBUTES)]


def template_rules(min_cohort_size: int = 60, coverage_start: str = COVERAGE_START,
                   coverage_end: str = COVERAGE_END) -> list[str]:
    """The rules of a whole file, as the intake applies them."""
    return [
        "One row per person; the first row holds the headings (other common headings such as "
        "'Date of Birth' or 'DOB' are recognised; unrecognised columns are dropped).",
        f"At least {min_cohort_size} people after invalid and duplicate rows are removed "
        "(fewer than about 150 gives wide intervals).",
        f"Intervention start dates between {coverage_start} and {coverage_end}.",
        "Do not add columns about health, ethnicity, religion, sexuality or free-text notes: "
        "files with such columns are refused and not stored.",
        "CSV (UTF-8) or Excel XLSX, at most 20 MB.",
        "Rows are rejected by row number with a reason, never by value: "
        + "; ".join(REJECTION_REASONS.values()) + ".",
    ]


def as_dicts() -> list[dict[str, object]]:
    return [asdict(c) for c in template_columns()]


def template_csv() -> bytes:
    """Headings only, UTF-8 with a byte-order mark so Excel opens accents correctly."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerow([c.name for c in template_columns()])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def template_xlsx(min_cohort_size: int = 60, coverage_start: str = COVERAGE_START,
                  coverage_end: str = COVERAGE_END) -> bytes:
    """Sheet 'Cohort' (headings, required ones in bold, columns formatted as text so Excel does
    not turn dates or IDs into numbers) and sheet 'Notes' (the column list and the rules)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "Cohort"
    cols = template_columns()
    for i, c in enumerate(cols, start=1):
        cell = ws.cell(row=1, column=i, value=c.name)
        cell.font = Font(bold=c.required)
        letter = cell.column_letter
        ws.column_dimensions[letter].width = max(14, len(c.name) + 4)
        ws.column_dimensions[letter].number_format = "@"
    ws.freeze_panes = "A2"
    notes = wb.create_sheet("Notes")
    notes.append(["Column", "Meaning", "Required", "Accepted values"])
    for cell in notes[1]:
        cell.font = Font(bold=True)
    for c in cols:
        notes.append([c.name, c.label, "required" if c.required else "optional", c.rule])
    notes.append([])
    notes.append(["Rules"])
    notes.cell(row=notes.max_row, column=1).font = Font(bold=True)
    for r in template_rules(min_cohort_size, coverage_start, coverage_end):
        notes.append([r])
    for letter, width in zip("ABCD", (20, 28, 10, 90)):
        notes.column_dimensions[letter].width = width
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
