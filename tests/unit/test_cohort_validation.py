"""Upload parsing and cohort validation (jdl_core.cohort) and the programme description (jdl_core.programme)."""
from __future__ import annotations

import csv
import io
import json
import random
import zipfile
from datetime import date, datetime

import openpyxl
import pandas as pd
import pytest
from pydantic import ValidationError

from jdl_core import cohort as C
from jdl_core.errors import CohortError, InvalidArgument
from jdl_core.identifiers import format_pnc, pnc_check_letter
from jdl_core.programme import (
    InvalidProgramme,
    Programme,
    ProgrammeNotTestable,
    find_not_testable,
    load_programme,
)

TODAY = date(2024, 6, 1)
# Unusual (but real-looking) names so a scan for them cannot hit ordinary words in messages.
FORENAMES = ["Aldith", "Brannoc", "Cressida", "Dorran", "Elowen", "Fenwick", "Gwenllian",
             "Hesketh", "Isolde", "Jory", "Kerensa", "Lowenna", "Morwenna", "Tamsin"]
SURNAMES = ["Trevithick", "Penhaligon", "Polglase", "Tregenza", "Chenoweth", "Pengelly",
            "Rosewarne", "Trelawny", "Carveth", "Angwin"]
TEMPLATE = {"forename": "Forename", "surname": "Surname", "date_of_birth": "Date of birth",
            "sex": "Sex", "intervention_start": "Intervention start date", "setting": "Setting",
            "pnc_id": "PNC ID", "prison_number": "Prison number",
            "intervention_end": "Intervention end date"}


def person(i: int) -> dict[str, str]:
    """The i-th fake person, valid for a custody programme, as the cells of a template row."""
    dob = date(1965 + i % 25, 1 + i % 12, 1 + (i * 7) % 28)
    start = date(2003 + i % 6, 1 + (i * 5) % 12, 1 + (i * 3) % 28)
    return {
        "forename": FORENAMES[i % len(FORENAMES)],
        "surname": SURNAMES[(i // len(FORENAMES)) % len(SURNAMES)],
        "date_of_birth": dob.strftime("%d/%m/%Y"),
        "sex": "M" if i % 3 else "F",
        "intervention_start": start.strftime("%d/%m/%Y"),
        "setting": "custody",
        "pnc_id": format_pnc(1985 + i % 20, 20000 + i * 37),
        "prison_number": f"{'ABCDEFGH'[i % 8]}{1000 + i:04d}{'KLMNPR'[i % 6]}{'STUVWX'[i % 6]}",
        "intervention_end": date(start.year + 1, start.month, start.day).strftime("%d/%m/%Y"),
    }


def people(n: int, start: int = 0) -> list[dict[str, str]]:
    return [person(i) for i in range(start, start + n)]


def to_csv(rows: list[dict], headings: dict[str, str] | None = None, *, delimiter: str = ",",
           encoding: str = "utf-8", extra: dict[str, list[str]] | None = None) -> bytes:
    headings = headings or TEMPLATE
    buf = io.StringIO(newline="")
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    w.writerow(list(headings.values()) + list((extra or {}).keys()))
    for j, r in enumerate(rows):
        w.writerow([r.get(c, "") for c in headings] + [v[j] for v in (extra or {}).values()])
    return buf.getvalue().encode(encoding)


def to_xlsx(rows: list[list], header: list[str]) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header)
    for r in rows:
        ws.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def template_xlsx(rows: list[dict]) -> bytes:
    return to_xlsx([[r.get(c, "") for c in TEMPLATE] for r in rows], list(TEMPLATE.values()))


def validate(data: bytes, filename: str = "cohort.csv", **kw) -> C.ValidatedCohort:
    kw.setdefault("setting", "custody")
    kw.setdefault("today", TODAY)
    return C.validate_upload(data, filename, **kw)


def all_messages(result_or_error) -> str:
    """Every human-readable text the submitter could see."""
    parts = [str(result_or_error)] if isinstance(result_or_error, Exception) else []
    parts += [r.message for r in result_or_error.rejections]
    parts += [w.message for w in result_or_error.warnings]
    if hasattr(result_or_error, "summary"):
        parts.append(json.dumps(result_or_error.summary()))
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------
# Programme
# ---------------------------------------------------------------------------------------------

PROGRAMME = dict(organisation="Second Chance Trust", org_id="second-chance", name="Jobs First",
                 targets="adult men serving short sentences",
                 delivers="employment support and mentoring for twelve weeks",
                 selection="referred by prison resettlement staff", setting="custody",
                 contact_email="Analyst@Example.org")


def test_programme_valid_and_frozen():
    p = Programme(**PROGRAMME)
    assert p.setting == "custody" and p.contact_email == "analyst@example.org"
    assert "example.org" not in repr(p)          # a staff member's address is personal data
    with pytest.raises(ValidationError):
        p.name = "other"                          # frozen
    assert load_programme(json.dumps(PROGRAMME).encode()) == p


@pytest.mark.parametrize("field,value", [
    ("org_id", "Second Chance"), ("org_id", "second_chance"), ("setting", "hospital"),
    ("contact_email", "not-an-address"), ("targets", ""),
])
def test_programme_invalid_fields(field, value):
    with pytest.raises(InvalidProgramme) as e:
        load_programme({**PROGRAMME, field: value})
    assert e.value.code == "invalid_programme" and field in str(e.value)
    if field == "contact_email":
        assert value not in str(e.value)


def test_programme_refuses_extra_fields_and_bad_json():
    with pytest.raises(InvalidProgramme, match="unexpected"):
        load_programme({**PROGRAMME, "unexpected": "x"})
    with pytest.raises(InvalidProgramme, match="not valid JSON"):
        load_programme(b"{not json")


@pytest.mark.parametrize("field,text,category", [
    ("targets", "men convicted of sexual offences", "sex_offending"),
    ("name", "Sex Offender Treatment Programme", "sex_offending"),
    ("targets", "women with severe mental illness", "mental_illness"),
    ("selection", "referred by the prison's psychiatric in-reach team", "mental_illness"),
    ("targets", "prisoners with substance misuse needs", "substance_misuse"),
    ("delivers", "alcohol treatment and detoxification", "substance_misuse"),
    ("targets", "people with a drug addiction, excluding under-21s", "substance_misuse"),
])
def test_programme_not_testable(field, text, category):
    with pytest.raises(ProgrammeNotTestable) as e:
        Programme(**{**PROGRAMME, field: text})
    assert e.value.code == "programme_not_testable"
    assert isinstance(e.value, CohortError)
    assert e.value.categories == (category,)
    assert "no reliable comparison group" in str(e.value) and field in str(e.value)
    with pytest.raises(ProgrammeNotTestable):      # also through load_programme, unwrapped
        load_programme({**PROGRAMME, field: text})


@pytest.mark.parametrize("text", [
    "people with convictions, excluding sexual offences",
    "offenders who are not drug users",
    "young adults; delivers wellbeing and mental health awareness sessions",
    "smiling faces at the gate: mentoring on release",
    "non-violent offenders leaving custody",
])
def test_programme_testable_phrasings(text):
    assert find_not_testable(targets=text) == []
    Programme(**{**PROGRAMME, "targets": text})


# ---------------------------------------------------------------------------------------------
# parse_upload: formats, encodings, headings
# ---------------------------------------------------------------------------------------------

def test_parse_template_csv():
    rows = people(3)
    df = C.parse_upload(to_csv(rows), "cohort.csv")
    assert list(df.columns) == ["row_number", *[c for c in C.KNOWN_COLUMNS if c in TEMPLATE]]
    assert df["row_number"].tolist() == [2, 3, 4]
    assert df["forename"].tolist() == [r["forename"] for r in rows]
    assert all(isinstance(v, str) for c in df.columns if c != "row_number" for v in df[c])
    assert C.read_upload(to_csv(rows), "cohort.csv").format == "csv"


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_sniffed(delimiter):
    rows = people(4)
    df = C.parse_upload(to_csv(rows, delimiter=delimiter), "cohort.txt")
    assert df["surname"].tolist() == [r["surname"] for r in rows]
    assert df["date_of_birth"].tolist() == [r["date_of_birth"] for r in rows]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "utf-16"])
