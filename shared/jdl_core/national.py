"""Load the national re-offending dataset (people, aliases, index events) with checked version.

Column dtypes after loading follow ``schema.py``: ``int64``/``int16``/``float32``/``bool`` as
numpy dtypes; ``Int8``/``Int16`` as pandas nullable integers (outcome columns, ``<NA>`` when the
follow-up is incomplete); ``string`` as pandas' string dtype; ``date32`` as ``datetime64[ns]``
(midnight of the day), so date arithmetic and comparison with ``pd.Timestamp`` work directly.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import schema
from .errors import DataError
from .mapped import building, map_frame, write_frame

logger = logging.getLogger(__name__)

_TABLES = (("people", schema.PEOPLE_FILE, schema.PEOPLE_COLUMNS),
           ("aliases", schema.ALIASES_FILE, schema.ALIAS_COLUMNS),
           ("events", schema.EVENTS_FILE, schema.EVENT_COLUMNS))
_FILES = (schema.PEOPLE_FILE, schema.ALIASES_FILE, schema.EVENTS_FILE, schema.MANIFEST_FILE,
          schema.RISK_MODEL_FILE)


@dataclass(frozen=True)
class DataWindow:
    """The periods a dataset can answer for, all from its manifest (one source).

    ``index_start``..``index_end``: the index events the data holds (the intake window for
    intervention dates); ``followup_end``: the last day outcomes are observed;
    ``last_analysable``: the last index date whose one-year follow-up plus six-month proving
    period ends by ``followup_end``. An intervention starting after ``last_analysable`` can
    never be analysed, so intake refuses it (``intake_end``).
    """

    index_start: date
    index_end: date
    followup_end: date
    followup_days: int
    proving_days: int

    @property
    def last_analysable(self) -> date:
        return self.followup_end - timedelta(days=self.followup_days + self.proving_days)

    @property
    def intake_end(self) -> date:
        """Last intervention start accepted at upload: inside the data and followed up."""
        return min(self.index_end, self.last_analysable)

    @property
    def followup_limited(self) -> bool:
        """True when the follow-up, not the index window, ends the intake window."""
        return self.last_analysable < self.index_end

    def note(self) -> str:
        """Why intake's window ends where it does (for the refusal of a row), or ""."""
        if not self.followup_limited:
            return ""
        return (f"the national data follows outcomes up to {self.followup_end.isoformat()}, and "
                f"each person needs {self.followup_days} days of follow-up and "
                f"{self.proving_days} more for the conviction to be proven, so an intervention "
                f"starting after {self.last_analysable.isoformat()} cannot be analysed")

    def to_dict(self) -> dict[str, Any]:
        return {"index_start": self.index_start.isoformat(), "index_end": self.index_end.isoformat(),
                "followup_end": self.followup_end.isoformat(),
                "last_analysable": self.last_analysable.isoformat(),
                "intake_start": self.index_start.isoformat(),
                "intake_end": self.intake_end.isoformat(),
                "followup_days": self.followup_days, "proving_days": self.proving_days}

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> "DataWindow":
        cov = manifest.get("coverage") if isinstance(manifest, dict) else None
        if not isinstance(cov, dict):
            raise DataError("the dataset manifest has no 'coverage' section; regenerate the data")
        try:
            return cls(index_start=date.fromisoformat(str(cov["start"])),
                       index_end=date.fromisoformat(str(cov["end"])),
                       followup_end=date.fromisoformat(str(cov["followup_end"])),
                       followup_days=int(cov.get("followup_days", schema.FOLLOWUP_DAYS)),
                       proving_days=int(cov.get("proving_days", schema.PROVING_DAYS)))
        except (KeyError, ValueError, TypeError) as e:
            raise DataError(f"the dataset manifest's coverage is incomplete or not dates "
                            f"({type(e).__name__}: {e}); regenerate the data") from None

    @classmethod
    def default(cls) -> "DataWindow":
        """The generator's window (schema constants), for code with no dataset at hand."""
        return cls(date.fromisoformat(schema.COVERAGE_START), date.fromisoformat(schema.COVERAGE_END),
                   date.fromisoformat(schema.FOLLOWUP_END), schema.FOLLOWUP_DAYS,
                   schema.PROVING_DAYS)


def data_window(path: str | Path) -> DataWindow:
    """The window of the dataset at ``path``, read from its manifest only (cheap)."""
    return DataWindow.from_manifest(read_manifest(path))


@dataclass(eq=False)
class NationalData:
    """The national dataset in memory. Personal data: never log or print its rows."""

    people: pd.DataFrame = field(repr=False)
    aliases: pd.DataFrame = field(repr=False)
    events: pd.DataFrame = field(repr=False)
    manifest: dict[str, Any]
    path: Path | None = None
    # the frames are the memory-mapped shared columns of ``path`` (load_national): what is
    # derived from them may be shared beside them too; False for frames built or changed by hand
    shared: bool = False

    @property
    def window(self) -> DataWindow:
        """Index, follow-up and intake windows from the manifest."""
        return DataWindow.from_manifest(self.manifest)

    @property
    def risk_model(self) -> dict[str, Any]:
        """The true outcome model written beside the data (risk_model.json)."""
        if self.path is None:
            raise DataError("risk model is only available for a dataset loaded from a directory")
        return json.loads((self.path / schema.RISK_MODEL_FILE).read_text())

    def __repr__(self) -> str:
        return (f"NationalData(path={self.path}, people={len(self.people)}, "
                f"aliases={len(self.aliases)}, events={len(self.events)}, "
                f"version={self.manifest.get('dataset_version')})")


