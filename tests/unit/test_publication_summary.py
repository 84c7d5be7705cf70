"""The periodic summary (HTML and PDF) and its forest plots, the period parser, the API route and
the empty-period message; the upload template (CSV, XLSX, column list) against the validator."""
from __future__ import annotations

import io
import json
import subprocess
from datetime import datetime, timezone

import pytest

from jdl_core.errors import InvalidArgument
from jdl_report.summary import (
    X_LIMIT,
    EmptyPeriod,
    forest_figure,
    parse_period,
    summary_forest_png,
    summary_html,
    summary_pdf,
    summary_rows,
)
from jdl_report.summary_examples import example_entries

UTC = timezone.utc


def pdf_text(pdf: bytes) -> str:
    out = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True)
    return out.stdout.decode()


def pdf_pages(pdf: bytes) -> int:
    out = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    return int(next(line.split()[-1] for line in out.splitlines() if line.startswith("Pages:")))


@pytest.mark.parametrize("text, label, start, end", [
    ("2026Q4", "2026 Q4", "2026-10-01", "2026-12-31"),
    ("2027q1", "2027 Q1", "2027-01-01", "2027-03-31"),
    ("2028-02", "February 2028", "2028-02-01", "2028-02-29"),
    ("2026", "2026", "2026-01-01", "2026-12-31"),
])
def test_periods(text, label, start, end):
    p = parse_period(text)
    assert (p.label, p.start.isoformat(), p.end.isoformat()) == (label, start, end)


def test_bad_period_is_named():
    with pytest.raises(InvalidArgument, match=r"'2026Q5' is not understood; use a quarter \(2026Q4\)"):
        parse_period("2026Q5")


@pytest.fixture(scope="module")
def entries():
    # 14 in 2026 Q4, 3 in 2027 Q1: only the first 14 belong to the summary
    return (example_entries(14, seed=3)
            + example_entries(3, start=datetime(2027, 1, 14, 9, 30, tzinfo=UTC), days=10, seed=4))


def test_rows_are_the_period_only_numbered_in_a_stable_order(entries):
    rows = summary_rows(entries, parse_period("2026Q4"))
    assert len(rows) == 14 and [r.number for r in rows] == list(range(1, 15))
    keys = [(r.entry.organisation.lower(), r.entry.programme.lower()) for r in rows]
    assert keys == sorted(keys)
    assert all(parse_period("2026Q4").contains(r.entry.published_at) for r in rows)
    with pytest.raises(EmptyPeriod, match=r"no report was published in 2025 Q2 \(1 April 2025 to 30 June 2025\)"):
        summary_rows(entries, parse_period("2025Q2"))


def test_summary_html_has_every_report_of_the_period_and_three_plots(entries):
    html = summary_html(entries, parse_period("2026Q4"), counts={"withdrawn": 2, "refused": 1})
    body = html.split('<tbody>')[1].split('</tbody>')[0]
    assert body.count("<tr>") == 14
    assert html.count('<img src="data:image/png;base64,') == 3
    for title in ("All published results", "Statistically significant results",
                  "Results that are not statistically significant"):
        assert f"Forest plot: {title}" in html
    assert "2 requests were withdrawn" in html and "1 was refused" in html
    assert "14 reports were published in 2026 Q4" in html
    # row 1 prints 27% and 27% with a difference of +1: the JDL's rounding note is there
    rows = summary_rows(entries, parse_period("2026Q4"))
    c = rows[0].cells()
    assert (c["rate_treated"], c["rate_comparison"], c["difference"]) == ("27%", "27%", "+1")
    assert "Figures may not add up because of rounding." in html


def test_summary_escapes_organisation_names():
    e = example_entries(1, seed=1)[0].model_copy(update={"organisation": "<script>x</script> & Co"})
    p = parse_period("2026Q4")
    html = summary_html([e], p)
    assert "<script>x" not in html and "&lt;script&gt;x&lt;/script&gt; &amp; Co" in html
    assert "<script>x</script> & Co" in pdf_text(summary_pdf([e], p))


def test_summary_pdf_table_and_plots(entries):
    pdf = summary_pdf(entries, parse_period("2026Q4"), counts={"withdrawn": 0, "refused": 3})
    text = pdf_text(pdf)
    assert "summary of results published in 2026 Q4" in text
    assert pdf_pages(pdf) >= 2
    rows = summary_rows(entries, parse_period("2026Q4"))
    for r in rows:
        assert r.entry.organisation in text.replace("\u2019", "'")
    assert "Organisation" in text and "p-value" in text and "Result" in text
    # three forest-plot images embedded
    images = subprocess.run(["pdfimages", "-list", "-"], input=pdf, capture_output=True).stdout.decode()
    assert sum(1 for line in images.splitlines()[2:] if line.split()[2] == "image") == 3


