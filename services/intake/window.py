"""The intake window of intervention dates, from the national dataset's manifest (one source).

The manifest in ``JDL_DATA_DIR`` says which index events the data holds and how far outcomes are
followed up (``jdl_core.national.DataWindow``). Intake accepts an intervention start only where
an index event could still be followed up, and says why when it cannot. The optional
``JDL_INTAKE_COVERAGE_START``/``_END`` settings can narrow that window, never widen it.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from fastapi import APIRouter

from jdl_core.errors import DataError
from jdl_core.national import DataWindow, data_window

from .settings import IntakeSettings

log = logging.getLogger("jdl.intake.window")


@dataclass(frozen=True)
class IntakeWindow:
    start: date
    end: date
    note: str              # why the window ends where it does (refusal reason), or ""
    source: str            # "manifest" or "defaults" (no dataset readable here)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["start"], d["end"] = self.start.isoformat(), self.end.isoformat()
        return d


def intake_window(settings: IntakeSettings) -> IntakeWindow:
    """The window for this upload: the dataset's manifest, narrowed by the settings."""
    try:
        window, source = data_window(settings.infra.data_dir), "manifest"
    except DataError:
        # no dataset beside this API (e.g. a bare test instance): the generator's window, which
        # is what any dataset of this version carries; logged so a deployment notices
        window, source = DataWindow.default(), "defaults"
        log.warning("national dataset manifest not readable; intake uses the default window",
                    extra={"data_dir": str(settings.infra.data_dir)})
    start, end, note = window.index_start, window.intake_end, window.note()
    if settings.coverage_start is not None:
        start = max(start, settings.coverage_start)
    if settings.coverage_end is not None and settings.coverage_end < end:
        end, note = settings.coverage_end, ""
    return IntakeWindow(start, end, note, source)


def window_router(settings: IntakeSettings) -> APIRouter:
    """GET /v1/window: the intervention dates accepted at upload and why (public, no data)."""
    router = APIRouter()

    @router.get("/v1/window")
    def get_window() -> dict[str, Any]:
        return intake_window(settings).to_dict()

    return router
