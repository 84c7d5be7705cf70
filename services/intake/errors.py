"""Intake's own answer to a request FastAPI cannot validate: ``{"error": {code, message, fields}}``
naming each field and what is wrong with it in fixed words, never the submitted value.

FastAPI's default 422 body carries every offending ``input``: a cohort sent as a text field or an
urlencoded body would be echoed back whole (names, dates of birth, PNC IDs). This handler
replaces it for every route of the API; nothing of the input reaches the response or the log.
"""
from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

log = logging.getLogger("jdl.intake.api")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,40}$")
_LOCATIONS = {"body", "query", "path", "header", "cookie"}

# pydantic error type -> fixed wording (the default message can quote what was sent)
_PROBLEMS = {
    "missing": "is required",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "float_parsing": "must be a number",
    "bool_parsing": "must be true or false",
    "string_type": "must be text",
    "string_too_long": "is too long",
    "string_too_short": "is too short",
    "literal_error": "is not one of the allowed values",
    "enum": "is not one of the allowed values",
    "json_invalid": "is not valid JSON",
    "model_attributes_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "list_type": "must be a list",
}
_FILE_PROBLEM = ("must be a file sent as multipart/form-data (for example curl -F "
                 "file=@cohort.csv), not a text field or an urlencoded body; the value sent "
                 "was not stored")


def _field(loc: tuple[Any, ...]) -> tuple[str, str]:
    """(location, field name) from an error's loc; names that are not plain identifiers (a key
    chosen by the sender) are not repeated."""
    where = str(loc[0]) if loc and loc[0] in _LOCATIONS else "request"
    rest = loc[1:] if loc and loc[0] in _LOCATIONS else loc
    name = ".".join(str(p) if isinstance(p, int) or (isinstance(p, str) and _NAME_RE.match(p))
                    else "(field)" for p in rest[:3])
    return where, name or "(body)"


def _problem(err: dict[str, Any], name: str) -> str:
    kind = str(err.get("type", ""))
    if name == "file" and kind != "missing":
        return _FILE_PROBLEM
    return _PROBLEMS.get(kind, "is not valid")


def validation_error_body(exc: RequestValidationError) -> dict[str, Any]:
    fields = []
    for err in exc.errors():
        where, name = _field(tuple(err.get("loc", ())))
        fields.append({"location": where, "field": name, "problem": _problem(err, name)})
    summary = "; ".join(f"{f['field']} {f['problem']}" for f in fields[:5])
    return {"error": {"code": "invalid_request",
                      "message": f"the request could not be read: {summary}",
                      "fields": fields}}


def install_error_handlers(app: FastAPI) -> None:
    """Answer validation errors with intake's error shape (see module docstring)."""

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        body = validation_error_body(exc)
        # field names and problem words only: the values sent are never logged
        log.info("request refused: invalid fields", extra={
            "path": request.url.path,
            "fields": [f"{f['location']}.{f['field']}" for f in body["error"]["fields"]]})
        return JSONResponse(status_code=422, content=body)
