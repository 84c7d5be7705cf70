"""A small HTTP client of the intake API, used by `jdl submit/status/queue` and the demo."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import httpx

from jdl_core.errors import InvalidArgument, JdlError
from jdl_events.status import StatusView


class ApiError(JdlError):
    code = "api_error"

    def __init__(self, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.body = body or {}       # the API's error body (e.g. the rejected rows of an upload)


def default_api_url() -> str:
    if os.environ.get("JDL_API_URL"):
        return os.environ["JDL_API_URL"]
    rt = Path("var/runtime.json")
    if rt.exists():
        return json.loads(rt.read_text())["api_url"]
    return "http://127.0.0.1:8080"


def default_token(org: str = "demo-org") -> str | None:
    if os.environ.get("JDL_API_TOKEN"):
        return os.environ["JDL_API_TOKEN"]
    tokens = Path("var/secrets/tokens.json")
    if tokens.exists():
        return json.loads(tokens.read_text()).get(org)
    return None


class Client:
    def __init__(self, api_url: str, token: str | None, timeout: float = 60.0) -> None:
        if not token:
            raise InvalidArgument("no API token: pass --token or set JDL_API_TOKEN")
        self.http = httpx.Client(base_url=api_url, timeout=timeout,
                                 headers={"Authorization": f"Bearer {token}"})

    def url(self, path: str) -> str:
        """An absolute URL of an API path (``/v1/...``), for printing."""
        return f"{str(self.http.base_url).rstrip('/')}/{path.lstrip('/')}"

    def _check(self, r: httpx.Response) -> Any:
        if r.status_code >= 400:
            try:
                body = r.json()
                err = body.get("error") or {"message": body.get("detail")}
                msg = err.get("message") or str(body)
            except ValueError:
                body, msg = {}, r.text[:300]
            raise ApiError(f"HTTP {r.status_code}: {msg}", body)
        return r.json() if "json" in r.headers.get("content-type", "") else r.content

    def submit(self, path: Path, programme: dict[str, Any]) -> dict[str, Any]:
        if not path.is_file():
            raise InvalidArgument(f"cohort file {str(path)!r} does not exist")
        with path.open("rb") as f:
            return self._check(self.http.post("/v1/submissions", files={"file": (path.name, f)},
                                              data={"programme": json.dumps(programme)}))

    def status(self, sid: str) -> StatusView:
        return StatusView.model_validate(self._check(self.http.get(f"/v1/submissions/{sid}")))

    def report(self, sid: str, fmt: str = "pdf") -> bytes:
        r = self.http.get(f"/v1/submissions/{sid}/report", params={"format": fmt})
        self._check(r)
        return r.content

    def queue(self) -> dict[str, Any]:
        return self._check(self.http.get("/v1/queue"))

    def wait(self, sid: str, timeout: float = 600.0,
             on_change: Callable[[StatusView], None] | None = None) -> StatusView:
        deadline = time.monotonic() + timeout
        last = None
        while True:
            st = self.status(sid)
            if st.state != last:
                last = st.state
                if on_change:
                    on_change(st)
            if st.is_terminal:
                return st
            if time.monotonic() > deadline:
                raise ApiError(f"submission {sid} still {st.state} after {timeout:.0f} s")
            time.sleep(0.5)