def test_encodings(encoding):
    rows = people(2)
    rows[0]["forename"], rows[1]["surname"] = "Zoë", "Ó Sé"
    df = C.parse_upload(to_csv(rows, encoding=encoding), "cohort.csv")
    assert df["forename"].tolist()[0] == "Zoë" and df["surname"].tolist()[1] == "Ó Sé"
    assert "forename" in df.columns          # a BOM must not stick to the first heading


SYNONYM_HEADINGS = {
    "forename": "First name", "surname": "LAST NAME", "date_of_birth": "D.O.B.",
    "sex": "Gender", "intervention_start": "Programme Start Date",
    "setting": "Custody/Community", "pnc_id": "PNC", "prison_number": "Prison No.",
    "intervention_end": "End date",
}


def test_synonym_headings_are_recognised():
    rows = people(61)
    v = validate(to_csv(rows, SYNONYM_HEADINGS))
    assert v.counts.accepted == 61 and not v.warnings
    assert v.rows["pnc_id"].tolist()[0] == rows[0]["pnc_id"]


@pytest.mark.parametrize("heading,canonical", [
    ("DOB", "date_of_birth"), ("Date of Birth", "date_of_birth"),
    ("date_of_birth", "date_of_birth"), ("Date of birth (DD/MM/YYYY)", "date_of_birth"),
    ("First name", "forename"), ("Given Names", "forename"), ("  forename ", "forename"),
    ("Family name", "surname"), ("PNC", "pnc_id"), ("PNC Number", "pnc_id"),
    ("Prison No", "prison_number"), ("NOMS number", "prison_number"),
    ("Start Date", "intervention_start"), ("Programme end date", "intervention_end"),
    ("Gender", "sex"), ("Client ID", "other_id"), ("Shoe size", None), ("Name", None),
])
def test_canonical_column(heading, canonical):
    assert C.canonical_column(heading) == canonical


@pytest.mark.parametrize("heading", [
    "Health", "Medical history", "Diagnosis", "Sexuality", "Sexual orientation", "Religion",
    "Notes", "Comments", "Free text", "MentalHealthNeeds", "Ethnicity", "Gender identity",
    "Drug use", "Disability",
])
def test_sensitive_columns_refuse_the_file(heading):
    rows = people(61)
    data = to_csv(rows, extra={heading: ["has a condition"] * 61})
    with pytest.raises(C.SensitiveColumns) as e:
        C.parse_upload(data, "cohort.csv")
    assert e.value.code == "sensitive_columns"
    assert e.value.columns == ("column 10 (J)",)        # by position: headings are not echoed
    assert heading not in str(e.value) and "has a condition" not in str(e.value)


