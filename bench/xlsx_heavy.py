"""A small XLSX that unzips near the expansion cap: template rows of fake people, each padded with
long text cells in dropped columns (highly compressible XML, expensive to hold as Python strings
while the worksheet is read). Used by bench/bench_xlsx_memory.py and the parser's tests."""
from __future__ import annotations

import io
import zipfile
from datetime import date

HEADER = ["Forename", "Surname", "Date of birth", "Sex", "Intervention start date", "Setting",
          "PNC ID", "Prison number", "Intervention end date"]

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '</Types>')
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
    '</Relationships>')
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Cohort" sheetId="1" r:id="rId1"/></sheets></workbook>')
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    '</Relationships>')


def _inline(text: str) -> str:
    return f'<c t="inlineStr"><is><t>{text}</t></is></c>'


def _letters(k: int) -> str:
    """k in base 26 with lowercase letters, so that every fake surname is a distinct name."""
    out = ""
    while True:
        k, r = divmod(k, 26)
        out = chr(97 + r) + out
        if k == 0:
            return out


def _person(i: int) -> list[str]:
    dob = date(1965 + i % 25, 1 + i % 12, 1 + (i * 7) % 28)
    start = date(2003 + i % 6, 1 + (i * 5) % 12, 1 + (i * 3) % 28)
    return [("Aldith", "Brannoc", "Cressida", "Dorran")[i % 4], f"Tre{_letters(i)}", dob.strftime("%d/%m/%Y"), "MF"[i % 2],
            start.strftime("%d/%m/%Y"), "custody", "", "",
            date(start.year + 1, start.month, start.day).strftime("%d/%m/%Y")]


def heavy_workbook(rows: int = 5_000, padding: int = 25, cell_chars: int = 4000) -> bytes:
    """XLSX bytes: ``rows`` people, each followed by ``padding`` text cells of ``cell_chars``
    characters (dropped columns). The defaults unzip to about 0.5 GB, near the 600 MB cap of a
    20 MB upload limit, from about 0.6 MB."""
    header_cells = "".join(_inline(h) for h in HEADER) + "".join(
        _inline(f"Extra {k}") for k in range(padding))
    pad = _inline("x" * cell_chars) * padding
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("xl/workbook.xml", _WORKBOOK)
        z.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as f:
            f.write(b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet '
                    b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
            f.write(f"<row>{header_cells}</row>".encode())
            for i in range(rows):
                f.write(f"<row>{''.join(_inline(v) for v in _person(i))}{pad}</row>".encode())
            f.write(b"</sheetData></worksheet>")
    return out.getvalue()
