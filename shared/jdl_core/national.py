"""Load the national re-offending dataset (people, aliases, index events) with checked version.

Column dtypes after loading follow ``schema.py``: ``int64``/``int16``/``float32``/``bool`` as
numpy dtypes; ``Int8``/``Int16`` as pandas nullable integers (outcome columns, ``<NA>`` when the
follow-up is incomplete); ``string`` as pandas' string dtype; ``date32`` as ``datetime64[ns]``
(midnight of the day), so date arithmetic and comparison with ``pd.Timestamp`` work directly.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import schema
from .errors import DataError

_FILES = (schema.PEOPLE_FILE, schema.ALIASES_FILE, schema.EVENTS_FILE, schema.MANIFEST_FILE,
          schema.RISK_MODEL_FILE)


@dataclass(eq=False)
class NationalData:
    """The national dataset in memory. Personal data: never log or print its rows."""

    people: pd.DataFrame = field(repr=False)
    aliases: pd.DataFrame = field(repr=False)
    events: pd.DataFrame = field(repr=False)
    manifest: dict[str, Any]
    path: Path | None = None

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


def _to_pandas(table: pa.Table, columns: dict[str, str]) -> pd.DataFrame:
    out: dict[str, Any] = {}
    for name, kind in columns.items():
        col = table.column(name)
        if kind == "date32":
            days = col.cast(pa.int32()).to_numpy(zero_copy_only=False)
            out[name] = pd.Series(days.astype("datetime64[D]").astype("datetime64[ns]"))
        elif kind in ("Int8", "Int16"):
            # Arrow gives float64 with NaN for a nullable int column; back to a nullable int
            out[name] = col.to_pandas().astype(kind)
        elif kind == "string":
            out[name] = col.to_pandas().astype("string")
        else:
            out[name] = pd.Series(col.to_numpy(zero_copy_only=False).astype(kind))
    return pd.DataFrame(out)


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


def load_national(path: str | Path, *, verify: bool = False) -> NationalData:
    """Read the dataset at ``path`` (a directory written by ``jdl data generate``).

    Raises DataError when the directory, a file or the manifest is missing, or the dataset
    version differs from ``schema.DATASET_VERSION``; with ``verify`` also when a file's sha256
    differs from the manifest.
    """
    p = Path(path)
    manifest = read_manifest(p)
    if verify:
        from .synth.generator import _sha256  # local import: hashing only when asked

        for name, info in manifest.get("files", {}).items():
            if _sha256(p / name) != info.get("sha256"):
                raise DataError(f"{name} in {p} does not match the sha256 in its manifest")
    frames: dict[str, pd.DataFrame] = {}
    for key, fname, columns in (("people", schema.PEOPLE_FILE, schema.PEOPLE_COLUMNS),
                                ("aliases", schema.ALIASES_FILE, schema.ALIAS_COLUMNS),
                                ("events", schema.EVENTS_FILE, schema.EVENT_COLUMNS)):
        try:
            table = pq.read_table(p / fname)
        except (OSError, pa.ArrowException) as e:
            raise DataError(f"{fname} in {p} cannot be read as Parquet ({type(e).__name__})") from None
        absent = [c for c in columns if c not in table.column_names]
        if absent:
            raise DataError(f"{fname} in {p} lacks columns {', '.join(absent)}")
        frames[key] = _to_pandas(table, columns)
    return NationalData(frames["people"], frames["aliases"], frames["events"], manifest,
                        p.absolute())


__all__ = ["NationalData", "load_national", "pandas_dtypes", "read_manifest"]