@pytest.mark.parametrize("heading", ["Nationality", "Shoe size", "Referral agency"])
def test_unknown_columns_are_dropped_with_a_warning(heading):
    rows = people(61)
    secrets = [f"Qzx{i:03d}" for i in range(61)]
    v = validate(to_csv(rows, extra={heading: secrets}))
    assert v.counts.accepted == 61
    assert [w.code for w in v.warnings] == ["dropped_columns"]
    assert v.warnings[0].message.endswith("ignored and not stored: column 10 (J)")
    assert heading not in v.warnings[0].message and v.warnings[0].row_number is None
    assert not v.rows.astype(str).apply(lambda col: col.str.contains("Qzx")).any().any()


def test_odd_headings_are_named_by_position_not_echoed():
    rows = people(61)
    # a dropped column headed with a person's name (no digits: it would pass a "safe text" test)
    extra = {"=HYPERLINK(\"http://x\")": ["a"] * 61, "Aldith Trevithick 01/02/1980": ["b"] * 61,
             "Aldith Trevithick": ["c"] * 61}
    v = validate(to_csv(rows, extra=extra))
    assert v.warnings[0].message.endswith("column 10 (J), column 11 (K), column 12 (L)")
    assert "HYPERLINK" not in v.warnings[0].message and "Aldith" not in v.warnings[0].message
    assert C.columns._column_letter(27) == "AA" and C.columns._column_letter(52) == "AZ"


def test_missing_columns_are_named():
    headings = {k: v for k, v in TEMPLATE.items() if k not in ("sex", "setting")}
    with pytest.raises(C.MissingColumns) as e:
        C.parse_upload(to_csv(people(5), headings), "cohort.csv")
    assert e.value.code == "missing_columns" and e.value.columns == ("sex", "setting")
    assert "sex" in str(e.value) and "setting" in str(e.value)


def test_a_single_name_column_gets_a_specific_hint():
    headings = {k: v for k, v in TEMPLATE.items() if k not in ("forename", "surname")}
    headings = {"name": "Full name", **headings}
    rows = [{**r, "name": f"{r['forename']} {r['surname']}"} for r in people(3)]
    with pytest.raises(C.MissingColumns) as e:
        C.parse_upload(to_csv(rows, headings), "cohort.csv")
    assert e.value.columns == ("forename", "surname") and "two columns" in str(e.value)


def test_file_without_header_row_is_refused_without_echo():
    rows = people(5)
    body = to_csv(rows).split(b"\r\n", 1)[1]          # drop the header: first row is a person
    with pytest.raises(C.MissingColumns) as e:
        C.parse_upload(body, "cohort.csv")
    assert e.value.columns == C.UPLOAD_REQUIRED
    for value in rows[0].values():
        assert value not in str(e.value)


def test_two_columns_for_one_field_are_refused():
    data = to_csv(people(3), extra={"DOB": ["01/01/1980"] * 3})
    with pytest.raises(C.DuplicateColumns) as e:
        C.parse_upload(data, "cohort.csv")
    assert e.value.code == "duplicate_columns" and e.value.columns == ("date_of_birth",)


@pytest.mark.parametrize("data,error,code", [
    (b"", C.EmptyUpload, "empty_file"),
    (b" \r\n\r\n  ", C.EmptyUpload, "empty_file"),
    (b"\xef\xbb\xbf", C.EmptyUpload, "empty_file"),
    (",".join(TEMPLATE.values()).encode(), C.NoDataRows, "no_data_rows"),
    ((",".join(TEMPLATE.values()) + "\r\n\r\n,,,\r\n").encode(), C.NoDataRows, "no_data_rows"),
])
def test_empty_and_header_only(data, error, code):
    with pytest.raises(error) as e:
        C.parse_upload(data, "cohort.csv")
    assert e.value.code == code


def test_empty_xlsx_and_header_only_xlsx():
    with pytest.raises(C.EmptyUpload):
        C.parse_upload(to_xlsx([], []), "cohort.xlsx")
    with pytest.raises(C.NoDataRows):
        C.parse_upload(to_xlsx([], list(TEMPLATE.values())), "cohort.xlsx")


def test_size_limit():
    data = to_csv(people(61))
    with pytest.raises(C.UploadTooLarge) as e:
        C.parse_upload(data, "cohort.csv", max_bytes=len(data) - 1)
    assert e.value.code == "file_too_large" and f"{len(data) - 1:,}" in str(e.value)
    assert len(C.parse_upload(data, "cohort.csv", max_bytes=len(data))) == 61
    big = data + b"x" * (C.DEFAULT_MAX_BYTES - len(data) + 1)
    with pytest.raises(C.UploadTooLarge):          # the default limit is 20 MB
        C.parse_upload(big, "cohort.csv")


def test_row_limit():
    for data, name in [(to_csv(people(11)), "c.csv"), (template_xlsx(people(11)), "c.xlsx")]:
        with pytest.raises(C.TooManyRows) as e:
            C.parse_upload(data, name, max_rows=10)
        assert e.value.code == "too_many_rows"
        assert len(C.parse_upload(data, name, max_rows=11)) == 11


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return out.getvalue()


