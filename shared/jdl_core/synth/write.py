"""Writing a generated national dataset: Parquet files, manifest, and the atomic swap into place.

The simulation (:mod:`jdl_core.synth.generator`) hands over Arrow tables; this module decides the
bytes. Output is byte-deterministic: Parquet written with fixed options, JSON with fixed layout,
a manifest with no timestamps, so the same tables always give the same files and hashes.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .. import schema
from ..errors import InvalidArgument

if TYPE_CHECKING:
    from .generator import GeneratedData

PARQUET_OPTIONS: dict[str, Any] = {
    # fixed choices so the same data always gives the same bytes
    "compression": "zstd", "compression_level": 3, "use_dictionary": True,
    "write_statistics": True, "row_group_size": 1_000_000, "data_page_size": 1 << 20,
    "version": "2.6", "store_schema": False,
}


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in 1 MiB blocks (datasets run to hundreds of MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _rates(events: pa.Table) -> dict[str, Any]:
    complete = events.filter(pc.field("followup_complete"))
    reoff = complete.column("reoffended").to_numpy(zero_copy_only=False).astype(np.float64)
    disp = complete.column("disposal").to_numpy(zero_copy_only=False)
    by = {d: round(float(reoff[disp == d].mean()), 4) if (disp == d).any() else None
          for d in schema.DISPOSALS}
    # measures 4-7 among re-offenders (documented calibration: risk.py _SERIOUSNESS_MODEL)
    ser = complete.column("first_seriousness").to_numpy(zero_copy_only=False)
    fc = complete.column("first_custodial").to_numpy(zero_copy_only=False).astype(np.float64)
    re = reoff == 1
    first = {s: round(float((ser[re] == s).mean()), 4) if re.any() else None
             for s in schema.SERIOUSNESS}
    cust = {d: round(float(fc[re & (disp == d)].mean()), 4) if (re & (disp == d)).any() else None
            for d in schema.DISPOSALS}
    return {"overall": round(float(reoff.mean()), 4) if reoff.size else None,
            "by_disposal": by, "events_with_complete_followup": int(complete.num_rows),
            "first_reoffence_seriousness": first,
            "first_reoffence_custodial_by_disposal": cust}


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode()


def write_tables(data: GeneratedData, directory: Path, seed: int, people: int) -> dict[str, Any]:
    """Write the files and the manifest into ``directory`` (which must exist and be empty)."""
    files = {schema.PEOPLE_FILE: data.people, schema.ALIASES_FILE: data.aliases,
             schema.EVENTS_FILE: data.events}
    for name, table in files.items():
        pq.write_table(table, directory / name, **PARQUET_OPTIONS)
    (directory / schema.RISK_MODEL_FILE).write_bytes(_json_bytes(data.risk_model))
    idx = data.events.column("index_date")
    manifest = {
        "dataset_version": schema.DATASET_VERSION,
        "generator_version": data.generator_version,
        "seed": int(seed),
        "people_requested": int(people),
        "realism": data.realism,
        "row_counts": {"people": data.people.num_rows, "aliases": data.aliases.num_rows,
                       "events": data.events.num_rows},
        "schema": {"people": dict(schema.PEOPLE_COLUMNS), "aliases": dict(schema.ALIAS_COLUMNS),
                   "events": dict(schema.EVENT_COLUMNS)},
        "coverage": {"start": schema.COVERAGE_START, "end": schema.COVERAGE_END,
                     "followup_end": schema.FOLLOWUP_END, "followup_days": schema.FOLLOWUP_DAYS,
                     "proving_days": schema.PROVING_DAYS,
                     "first_index_date": str(pc.min(idx).as_py()),
                     "last_index_date": str(pc.max(idx).as_py())},
        "base_rates": _rates(data.events),
        "files": {name: {"sha256": file_sha256(directory / name)}
                  for name in [*files, schema.RISK_MODEL_FILE]},
    }
    (directory / schema.MANIFEST_FILE).write_bytes(_json_bytes(manifest))
    return manifest


def prepare_target(out_dir: str | Path, overwrite: bool) -> Path:
    """The absolute target directory, after checking it may receive a dataset (before any
    minute is spent simulating): a new or empty directory, or with ``overwrite`` a dataset."""
    out = Path(out_dir).absolute()
    if out.exists() and not out.is_dir():
        raise InvalidArgument(f"out must be a directory, but {out} is an existing file")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise InvalidArgument(
                f"out directory {out} is not empty; choose a new directory or allow overwrite")
        if not (out / schema.MANIFEST_FILE).exists():
            raise InvalidArgument(
                f"out directory {out} is not empty and holds no dataset; refusing to replace it")
    parent = out.parent
    if not parent.is_dir():
        raise InvalidArgument(f"parent directory of out ({parent}) does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InvalidArgument(f"parent directory of out ({parent}) is not writable")
    return out


@contextmanager
def staging_directory(out: Path) -> Iterator[Path]:
    """A temporary directory beside ``out`` that replaces ``out`` when the block succeeds and is
    removed when it fails, so a failure never leaves anything that looks like a dataset."""
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    except OSError as e:
        raise InvalidArgument(f"cannot create a directory in the parent of out ({out.parent}): "
                              f"{e.strerror}") from None
    try:
        yield tmp
        if out.exists() and any(out.iterdir()):
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            os.rename(out, old)
            os.rename(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            if out.exists():
                out.rmdir()
            os.rename(tmp, out)
        os.chmod(out, 0o755)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


__all__ = ["PARQUET_OPTIONS", "file_sha256", "prepare_target", "staging_directory",
           "write_tables"]
