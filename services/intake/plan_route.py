"""GET /v1/plan: expected precision for a group size and setting (no personal data, public)."""
from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from jdl_core.errors import InvalidArgument

router = APIRouter()


@router.get("/v1/plan")
def get_plan(group_size: int, setting: str, rate: Optional[float] = None,
             comparison_ratio: float = 4.0) -> Any:
    """Expected width of the re-offending-rate interval and the smallest detectable difference
    for ``group_size`` people in ``setting`` (optionally at an expected ``rate``, 0-1)."""
    from jdl_core.plan import plan

    try:
        return plan(group_size, setting, rate, comparison_ratio=comparison_ratio).to_dict()
    except InvalidArgument as e:
        return JSONResponse(status_code=422,
                            content={"error": {"code": "invalid_plan", "message": str(e)}})