NOT_TABULAR = {
    "pdf": (b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF", "cohort.pdf"),
    "png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(64)), "cohort.png"),
    "random": (random.Random(7).randbytes(4096), "cohort.csv"),
    "random_no_nul": (bytes(b or 1 for b in random.Random(8).randbytes(4096)), "cohort.csv"),
    "zip": (_zip({"cohort.csv": to_csv(people(3))}), "cohort.zip"),
    "docx": (_zip({"[Content_Types].xml": b"<x/>", "word/document.xml": b"<x/>"}), "c.docx"),
    "xls": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512), "cohort.xls"),
    "html": (b"<html><body><table><tr><td>Forename</td></tr></table></body></html>", "c.xls"),
    "json": (json.dumps([{"forename": "x"}]).encode(), "cohort.json"),
    "gzip": (b"\x1f\x8b\x08\x00" + bytes(100), "cohort.csv.gz"),
    "damaged_zip": (b"PK\x03\x04" + bytes(100), "cohort.xlsx"),
}


@pytest.mark.parametrize("kind", list(NOT_TABULAR))
def test_non_tabular_files_are_refused(kind):
    data, name = NOT_TABULAR[kind]
    with pytest.raises(C.UnsupportedFormat) as e:
        C.parse_upload(data, name)
    assert e.value.code == "unsupported_format"
    assert name not in str(e.value)                  # file names are never echoed
    if kind == "xls":
        assert ".xlsx" in str(e.value)


def test_macro_workbook_is_refused():
    data = template_xlsx(people(3))
    with zipfile.ZipFile(io.BytesIO(data)) as src:
        files = {i.filename: src.read(i) for i in src.infolist()}
    files["xl/vbaProject.bin"] = b"\x00macro"
    with pytest.raises(C.UnsupportedFormat, match="macros"):
        C.parse_upload(_zip(files), "cohort.xlsm")


def test_damaged_workbook_is_malformed():
    data = _zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<not a workbook"})
    with pytest.raises(C.MalformedFile) as e:
        C.parse_upload(data, "cohort.xlsx")
    assert e.value.code == "malformed_file"


def test_format_is_decided_by_content_not_name():
    rows = people(3)
    assert C.read_upload(template_xlsx(rows), "cohort.csv").format == "xlsx"
    assert C.read_upload(to_csv(rows), "cohort.xlsx").format == "csv"
    a = C.parse_upload(template_xlsx(rows), "cohort.csv")
    b = C.parse_upload(to_csv(rows), "cohort.xlsx")
    pd.testing.assert_frame_equal(a, b)


def test_misaligned_csv_row_is_rejected_not_shifted():
    rows = people(62)
    data = to_csv(rows).decode()
    lines = data.split("\r\n")
    lines[5] = lines[5] + ",stray value"            # row 6: a value beyond the last heading
    v = validate("\r\n".join(lines).encode())
    assert v.counts.accepted == 61
    assert [(r.row_number, r.reason_code) for r in v.rejections] == [(6, "misaligned_row")]


def test_file_level_facts_travel_on_the_parsed_upload_not_the_frame():
    rows = people(62)
    lines = to_csv(rows, extra={"Shoe size": ["9"] * 62}).decode().split("\r\n")
    lines[5] = lines[5] + ",stray value"
    upload = C.read_upload("\r\n".join(lines).encode(), "cohort.csv")
    assert upload.misaligned_rows == (6,) and [w.code for w in upload.warnings] == ["dropped_columns"]
    assert upload.frame.attrs == {}                 # no side channel a pandas operation could drop
    v = C.validate_cohort(upload, setting="custody", min_size=1, today=TODAY)
    assert [(r.row_number, r.reason_code) for r in v.rejections] == [(6, "misaligned_row")]
    assert [w.code for w in v.warnings] == ["dropped_columns"]
    # the frame alone is rows built by a program: no file-level facts, so row 6 is kept
    bare = C.validate_cohort(upload.frame, setting="custody", min_size=1, today=TODAY)
    assert bare.rejections == [] and bare.warnings == [] and bare.counts.accepted == 62


# ---------------------------------------------------------------------------------------------
# validate_cohort: accepted rows
# ---------------------------------------------------------------------------------------------

def test_accepted_rows_are_canonical():
    rows = people(60)
    rows[0].update(forename="  mary   ann ", surname="O'Brien-Smyth", sex="female",
                   pnc_id=rows[0]["pnc_id"][2:].replace("/", "").lower(),   # short form
                   prison_number=" " + rows[0]["prison_number"].lower() + " ",
                   date_of_birth="1980-02-29", intervention_start="3/4/2005",
                   intervention_end="")
    rows[1].update(sex="Male", setting=" Custody ")
    v = validate(to_csv(rows))
    assert v.counts == C.CohortCounts(60, 60, 0, {}, {})
    assert list(v.rows.columns) == list(C.ROW_COLUMNS)
    r0 = v.rows.iloc[0]
    assert (r0["forename"], r0["surname"]) == ("mary ann", "O'Brien-Smyth")
    assert (r0["forename_key"], r0["surname_key"]) == ("MARY ANN", "OBRIEN SMYTH")
    assert r0["sex"] == "F" and v.rows.iloc[1]["sex"] == "M"
    assert r0["pnc_id"] == person(0)["pnc_id"]
    assert r0["prison_number"] == person(0)["prison_number"]
    assert r0["date_of_birth"] == pd.Timestamp("1980-02-29")
    assert r0["intervention_start"] == pd.Timestamp("2005-04-03")       # day first
    assert pd.isna(r0["intervention_end"])
    assert str(v.rows["date_of_birth"].dtype) == "datetime64[ns]"
    assert str(v.rows["pnc_id"].dtype) == "string"
    assert v.rows["row_number"].tolist() == list(range(2, 62))
    assert "Penhaligon" not in repr(v) and "Aldith" not in repr(v)
    json.dumps(v.summary())