def test_forest_plot_axes_labels_and_colours(entries):
    rows = summary_rows(entries, parse_period("2026Q4"))
    fig = forest_figure(rows, "all")
    ax = fig.axes[0]
    assert ax.get_xlim() == (-X_LIMIT, X_LIMIT)
    assert "Effect on the one-year proven re-offending rate" in ax.get_xlabel()
    assert "Treatment group size" in ax.get_ylabel() and ax.get_yscale() == "log"
    lo, hi = ax.get_ylim()
    sizes = [r.entry.n_treated for r in rows]
    assert lo < min(sizes) and hi > max(sizes)
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert len(ticks) >= 2 and all(t.replace(",", "").isdigit() for t in ticks), ticks   # "1,000", not 10^3
    labels = [t.get_text() for t in ax.texts if t.get_gid() == "label"]
    assert labels and len(labels) == len(set(labels))               # unique
    assert set(labels) <= {str(r.number) for r in rows}             # the table's row numbers
    # each point sits at (difference, n treated); colour by significance
    markers = [ln for ln in ax.lines if ln.get_marker() in ("s", "o")]
    assert len(markers) == len(rows)
    by_n = {r.entry.n_treated: r for r in rows}
    for ln in markers:
        x, y = ln.get_xdata()[0], ln.get_ydata()[0]
        r = by_n[int(y)]
        assert x == pytest.approx(r.entry.rate_difference)
        assert (ln.get_marker() == "s") == bool(r.entry.significant)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "Not significant" in legend
    sig = forest_figure(rows, "significant")
    n_sig = sum(bool(r.entry.significant) for r in rows)
    assert len([ln for ln in sig.axes[0].lines if ln.get_marker() in ("s", "o")]) == n_sig
    ns = forest_figure(rows, "not_significant")
    assert len([ln for ln in ns.axes[0].lines if ln.get_marker() in ("s", "o")]) == len(rows) - n_sig


def test_forest_plot_image_is_drawn(entries):
    from PIL import Image

    rows = summary_rows(entries, parse_period("2026Q4"))
    img = Image.open(io.BytesIO(summary_forest_png(rows, "all"))).convert("L")
    assert img.size[0] > 900 and img.size[1] > 500
    # not blank: a good share of non-white pixels (axes, bars, text)
    dark = sum(1 for v in img.get_flattened_data() if v < 200)
    assert dark > 0.01 * img.size[0] * img.size[1]


def test_intervals_beyond_the_scale_are_clipped_with_an_arrow():
    e = example_entries(1, seed=2)[0].model_copy(update={"rate_difference": -30.0, "ci_low": -55.0,
                                                          "ci_high": -5.0, "significant": True})
    rows = summary_rows([e], parse_period("2026Q4"))
    ax = forest_figure(rows, "all").axes[0]
    assert any(ln.get_marker() == "<" for ln in ax.lines)
    assert min(min(ln.get_xdata()) for ln in ax.lines if len(ln.get_xdata())) >= -X_LIMIT


def test_empty_variant_says_so_instead_of_an_empty_plot():
    e = example_entries(1, seed=1)[0].model_copy(update={"significant": False, "ci_low": -3.0, "ci_high": 4.0})
    rows = summary_rows([e], parse_period("2026Q4"))
    ax = forest_figure(rows, "significant").axes[0]
    assert any("No results in this group" in t.get_text() for t in ax.texts)


# -- API ---------------------------------------------------------------------------------------

def test_summary_route_for_a_period_with_twelve_reports_and_an_empty_period():
    from fastapi.testclient import TestClient
    from pydantic import SecretStr

    from jdl_infra import publication as pub
    from jdl_infra.crypto import KeyRing, MasterKey, generate_master_key
    from jdl_infra.objectstore import MemoryStore
    from jdl_report.publication import PublicationPolicy
    from services.intake.api import create_api
    from services.intake.handlers import IntakePorts
    from services.intake.settings import IntakeSettings
    from tests.unit.test_publication_api import ACME, Clock, ready_report

    store = MemoryStore()
    app = create_api(IntakeSettings(tokens=SecretStr(json.dumps({"t-acme": "acme"}))), IntakePorts(
        store, KeyRing(store, MasterKey.from_base64(generate_master_key())), lambda e: None))
    clock = Clock(datetime(2026, 10, 1, 10, tzinfo=UTC))
    app.state.clock = clock
    app.state.publication_policy = PublicationPolicy()
    client = TestClient(app)
    # one real report through the reporting handler, published on 8 Oct 2026 ...
    sid = ready_report(store, clock, n=999)
    assert client.post(f"/v1/submissions/{sid}/accept", headers=ACME).status_code == 200
    # ... and 12 more published catalogue entries in the quarter
    for e in example_entries(12, seed=9):
        store.put(pub.catalogue_key(e.submission_id), e.model_dump_json().encode())
    clock.t = datetime(2027, 1, 2, tzinfo=UTC)
    html = client.get("/v1/summaries/2026Q4")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert html.text.split("<tbody>")[1].count("<tr>") == 13
    pdf = client.get("/v1/summaries/2026Q4?format=pdf")
    assert pdf.content.startswith(b"%PDF") and "2026 Q4" in pdf_text(pdf.content)
    index = client.get("/summaries").text
    assert 'href="/v1/summaries/2026Q4?format=pdf"' in index and "2026 Q4: 13 reports" in index
    assert "2027Q1" not in index and "Withdrawn by the organisation before publication: 0" in index
    empty = client.get("/v1/summaries/2027Q1?format=pdf")
    assert empty.status_code == 404 and not empty.content.startswith(b"%PDF")
    assert "no report was published in 2027 Q1" in empty.json()["error"]["message"]
    assert client.get("/v1/summaries/2027Q9").status_code == 422


