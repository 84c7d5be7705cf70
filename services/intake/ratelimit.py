"""Per-token rate limits on the intake API: uploads and status reads each get a token bucket per
API token (keyed by a hash of the token, never the token itself), answered with 429 and a
Retry-After header in intake's error shape when empty.

Installed as a middleware so the routes stay as they are. The buckets live in the API process:
with several API replicas each enforces its own share (the limit is per replica).
"""
from __future__ import annotations

import hashlib
import math
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

if TYPE_CHECKING:  # only the annotation below: the limiter itself takes plain numbers
    from .settings import IntakeSettings

# (method, path test, bucket kind): which requests count against which limit
_KINDS: tuple[tuple[str, Callable[[str], bool], str], ...] = (
    ("POST", lambda p: p.rstrip("/") == "/v1/submissions", "uploads"),
    ("GET", lambda p: p.startswith("/v1/submissions/"), "status reads"),
    ("GET", lambda p: p.rstrip("/") in ("/v1/queue", "/v1/submissions"), "status reads"),
)
_MAX_KEYS = 100_000     # bound memory: idle buckets are full again and can be forgotten


@dataclass
class Limit:
    per_minute: float           # sustained rate; 0 disables the limit
    burst: int                  # requests allowed at once after a quiet spell


class TokenBuckets:
    """One bucket per key; thread-safe; ``clock`` injectable for tests."""

    def __init__(self, limit: Limit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.clock = limit, clock
        self._state: dict[str, tuple[float, float]] = {}    # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0.0 if the request may go ahead (one token taken), else seconds until it may."""
        if self.limit.per_minute <= 0:
            return 0.0
        rate = self.limit.per_minute / 60.0
        now = self.clock()
        with self._lock:
            tokens, at = self._state.get(key, (float(self.limit.burst), now))
            tokens = min(float(self.limit.burst), tokens + (now - at) * rate)
            if tokens >= 1.0:
                self._state[key] = (tokens - 1.0, now)
                return 0.0
            self._state[key] = (tokens, now)
            if len(self._state) > _MAX_KEYS:
                self._forget_full(now, rate)
            return (1.0 - tokens) / rate

    def _forget_full(self, now: float, rate: float) -> None:
        for k, (tokens, at) in list(self._state.items()):
            if tokens + (now - at) * rate >= self.limit.burst:
                del self._state[k]


def rate_limits(settings: IntakeSettings) -> dict[str, Limit]:
    return {"uploads": Limit(settings.rate_limit_uploads_per_minute,
                             settings.rate_limit_uploads_burst),
            "status reads": Limit(settings.rate_limit_reads_per_minute,
                                  settings.rate_limit_reads_burst)}


def _caller(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    if token:
        return "t:" + hashlib.sha256(token.encode()).hexdigest()[:32]
    return "ip:" + (request.client.host if request.client else "unknown")


def install_rate_limits(app: FastAPI, limits: dict[str, Limit],
                        clock: Callable[[], float] = time.monotonic) -> dict[str, TokenBuckets]:
    """Limit uploads and status reads per API token (see module docstring)."""
    buckets = {kind: TokenBuckets(limit, clock) for kind, limit in limits.items()}

    @app.middleware("http")
    async def rate_limit(request: Request,
                         call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path, method = request.url.path, request.method
        kind = next((k for m, test, k in _KINDS if m == method and test(path)), None)
        if kind is not None and kind in buckets:
            wait = buckets[kind].take(_caller(request))
            if wait > 0:
                retry = max(1, math.ceil(wait))
                limit = buckets[kind].limit
                return JSONResponse(
                    status_code=429, headers={"Retry-After": str(retry)},
                    content={"error": {"code": "rate_limited", "message":
                             f"too many {kind} for this API token (limit {limit.per_minute:g} "
                             f"per minute, bursts of {limit.burst}); retry after {retry} s"}})
        return await call_next(request)

    return buckets