@pytest.mark.parametrize("text,expected", [
    ("01/02/1980", date(1980, 2, 1)), ("1/2/1980", date(1980, 2, 1)),
    ("01-02-1980", date(1980, 2, 1)), ("01.02.1980", date(1980, 2, 1)),
    ("1980-02-01", date(1980, 2, 1)), ("1980-02-01 00:00:00", date(1980, 2, 1)),
    ("1980-02-01T00:00:00", date(1980, 2, 1)), ("1 Feb 1980", date(1980, 2, 1)),
    ("01-Feb-1980", date(1980, 2, 1)), ("1 February 1980", date(1980, 2, 1)),
    ("29252", date(1980, 2, 1)), ("29252.0", date(1980, 2, 1)),     # Excel day serials
    ("29/02/1980", date(1980, 2, 29)),
])
def test_accepted_date_forms(text, expected):
    assert C.parse_date(text) == expected


@pytest.mark.parametrize("text", [
    "12/31/1980", "31/02/1980", "29/02/1981", "01/02/80", "1980", "1980-13-01", "0/1/1980",
    "01/02-1980", "yesterday", "01/02/1980 and 03/04/1981", "1 Febtober 1980", "1e5",
    "01/02/1880", "123456", "2958466", "",
])
def test_refused_date_forms(text):
    assert C.parse_date(text) is None


@pytest.mark.parametrize("value,expected", [
    ("=cmd|' /C calc'!A0", True), ("+cmd|' /C calc'!A0", True), ("-2+3+cmd|' /C calc'!A0", True),
    ("@SUM(1+1)*cmd|' /C calc'!A0", True), ("\t=1+1", True), ("\r=HYPERLINK(\"x\")", True),
    ("=1", True), ("-Smith", True), ("Smith", False), ("O'Brien", False), ("-", False),
    ("-5", False), ("+44", False), ("Smith-Jones", False), ("a=b", False), ("", False),
    ("\tSmith", False),
])
def test_looks_like_formula(value, expected):
    assert C.looks_like_formula(value) is expected


# One case per rule: (column, bad value, expected reason, expected column on the rejection).
BAD_CELLS = [
    ("forename", "", "missing_required", "forename"),
    ("surname", "   ", "missing_required", "surname"),
    ("date_of_birth", "", "missing_required", "date_of_birth"),
    ("sex", "", "missing_required", "sex"),
    ("sex", "N/A", "missing_required", "sex"),
    ("intervention_start", "", "missing_required", "intervention_start"),
    ("setting", "", "missing_required", "setting"),
    ("date_of_birth", "31/02/1979", "invalid_date", "date_of_birth"),
    ("date_of_birth", "12/31/1979", "invalid_date", "date_of_birth"),
    ("date_of_birth", "03/04/79", "invalid_date", "date_of_birth"),
    ("date_of_birth", "spring 1979", "invalid_date", "date_of_birth"),
    ("intervention_start", "2005/13/13", "invalid_date", "intervention_start"),
    ("intervention_end", "soon", "invalid_date", "intervention_end"),
    ("date_of_birth", "14/03/2031", "dob_in_future", "date_of_birth"),
    ("date_of_birth", "14/03/1999", "implausible_age", "date_of_birth"),       # about 5
    ("date_of_birth", "14/03/1901", "implausible_age", "date_of_birth"),       # over 100
    ("intervention_start", "14/03/2011", "outside_coverage", "intervention_start"),
    ("intervention_start", "31/12/2001", "outside_coverage", "intervention_start"),
    ("intervention_end", "31/12/2002", "end_before_start", "intervention_end"),  # start 01/01/2003
    ("sex", "X", "invalid_sex", "sex"),
    ("sex", "Mle", "invalid_sex", "sex"),
    ("forename", "J0hnathan", "invalid_name", "forename"),
    ("surname", "12345", "invalid_name", "surname"),
    ("setting", "community", "setting_mismatch", "setting"),
    ("setting", "hospital", "invalid_setting", "setting"),
    ("forename", "=cmd|' /C calc'!A0", "formula_injection", "forename"),
    ("surname", "+cmd|' /C calc'!A0", "formula_injection", "surname"),
    ("date_of_birth", "-2+3+cmd|' /C calc'!A0", "formula_injection", "date_of_birth"),
    ("pnc_id", "@SUM(1+1)*cmd|' /C calc'!A0", "formula_injection", "pnc_id"),
    ("prison_number", "\t=HYPERLINK(\"http://x\")", "formula_injection", "prison_number"),
    ("intervention_end", "\r=1+1", "formula_injection", "intervention_end"),
]


