"""jdl_report: the Justice Data Lab report (PDF, HTML, JSON) and catalogue, rendered from an
AnalysisResult alone, with disclosure control. Pure: no infrastructure imports.

    from jdl_report import render_all
    files = render_all(result, threshold=5)   # {"pdf": b"...", "html": b"...", "json": b"..."}
"""
from .catalogue import CatalogueEntry, catalogue_entry
from .disclosure import DisclosedResult, apply_disclosure
from .render import catalogue_html, parse_result, render_all, render_html, render_json, render_pdf

__all__ = ["render_pdf", "render_html", "render_json", "render_all", "catalogue_html", "parse_result",
           "CatalogueEntry", "catalogue_entry", "apply_disclosure", "DisclosedResult"]
