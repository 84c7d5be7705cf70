"""The public catalogue of published reports: one disclosure-controlled entry per report, with the
headline re-offending rate figures, for `GET /v1/reports`, the HTML index and the forest plot."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from jdl_core.result import AnalysisResult

from .content import verdict
from .disclosure import DEFAULT_THRESHOLD, apply_disclosure

__all__ = ["CatalogueEntry", "catalogue_entry"]


class CatalogueEntry(BaseModel):
    """Headline figures of one published report (aggregates only, after disclosure control)."""
    model_config = ConfigDict(extra="forbid", frozen=True)

    submission_id: str
    organisation: str
    programme: str
    setting: Literal["custody", "community"] | None = None
    published_at: datetime
    n_treated: int | None = None             # None: withheld
    n_comparison: int | None = None
    rate_treated: float | None = None        # one-year proven re-offending rate, %
    rate_comparison: float | None = None
    rate_difference: float | None = None     # percentage points, treatment - comparison
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    significant: bool | None = None
    verdict: str = ""                        # "Significant reduction", "Not significant", ...
    links: dict[str, str] = Field(default_factory=dict)   # {"pdf": url, "html": url, "json": url}


def catalogue_entry(result: AnalysisResult, *, published_at: datetime | None = None,
                    links: dict[str, str] | None = None,
                    threshold: int = DEFAULT_THRESHOLD) -> CatalogueEntry:
    """The catalogue entry for a result, with the same disclosure control as its report."""
    d = apply_disclosure(result, threshold)
    rate = d.measure("rate")
    v = verdict(rate) if rate is not None else None
    shown = rate if rate is not None and rate.estimable and not rate.withheld else None
    return CatalogueEntry(
        submission_id=d.submission_id or "unknown",
        organisation=d.programme.organisation, programme=d.programme.programme,
        setting=d.programme.setting, published_at=published_at or d.created_at,
        n_treated=d.n_treated, n_comparison=d.n_comparison,
        rate_treated=shown.treated_value if shown is not None else None,
        rate_comparison=shown.comparison_value if shown is not None else None,
        rate_difference=shown.difference if shown is not None else None,
        ci_low=shown.ci_low if shown is not None else None,
        ci_high=shown.ci_high if shown is not None else None,
        p_value=shown.p_value if shown is not None else None,
        significant=v.significant if v else None,
        verdict=v.badge if v else "Not estimated",
        links=dict(links or {}),
    )