@pytest.mark.parametrize("column,value,reason,where", BAD_CELLS)
def test_each_rule_rejects_only_the_bad_row(column, value, reason, where):
    rows = people(62)
    rows[0]["intervention_end"] = ""                 # so that moving the start breaks nothing else
    rows[0][column] = value
    rows[0]["pnc_id"] = rows[0]["pnc_id"] if column == "pnc_id" else ""
    v = validate(to_csv(rows))
    assert v.counts.submitted == 62 and v.counts.accepted == 61 and v.counts.rejected == 1
    assert v.counts.by_reason == {reason: 1}
    assert [(r.row_number, r.column, r.reason_code) for r in v.rejections] == [(2, where, reason)]
    assert v.rows["row_number"].tolist() == list(range(3, 64))
    if value.strip():
        assert value.strip() not in all_messages(v)


def test_age_and_coverage_boundaries_are_inclusive():
    rows = people(62)
    for r in rows[:5]:
        r["intervention_end"] = ""
    rows[0].update(date_of_birth="01/03/1995", intervention_start="01/03/2005")   # exactly 10
    rows[1].update(date_of_birth="02/03/1995", intervention_start="01/03/2005")   # 9, a day short
    rows[2].update(intervention_start="01/01/2002")
    rows[3].update(intervention_start="31/12/2010")
    rows[4].update(date_of_birth="01/03/1904", intervention_start="01/03/2004")   # exactly 100
    v = validate(to_csv(rows))
    assert [(r.row_number, r.reason_code) for r in v.rejections] == [(3, "implausible_age")]


def test_coverage_is_configurable():
    rows = people(61)
    v = validate(to_csv(rows), coverage_start="2005-01-01", coverage_end=date(2006, 12, 31),
                 min_size=1)
    starts = pd.to_datetime([r["intervention_start"] for r in rows], dayfirst=True)
    inside = [(s.year in (2005, 2006)) for s in starts]
    assert v.counts.accepted == sum(inside)
    assert v.counts.by_reason == {"outside_coverage": 61 - sum(inside)}
    assert "2005-01-01 to 2006-12-31" in v.rejections[0].message


def test_a_row_with_several_problems_gets_every_reason():
    rows = people(61)
    rows[3].update(sex="Q", date_of_birth="nonsense", setting="community")
    v = validate(to_csv(rows))
    assert sorted(r.reason_code for r in v.rejections) == ["invalid_date", "invalid_sex",
                                                           "setting_mismatch"]
    assert {r.row_number for r in v.rejections} == {5}
    assert v.counts.rejected == 1 and v.counts.invalid == 1


def test_bad_pnc_and_prison_number_are_warnings_and_the_row_is_kept():
    rows = people(61)
    good = rows[0]["pnc_id"]
    wrong = next(c for c in "ABCDEFGHJKLMNPQRTUVWXYZ" if c != good[-1])
    rows[0]["pnc_id"] = good[:-1] + wrong                  # bad check letter
    rows[1]["pnc_id"] = "not a pnc"
    rows[2]["prison_number"] = "AB12345"
    v = validate(to_csv(rows))
    assert v.counts.accepted == 61 and not v.rejections
    assert [(w.row_number, w.column, w.code) for w in v.warnings] == [
        (2, "pnc_id", "invalid_pnc"), (3, "pnc_id", "invalid_pnc"),
        (4, "prison_number", "invalid_prison_number")]
    assert "check letter" in v.warnings[0].message
    assert v.counts.warnings_by_code == {"invalid_pnc": 2, "invalid_prison_number": 1}
    assert v.rows["pnc_id"].isna().tolist()[:3] == [True, True, False]
    assert pd.isna(v.rows.iloc[2]["prison_number"])
    text = all_messages(v)
    assert good[:-1] not in text and "AB12345" not in text


def test_duplicates_keep_the_first_copy():
    rows = people(61)
    same_pnc = {**person(100), "pnc_id": rows[0]["pnc_id"]}                 # other name
    same_name = {**rows[1], "forename": "  " + rows[1]["forename"].upper(),
                 "surname": rows[1]["surname"].lower(), "pnc_id": "", "prison_number": "",
                 "date_of_birth": C.parse_date(rows[1]["date_of_birth"]).isoformat()}
    same_prison = {**person(101), "prison_number": rows[2]["prison_number"].lower()}
    exact = dict(rows[3])
    v = validate(to_csv(rows + [same_pnc, same_name, same_prison, exact]))
    assert v.counts.accepted == 61 and v.counts.duplicates == 4 and v.counts.invalid == 0
    got = [(r.row_number, r.column, r.reason_code) for r in v.rejections]
    assert got == [(63, "pnc_id", "duplicate"), (64, None, "duplicate"),
                   (65, "prison_number", "duplicate"), (66, "pnc_id", "duplicate")]
    assert "row 2" in v.rejections[0].message and "row 3" in v.rejections[1].message
    assert v.rows["row_number"].tolist() == list(range(2, 63))


def test_an_invalid_first_copy_does_not_make_the_second_a_duplicate():
    rows = people(61)
    bad_first = {**rows[0], "sex": "?"}
    v = validate(to_csv([bad_first] + rows))
    assert v.counts.accepted == 61
    assert [(r.row_number, r.reason_code) for r in v.rejections] == [(2, "missing_required")]


def test_too_few_valid_rows_raises_with_rejections():
    rows = people(64)
    for k in range(5):
        rows[k * 10]["date_of_birth"] = "not a date"
    with pytest.raises(C.CohortTooSmall) as e:
        validate(to_csv(rows))
    err = e.value
    assert err.code == "too_few_rows" and isinstance(err, CohortError)
    assert (err.counts.submitted, err.counts.accepted, err.counts.rejected) == (64, 59, 5)
    assert [r.row_number for r in err.rejections] == [2, 12, 22, 32, 42]
    assert "59 of 64" in str(err) and "60" in str(err) and "invalid_date: 5" in str(err)
    assert "not a date" not in str(err)
    assert validate(to_csv(rows), min_size=59).counts.accepted == 59