# -- the upload template ----------------------------------------------------------------------

def test_template_columns_come_from_the_schema():
    from jdl_core.cohort import canonical_column
    from jdl_core.schema import PROGRAMME_ATTRIBUTES, UPLOAD_OPTIONAL, UPLOAD_REQUIRED
    from jdl_core.upload_template import template_columns, template_csv

    cols = template_columns()
    assert [c.name for c in cols] == [*UPLOAD_REQUIRED, *UPLOAD_OPTIONAL, *PROGRAMME_ATTRIBUTES]
    assert [c.name for c in cols if c.required] == list(UPLOAD_REQUIRED)
    assert all(c.rule and c.label for c in cols)
    header = template_csv().decode("utf-8-sig").strip().split(",")
    assert [canonical_column(h) for h in header] == header


def _fill(n: int = 70) -> list[list[str]]:
    rows = []
    for i in range(n):
        rows.append(["Ann" + "abcdefghij"[i % 10], "Smith" + "abcdefghij"[i // 10], f"{1 + i % 28:02d}/03/1980",
                     "F", "14/05/2006", "custody", "", "", "", f"ref{i}"])
    return rows


def test_filled_csv_and_xlsx_templates_pass_validation():
    from openpyxl import load_workbook

    from jdl_core.cohort import read_upload, validate_cohort
    from jdl_core.upload_template import template_csv, template_xlsx

    csv_bytes = template_csv() + "\r\n".join(",".join(r) for r in _fill()).encode()
    c = validate_cohort(read_upload(csv_bytes, "t.csv", max_bytes=10**7), setting="custody")
    assert len(c.rows) == 70 and c.counts.rejected == 0
    wb = load_workbook(io.BytesIO(template_xlsx()))
    assert wb.sheetnames == ["Cohort", "Notes"]
    ws = wb["Cohort"]
    for r in _fill():
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    x = validate_cohort(read_upload(buf.getvalue(), "t.xlsx", max_bytes=10**7), setting="custody")
    assert len(x.rows) == 70 and x.counts.rejected == 0
    notes = [row[0] for row in wb["Notes"].iter_rows(values_only=True) if row and row[0]]
    assert "date_of_birth" in notes and any("At least 60 people" in str(n) for n in notes)


def test_template_routes_and_upload_page():
    from fastapi.testclient import TestClient

    from jdl_infra.crypto import KeyRing, MasterKey, generate_master_key
    from jdl_infra.objectstore import MemoryStore
    from services.intake.api import create_api
    from services.intake.handlers import IntakePorts
    from services.intake.settings import IntakeSettings

    store = MemoryStore()
    client = TestClient(create_api(IntakeSettings(min_cohort_size=80), IntakePorts(
        store, KeyRing(store, MasterKey.from_base64(generate_master_key())), lambda e: None)))
    t = client.get("/v1/template").json()
    assert [c["name"] for c in t["columns"]][:3] == ["forename", "surname", "date_of_birth"]
    assert any("At least 80 people" in r for r in t["rules"])       # the service's own setting
    csv_r = client.get("/v1/template.csv")
    assert csv_r.headers["content-disposition"].startswith("attachment")
    assert csv_r.content.decode("utf-8-sig").startswith("forename,surname,date_of_birth")
    x = client.get("/v1/template.xlsx")
    assert x.content[:2] == b"PK"
    page = client.get("/").text
    assert 'href="/v1/template.csv"' in page and 'href="/v1/template.xlsx"' in page
    assert 'id="template-columns"' in page


def test_jdl_template_writes_both_files_and_lists_the_columns(tmp_path):
    from openpyxl import load_workbook
    from typer.testing import CliRunner

    from jdl_cli.main import app

    runner = CliRunner()
    out = runner.invoke(app, ["template", "--format", "csv", "--out", str(tmp_path / "t.csv")])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "t.csv").read_bytes().decode("utf-8-sig").startswith("forename,surname,")
    assert "intervention_start  required" in out.output and "At least 60 people" in out.output
    out = runner.invoke(app, ["template", "--out", str(tmp_path / "t.xlsx")])
    assert out.exit_code == 0 and load_workbook(tmp_path / "t.xlsx").sheetnames == ["Cohort", "Notes"]
    bad = runner.invoke(app, ["template", "--format", "ods"])
    assert bad.exit_code == 2 and "--format 'ods': use csv or xlsx" in bad.output


def test_jdl_publish_summary_refuses_a_bad_period_before_any_request():
    from typer.testing import CliRunner

    from jdl_cli.main import app

    out = CliRunner().invoke(app, ["publish", "summary", "--period", "Q4", "--api", "http://127.0.0.1:9"])
    assert out.exit_code == 2 and "'Q4' is not understood" in out.output