def _column_to_pandas(col: pa.ChunkedArray, kind: str) -> pd.Series:
    """One Parquet column as the pandas dtype ``schema.py`` promises (module docstring)."""
    if kind == "date32":
        days = col.cast(pa.int32()).to_numpy(zero_copy_only=False)
        return pd.Series(days.astype("datetime64[D]").astype("datetime64[ns]"))
    if kind in ("Int8", "Int16"):
        # Arrow gives float64 with NaN for a nullable int column; back to a nullable int
        return col.to_pandas().astype(kind)
    if kind == "string":
        return col.to_pandas().astype("string")
    return pd.Series(col.to_numpy(zero_copy_only=False).astype(kind))


def _parquet_columns(file: Path, columns: dict[str, str]
                     ) -> Iterator[tuple[str, Callable[[], pd.Series]]]:
    """(name, read it) for each schema column of a Parquet file, read one column at a time so
    that writing the shared copy never holds a whole table of millions of rows."""
    reader = pq.ParquetFile(file, memory_map=True)

    def read(name: str, kind: str) -> pd.Series:
        return _column_to_pandas(reader.read(columns=[name]).column(name), kind)

    for name, kind in columns.items():
        yield name, functools.partial(read, name, kind)


def pandas_dtypes(columns: dict[str, str]) -> dict[str, str]:
    """The pandas dtype each schema column has after :func:`load_national`."""
    return {name: ("datetime64[ns]" if kind == "date32" else kind)
            for name, kind in columns.items()}


def read_manifest(path: str | Path) -> dict[str, Any]:
    """Manifest of the dataset at ``path``; raises DataError if missing or of another version."""
    p = Path(path)
    if not p.is_dir():
        raise DataError(f"national dataset directory {p} does not exist; generate it with "
                        "`jdl data generate --out DIR`")
    mpath = p / schema.MANIFEST_FILE
    if not mpath.is_file():
        raise DataError(f"{p} holds no {schema.MANIFEST_FILE}: not a national dataset (or an "
                        "incomplete one); generate it with `jdl data generate --out DIR`")
    try:
        manifest = json.loads(mpath.read_text())
    except (OSError, ValueError):
        raise DataError(f"{mpath} is not readable JSON") from None
    version = manifest.get("dataset_version")
    if version != schema.DATASET_VERSION:
        raise DataError(f"national dataset at {p} has version {version!r}; this code reads "
                        f"version {schema.DATASET_VERSION!r}: regenerate it")
    missing = [f for f in _FILES if not (p / f).is_file()]
    if missing:
        raise DataError(f"national dataset at {p} is missing {', '.join(missing)}")
    return manifest


def shared_dir(path: str | Path) -> Path:
    """Where the memory-mapped columns of the dataset at ``path`` live: beside its Parquet files,
    named after its manifest's sha256, so a regenerated dataset never meets old columns."""
    p = Path(path)
    digest = hashlib.sha256((p / schema.MANIFEST_FILE).read_bytes()).hexdigest()
    return p / f".shared-{digest[:16]}"


def load_national(path: str | Path, *, verify: bool = False) -> NationalData:
    """Read the dataset at ``path`` (a directory written by ``jdl data generate``).

    The frames' columns are memory-mapped (:mod:`jdl_core.mapped`) from uncompressed copies
    written beside the Parquet files on first load (:func:`shared_dir`): every process that
    loads the same dataset shares one copy in memory, and loading takes well under a second
    once they exist. The columns are read-only. When the directory is not writable each process
    reads a private copy instead.

    Raises DataError when the directory, a file or the manifest is missing, or the dataset
    version differs from ``schema.DATASET_VERSION``; with ``verify`` also when a file's sha256
    differs from the manifest.
    """
    p = Path(path)
    manifest = read_manifest(p)
    if verify:
        from .synth.write import file_sha256  # local import: hashing only when asked

        for name, info in manifest.get("files", {}).items():
            if file_sha256(p / name) != info.get("sha256"):
                raise DataError(f"{name} in {p} does not match the sha256 in its manifest")
    tables = {key: (p / fname, columns) for key, fname, columns in _TABLES}
    for fname_path, columns in tables.values():
        try:
            present = pq.read_schema(fname_path).names
        except (OSError, pa.ArrowException) as e:
            raise DataError(f"{fname_path.name} in {p} cannot be read as Parquet "
                            f"({type(e).__name__})") from None
        absent = [c for c in columns if c not in present]
        if absent:
            raise DataError(f"{fname_path.name} in {p} lacks columns {', '.join(absent)}")
    shared = shared_dir(p)
    if not shared.exists() and not os.access(p, os.W_OK | os.X_OK):
        # a read-only dataset directory: every process reads its own copy (more memory)
        logger.warning("national data cannot be shared between processes (directory not "
                       "writable); reading a private copy", extra={"data_dir": str(p)})
        frames = {key: pd.DataFrame({name: read() for name, read in _parquet_columns(*t)})
                  for key, t in tables.items()}
    else:
        try:
            with building(shared) as tmp:
                if tmp is not None:
                    for key, (file, columns) in tables.items():
                        write_frame(tmp / key, _parquet_columns(file, columns))
        except (OSError, pa.ArrowException) as e:
            raise DataError(f"the national data in {p} cannot be prepared for sharing "
                            f"({type(e).__name__}: {e})") from None
        frames = {key: map_frame(shared / key) for key in tables}
    return NationalData(frames["people"], frames["aliases"], frames["events"], manifest,
                        p.absolute(), shared=shared.exists())


__all__ = ["DataWindow", "NationalData", "data_window", "load_national", "pandas_dtypes",
           "read_manifest", "shared_dir"]