def test_all_rows_invalid_is_too_small_not_a_crash():
    rows = [{**p, "sex": "?"} for p in people(3)]
    with pytest.raises(C.CohortTooSmall) as e:
        validate(to_csv(rows), min_size=1)
    assert e.value.counts.accepted == 0 and len(e.value.rejections) == 3


def test_validate_cohort_on_a_hand_built_frame():
    rows = people(3)
    df = pd.DataFrame(rows)
    df["date_of_birth"] = pd.to_datetime(df["date_of_birth"], dayfirst=True)  # real dates
    v = C.validate_cohort(df, setting="custody", min_size=3, today=TODAY)
    assert v.rows["row_number"].tolist() == [2, 3, 4]
    assert v.rows["date_of_birth"].tolist() == df["date_of_birth"].tolist()
    with pytest.raises(C.MissingColumns):
        C.validate_cohort(df.drop(columns=["sex"]), setting="custody", min_size=1)


@pytest.mark.parametrize("kw", [{"setting": "hospital"}, {"setting": "custody", "min_size": 0},
                                {"setting": "custody", "coverage_start": "2011-01-01"},
                                {"setting": "custody", "coverage_end": "not a date"}])
def test_bad_arguments(kw):
    with pytest.raises(InvalidArgument):
        C.validate_cohort(pd.DataFrame(people(1)), **kw)


# ---------------------------------------------------------------------------------------------
# Row numbers, good rows kept, nothing echoed: CSV and XLSX
# ---------------------------------------------------------------------------------------------

def _mixed_cohort() -> tuple[list[dict], set[int]]:
    """80 rows: 64 good, 16 bad of every kind, interleaved. Returns rows and the bad indices."""
    rows = people(80)
    bad_values = [(c, v) for c, v, _, _ in BAD_CELLS if v.strip() and c != "intervention_end"]
    bad = set(range(3, 80, 5))                      # 16 rows
    for k, i in enumerate(sorted(bad)):
        column, value = bad_values[k % len(bad_values)]
        rows[i][column] = value
    return rows, bad


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_good_rows_are_never_lost_and_row_numbers_match(fmt):
    rows, bad = _mixed_cohort()
    data = to_csv(rows) if fmt == "csv" else template_xlsx(rows)
    v = validate(data, f"cohort.{fmt}")
    good_numbers = [i + 2 for i in range(80) if i not in bad]     # header is row 1
    assert v.rows["row_number"].tolist() == good_numbers
    assert v.rows["forename"].tolist() == [rows[i]["forename"] for i in range(80) if i not in bad]
    assert sorted({r.row_number for r in v.rejections}) == sorted(i + 2 for i in bad)
    assert v.counts.submitted == 80 and v.counts.accepted == 64 and v.counts.rejected == 16


def test_row_numbers_count_blank_lines_and_multiline_cells():
    rows = people(62)
    rows[0]["surname"] = "Polglase\nline 2"         # a quoted line break: still one row
    text = to_csv(rows).decode().split("\r\n")
    text.insert(3, "")                               # a blank line becomes row 4 (skipped)
    rows_text = "\r\n".join(text)
    v = validate(rows_text.encode())
    # Rows: 1 header, 2 person 0 (bad name), 3 person 1, 4 blank, 5 person 2, ...
    assert [(r.row_number, r.reason_code) for r in v.rejections] == [(2, "invalid_name")]
    assert v.rows["row_number"].tolist()[:3] == [3, 5, 6]
    assert v.counts.submitted == 62


@pytest.mark.parametrize("blank_rows_above", [0, 2])
def test_xlsx_row_numbers_with_blank_rows(blank_rows_above):
    rows = people(62)
    rows[1]["sex"] = "X"
    header = list(TEMPLATE.values())
    wb = openpyxl.Workbook()
    ws = wb.active
    for _ in range(blank_rows_above):                # empty rows above the header still count
        ws.append([])
    ws.append(header)                                # row 1
    ws.append([rows[0][c] for c in TEMPLATE])        # row 2
    ws.append([])                                    # row 3 blank
    for r in rows[1:]:                               # rows 4...
        ws.append([r[c] for c in TEMPLATE])
    out = io.BytesIO()
    wb.save(out)
    v = validate(out.getvalue(), "cohort.xlsx")
    k = blank_rows_above
    assert [(r.row_number, r.reason_code) for r in v.rejections] == [(4 + k, "invalid_sex")]
    assert v.rows["row_number"].tolist()[:3] == [2 + k, 5 + k, 6 + k]


def test_xlsx_with_real_excel_dates():
    rows = people(61)
    cells = []
    for r in rows:
        row = [r[c] for c in TEMPLATE]
        for c in ("date_of_birth", "intervention_start", "intervention_end"):
            i = list(TEMPLATE).index(c)
            row[i] = datetime.strptime(r[c], "%d/%m/%Y")
        cells.append(row)
    cells[5][list(TEMPLATE).index("date_of_birth")] = 29252           # a bare Excel serial
    data = to_xlsx(cells, list(TEMPLATE.values()))
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    assert ws.cell(2, 3).is_date                                      # truly a date cell
    v = validate(data, "cohort.xlsx")
    assert v.counts.accepted == 61 and not v.rejections
    expected = pd.to_datetime([r["date_of_birth"] for r in rows], dayfirst=True).tolist()
    expected[5] = pd.Timestamp("1980-02-01")
    assert v.rows["date_of_birth"].tolist() == expected
    assert v.rows["intervention_start"].iloc[0] == pd.Timestamp(
        datetime.strptime(rows[0]["intervention_start"], "%d/%m/%Y"))


