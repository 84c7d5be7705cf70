"""Render a report from an AnalysisResult alone: PDF, self-contained HTML and JSON of
disclosure-controlled aggregates; and the HTML catalogue of published reports."""
from __future__ import annotations

import base64
import functools
import json
from pathlib import Path
from typing import Sequence

import jinja2
from pydantic import ValidationError
from reportlab.platypus.doctemplate import LayoutError

from jdl_core.errors import InvalidArgument, ReportError
from jdl_core.result import AnalysisResult

from . import _format as fmt
from . import charts
from . import wording as W
from .catalogue import CatalogueEntry, catalogue_entry
from .content import HEADINGS, ReportContent, build_content
from .disclosure import DEFAULT_THRESHOLD, apply_disclosure
from .pdf import build_pdf

__all__ = ["render_pdf", "render_html", "render_json", "render_all", "catalogue_html",
           "CatalogueEntry", "catalogue_entry", "parse_result", "REPORT_JSON_SCHEMA_VERSION"]

REPORT_JSON_SCHEMA_VERSION = "1"
_TEMPLATES = Path(__file__).parent / "templates"


@functools.lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(_TEMPLATES)), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


@functools.lru_cache(maxsize=1)
def _css() -> str:
    return (_TEMPLATES / "_base.css").read_text(encoding="utf-8")


def parse_result(data: bytes | str, source: str = "result") -> AnalysisResult:
    """An AnalysisResult from its JSON, or InvalidArgument naming ``source`` and the first problem.

    The message names fields, never values (a result holds no personal data, but a wrong file
    might).
    """
    try:
        return AnalysisResult.model_validate_json(data)
    except ValidationError as e:
        errors = e.errors(include_input=False, include_url=False)
        first = errors[0]
        where = ".".join(str(x) for x in first.get("loc", ())) or "(top level)"
        if first.get("type") == "json_invalid":
            raise InvalidArgument(f"{source} is not valid JSON ({first.get('msg', 'invalid JSON')}); "
                                  f"expected an AnalysisResult") from None
        raise InvalidArgument(f"{source} is not an AnalysisResult: {len(errors)} problem(s), first at "
                              f"'{where}': {first.get('msg', 'invalid')}") from None


def _check(result: object) -> AnalysisResult:
    if not isinstance(result, AnalysisResult):
        raise InvalidArgument(f"result: expected an AnalysisResult, got {type(result).__name__}")
    return result


def _content(result: AnalysisResult, threshold: int, response: str | None = None) -> ReportContent:
    return build_content(apply_disclosure(_check(result), threshold), response=response)


def _charts(c: ReportContent) -> dict[str, bytes]:
    d = c.disclosed
    out = {f"measure_{m.name}": charts.measure_chart(m, v, c.threshold, level=c.level)
           for m, v in zip(d.measures, c.verdicts)}
    out["attrition"] = charts.attrition_chart(d.attrition)
    if d.overlap is not None:
        out["overlap"] = charts.overlap_chart(d.overlap)
    return out


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _pdf(c: ReportContent, png: dict[str, bytes]) -> bytes:
    try:
        return build_pdf(c, png)
    except LayoutError as e:  # a flowable larger than a page: a bug in the layout, not the input
        raise ReportError(f"report layout failed for submission {c.submission_id}: {e}") from e


def _html(c: ReportContent, png: dict[str, bytes]) -> str:
    img = {k: _data_uri(v) for k, v in png.items()}
    img.setdefault("overlap", "")
    return _env().get_template("report.html.j2").render(c=c, h=HEADINGS, img=img, css=_css(),
                                                        sections=c.present_sections())


def _json(c: ReportContent) -> bytes:
    doc = {"report_schema_version": REPORT_JSON_SCHEMA_VERSION,
           **c.disclosed.model_dump(mode="json"),
           # the same sentences as the PDF, HTML and `jdl analyse` (made by wording.py)
           "statements": {"can_say": list(c.can_say), "cannot_say": list(c.cannot_say)},
           "report": c.to_json()}
    doc["disclosure"]["notes_text"] = [W.note_text(n) for n in c.disclosed.disclosure.notes]
    return json.dumps(doc, indent=2, ensure_ascii=False).encode("utf-8")


def render_pdf(result: AnalysisResult, threshold: int = DEFAULT_THRESHOLD, *,
               response: str | None = None) -> bytes:
    """The A4 PDF report (about five pages and an annex) after disclosure control at ``threshold``.

    ``response``: the organisation's response (added during review), printed in its own section.
    """
    c = _content(result, threshold, response)
    return _pdf(c, _charts(c))


def render_html(result: AnalysisResult, threshold: int = DEFAULT_THRESHOLD, *,
                response: str | None = None) -> str:
    """The same report as one self-contained HTML page (inline CSS, charts as data URIs)."""
    c = _content(result, threshold, response)
    return _html(c, _charts(c))


def render_json(result: AnalysisResult, threshold: int = DEFAULT_THRESHOLD, *,
                response: str | None = None) -> bytes:
    """The disclosure-controlled aggregates and the report's wording as UTF-8 JSON.

    Withheld counts and values are ``null``; each measure lists its withheld fields in
    ``suppressed``; ``disclosure`` gives the threshold and notes.
    """
    return _json(_content(result, threshold, response))


def render_all(result: AnalysisResult, threshold: int = DEFAULT_THRESHOLD, *,
               response: str | None = None) -> dict[str, bytes]:
    """{"pdf", "html", "json"} -> bytes, sharing one disclosure pass and one set of charts."""
    c = _content(result, threshold, response)
    png = _charts(c)
    return {"pdf": _pdf(c, png), "html": _html(c, png).encode("utf-8"), "json": _json(c)}


def _catalogue_row(e: CatalogueEntry) -> dict[str, object]:
    if e.significant and e.rate_difference is not None:
        tone = "favourable" if e.rate_difference < 0 else "unfavourable"
    else:
        tone = "neutral"
    diff = "-" if e.rate_difference is None else \
        f"{fmt.number(e.rate_difference, 0, signed=True)} ({fmt.ci(e.ci_low, e.ci_high, 0)})"
    withheld = e.rate_difference is not None
    return {
        "id": e.submission_id, "organisation": e.organisation, "programme": e.programme,
        "setting": (e.setting or "-").capitalize(), "published": e.published_at.strftime("%-d %b %Y"),
        "n": fmt.count(e.n_treated),
        "treated": fmt.value("rate", e.rate_treated, "%", withheld=withheld),
        "comparison": fmt.value("rate", e.rate_comparison, "%", withheld=withheld),
        "difference": diff, "p": fmt.p_value(e.p_value), "verdict": e.verdict or "-", "tone": tone,
        "links": sorted(e.links.items()),
    }


def catalogue_html(entries: Sequence[CatalogueEntry]) -> str:
    """The public catalogue page: a forest plot of all reports and a table of headline figures,
    newest first. Links in each entry are used as given (the API decides its own URLs)."""
    for i, e in enumerate(entries):
        if not isinstance(e, CatalogueEntry):
            raise InvalidArgument(f"entries[{i}]: expected a CatalogueEntry, got {type(e).__name__}")
    ordered = sorted(entries, key=lambda e: (e.published_at, e.submission_id), reverse=True)
    return _env().get_template("catalogue.html.j2").render(
        rows=[_catalogue_row(e) for e in ordered], forest=_data_uri(charts.forest_plot(ordered)),
        css=_css())
