"""Bounded parsing of uploaded workbooks: each XLSX is read in a short-lived child process with a
memory limit, at most ``workers`` at a time, and the memory goes back to the system when the child
exits.

Why: openpyxl holds a whole worksheet's cells as Python objects while reading. A 0.6 MB workbook
that unzips near the expansion cap cost the API process about 0.5 GB, which the allocator kept
(four at once: 2.7 GB). In a child the cost is bounded (RLIMIT_DATA) and released on exit; only
the parsed upload (the frame of canonical columns and the file-level facts) comes back. CSV is
read in a thread as before: its cost is in proportion to the upload, which the size limit already
bounds.

Children are forked from a forkserver that has imported the cohort reader once, so a parse does
not pay for importing pandas and openpyxl again (and the API's threads are never forked).

``parse_blocking`` is what the intake use case calls (it runs in a thread of its own); ``parse``
is the same off the event loop.
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing
import resource
import threading
from typing import Any

from jdl_core.cohort import ParsedUpload, read_upload
from jdl_core.errors import CohortError

log = logging.getLogger("jdl.intake.parsing")
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


class WorkbookTooDemanding(CohortError):
    """The workbook needs more memory or time to read than the parser allows."""

    code = "file_too_complex"


def is_workbook(data: bytes) -> bool:
    """XLSX is a zip: decided by content, as read_upload does."""
    return data.startswith(_ZIP_MAGIC)


def _child(conn: Any, data: bytes, filename: str, max_bytes: int, memory_bytes: int) -> None:
    """Runs in the child: parse under a data-segment limit, send back the frame or the error."""
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_DATA, (memory_bytes, memory_bytes))
    try:
        conn.send(("ok", read_upload(data, filename, max_bytes=max_bytes)))
    except CohortError as e:
        conn.send(("cohort_error", e))
    except MemoryError:
        conn.send(("memory", None))
    except Exception as e:  # noqa: BLE001 - reported by type only (a message could quote a cell)
        conn.send(("error", type(e).__name__))
    finally:
        conn.close()


class BoundedParser:
    """Parses uploads; workbooks in memory-limited child processes, ``workers`` at a time."""

    def __init__(self, *, workers: int = 2, memory_mb: int = 1024,
                 timeout_seconds: float = 120.0) -> None:
        self.workers = max(1, workers)
        self.memory_bytes = max(0, memory_mb) * 1024 * 1024
        self.timeout = timeout_seconds
        self._slots = threading.BoundedSemaphore(self.workers)
        self._count = threading.Lock()
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(["jdl_core.cohort", "services.intake.parsing"])
        self.active = 0             # parses running now (for tests and the bench)
        self.peak = 0

    @classmethod
    def from_settings(cls, settings: Any) -> "BoundedParser":
        return cls(workers=settings.xlsx_parse_workers, memory_mb=settings.xlsx_parse_memory_mb,
                   timeout_seconds=settings.xlsx_parse_timeout_seconds)

    async def parse(self, data: bytes, filename: str, *, max_bytes: int) -> ParsedUpload:
        return await asyncio.to_thread(self.parse_blocking, data, filename, max_bytes)

    def parse_blocking(self, data: bytes, filename: str, max_bytes: int) -> ParsedUpload:
        """Parse in this thread (CSV) or in a child (XLSX), waiting for a free slot."""
        if not is_workbook(data):
            return read_upload(data, filename, max_bytes=max_bytes)
        with self._slots:
            with self._count:
                self.active += 1
                self.peak = max(self.peak, self.active)
            try:
                return self._parse_in_child(data, filename, max_bytes)
            finally:
                with self._count:
                    self.active -= 1

    def _parse_in_child(self, data: bytes, filename: str, max_bytes: int) -> ParsedUpload:
        recv, send = self._ctx.Pipe(duplex=False)
        proc = self._ctx.Process(target=_child, args=(send, data, filename, max_bytes,
                                                      self.memory_bytes), daemon=True)
        proc.start()
        send.close()
        try:
            if not recv.poll(self.timeout):
                raise WorkbookTooDemanding(
                    f"the workbook took longer than {self.timeout:g} s to read",
                    hint="save it as .csv, or remove unused sheets, columns and formatting")
            try:
                kind, value = recv.recv()
            except EOFError:
                kind, value = "died", proc.exitcode
        finally:
            recv.close()
            if proc.is_alive():
                proc.kill()
            proc.join(5)
        if kind == "ok":
            return value
        if kind == "cohort_error":
            raise value
        log.warning("workbook parse failed in its worker", extra={"outcome": kind,
                                                                   "error_type": str(value)})
        if kind in ("memory", "died"):
            raise WorkbookTooDemanding(
                f"the workbook needs more than {self.memory_bytes // 2**20} MB of memory to read",
                hint="save it as .csv, or remove unused sheets, columns and formatting")
        raise WorkbookTooDemanding("the workbook could not be read",
                                   hint="open it in Excel and save it again, or save it as .csv")