def test_xlsx_formula_cells_are_rejected_not_computed():
    rows = people(62)
    cells = [[r[c] for c in TEMPLATE] for r in rows]
    cells[0][0] = "=cmd|' /C calc'!A0"
    cells[1][2] = "=DATE(1980,1,2)"
    data = to_xlsx(cells, list(TEMPLATE.values()))
    v = validate(data, "cohort.xlsx")
    assert [(r.row_number, r.column, r.reason_code) for r in v.rejections] == [
        (2, "forename", "formula_injection"), (3, "date_of_birth", "formula_injection")]
    assert "cmd" not in all_messages(v) and "DATE(" not in all_messages(v)


def test_xlsx_synonym_headings_and_numbers():
    rows = people(61)
    header = [SYNONYM_HEADINGS[c] for c in TEMPLATE]
    cells = [[r[c] for c in TEMPLATE] for r in rows]
    v = validate(to_xlsx(cells, header), "cohort.xlsx")
    assert v.counts.accepted == 61
    assert v.rows["prison_number"].tolist() == [r["prison_number"] for r in rows]


def test_xlsx_values_without_heading_are_ignored_with_warning():
    rows = people(61)
    cells = [[r[c] for c in TEMPLATE] + ["", "Qzx secret"] for r in rows]
    v = validate(to_xlsx(cells, list(TEMPLATE.values())), "cohort.xlsx")
    assert v.counts.accepted == 61
    assert [(w.code, w.message.endswith("column 11")) for w in v.warnings] == [
        ("unnamed_columns", True)]


def test_no_message_contains_any_submitted_value():
    rows, bad = _mixed_cohort()
    # Identifiers that fail, and duplicates, add warnings and rejections of their own.
    rows[0]["pnc_id"] = rows[0]["pnc_id"][:-1] + ("A" if rows[0]["pnc_id"][-1] != "A" else "B")
    rows[1]["prison_number"] = "Z99"
    rows.append(dict(rows[2]))
    secrets = {v for r in rows for k, v in r.items()
               if k in ("forename", "surname", "date_of_birth", "pnc_id", "prison_number",
                        "intervention_start", "intervention_end") and len(v.strip()) >= 3}
    secrets |= {v.strip() for c, v, _, _ in BAD_CELLS if len(v.strip()) >= 3 and c != "setting"}
    secrets |= {C.parse_date(s).isoformat() for s in list(secrets) if C.parse_date(s)}
    texts = []
    for fmt in ("csv", "xlsx"):
        data = to_csv(rows) if fmt == "csv" else template_xlsx(rows)
        v = validate(data, f"cohort.{fmt}")
        assert v.rejections and v.warnings
        texts.append(all_messages(v))
        with pytest.raises(C.CohortTooSmall) as e:
            validate(data, f"cohort.{fmt}", min_size=1000)
        texts.append(all_messages(e.value))
    text = "\n".join(texts)
    leaked = sorted(s for s in secrets if s in text)
    assert not leaked, f"{len(leaked)} submitted values appear in messages"


def test_summary_lists_rejections_for_the_api():
    rows = people(62)
    rows[10]["sex"] = "X"
    s = validate(to_csv(rows)).summary()
    assert s["counts"]["submitted"] == 62 and s["counts"]["by_reason"] == {"invalid_sex": 1}
    assert s["rejections"] == [{"row_number": 12, "column": "sex", "reason_code": "invalid_sex",
                                "message": "sex must be M or F (Male or Female)"}]
    assert set(C.REJECTION_REASONS) >= {r["reason_code"] for r in s["rejections"]}


def test_every_error_has_a_stable_code_and_subclasses_cohort_error():
    codes = {cls.code for cls in (C.UploadTooLarge, C.UnsupportedFormat, C.EmptyUpload,
                                  C.NoDataRows, C.TooManyRows, C.MalformedFile, C.MissingColumns,
                                  C.DuplicateColumns, C.SensitiveColumns, C.CohortTooSmall,
                                  ProgrammeNotTestable, InvalidProgramme)}
    assert {"file_too_large", "unsupported_format", "missing_columns", "sensitive_columns",
            "too_few_rows", "programme_not_testable"} <= codes
    assert len(codes) == 12
    assert all(issubclass(cls, CohortError) for cls in (C.UploadTooLarge, C.CohortTooSmall,
                                                        ProgrammeNotTestable))


def test_no_module_level_cache_keeps_personal_data():
    # Parsers are memoised per validate_cohort call only: a process-wide cache would keep names
    # and dates of birth after the submission has been purged.
    validate(to_csv(people(61)))
    for fn in (C.parse_date, C.name_key):
        assert not hasattr(fn, "cache_info")


def test_pnc_helper_matches_the_identifier_rule():
    # The generator's PNCs are real ones, so a test that bends one really breaks it.
    p = person(0)["pnc_id"]
    assert p[-1] == pnc_check_letter(int(p[:4]), int(p[5:12]))
