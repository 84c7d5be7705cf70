"""Composition helpers shared by the services: the national dataset loaded once per process,
and encrypted parquet objects for individual-level frames (through the guarded
``crypto.put_encrypted``/``get_encrypted``, which keep them under the prefix purge deletes)."""
from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from .crypto import KeyRing, get_encrypted, put_encrypted
from .objectstore import ObjectStore


class LazyNational:
    """Loads the national dataset on first use (and only once) in a worker process."""

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir)
        self._value: Any = None
        self._lock = threading.Lock()
        self.warm_up_error: str | None = None   # exception type of a failed warm-up

    def __call__(self) -> Any:
        if self._value is None:
            with self._lock:
                if self._value is None:
                    from jdl_core.national import load_national

                    self._value = load_national(self.data_dir)
        return self._value

    async def warm_up(self, then: Any = None) -> None:
        """Load the dataset (and run ``then(national)``) in a thread at worker start-up, so the
        first submission does not wait for it. A failure is logged; the first request retries."""
        import asyncio
        import logging

        def work() -> None:
            national = self()
            if then is not None:
                then(national)

        try:
            await asyncio.to_thread(work)
            self.warm_up_error = None
            logging.getLogger("jdl.national").info("national dataset loaded",
                                                   extra={"data_dir": str(self.data_dir)})
        except Exception as exc:  # noqa: BLE001 - the worker stays up; requests report the error
            # and /healthz fails (health_problem), so the orchestrator restarts or flags the pod
            self.warm_up_error = type(exc).__name__
            logging.getLogger("jdl.national").error("national dataset warm-up failed",
                                                    extra={"error_type": type(exc).__name__})

    def health_problem(self) -> str | None:
        """For the worker's /healthz: why this worker cannot serve, or None."""
        if self.warm_up_error and self._value is None:
            return f"national dataset warm-up failed ({self.warm_up_error})"
        return None


def frame_to_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()


def frame_from_bytes(data: bytes) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(data))


def put_frame_encrypted(store: ObjectStore, keyring: KeyRing, submission_id: str, key: str,
                        df: pd.DataFrame) -> None:
    """Store an individual-level frame encrypted at ``key``, which must lie under
    ``submissions/<submission_id>/`` (refused otherwise: purge would not find it)."""
    put_encrypted(store, keyring, submission_id, key, frame_to_bytes(df))


def get_frame_encrypted(store: ObjectStore, keyring: KeyRing, submission_id: str, key: str) -> pd.DataFrame:
    return frame_from_bytes(get_encrypted(store, keyring, submission_id, key))


NationalLoader = Callable[[], Any]
