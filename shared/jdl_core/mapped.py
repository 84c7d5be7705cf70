"""Pandas frames whose columns are memory-mapped Arrow files, shared by every process mapping them.

A national dataset of millions of people is read by several worker processes (linkage, matching,
more linkage workers to scale out). Parsing Parquet into pandas gives each process a private
copy; here each column is written once, uncompressed, to its own Arrow IPC file, and every
process maps it: the pages live once in the operating system's page cache and pandas sees
them without a copy (numeric, date and boolean columns as numpy views; text as pyarrow-backed
``string`` arrays; nullable integers as a values view plus a mask view). A process pays only for
what it derives from the columns (filters, joins), not for the table.

Layout of a frame directory: ``columns.json`` (column names in order) and ``<i>.arrow`` per
column, a one-batch table with ``values`` and, for nullable integers, ``isna``. The kind of the
pandas column is in the schema metadata, so reading gives back the dtypes that were written.
Mapped columns are read-only: code that writes into a national frame in place fails loudly
instead of changing the data under other requests.
"""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from .errors import DataError

COLUMNS_FILE = "columns.json"
_KIND = b"pandas_kind"
_NULLABLE_INTS = {"Int8": np.int8, "Int16": np.int16, "Int32": np.int32, "Int64": np.int64}


def _encode(series: pd.Series, where: str) -> pa.Table:
    """One column as a one-batch Arrow table whose buffers pandas can view without a copy."""
    dtype = series.dtype
    kind = str(dtype)
    if kind == "bool":
        # Arrow packs booleans into bits, which numpy cannot view: one byte each instead
        arrays = {"values": pa.array(series.to_numpy().view(np.uint8))}
    elif kind in _NULLABLE_INTS:
        isna = series.isna().to_numpy()
        values = series.to_numpy(dtype=_NULLABLE_INTS[kind], na_value=0)
        arrays = {"values": pa.array(values), "isna": pa.array(isna.view(np.uint8))}
    elif kind.startswith("datetime64["):
        # int64 with NaT as its sentinel, so a missing date needs no validity bitmap
        arrays = {"values": pa.array(series.to_numpy().view(np.int64))}
    elif isinstance(dtype, pd.StringDtype):
        arrays = {"values": pa.array(series.array, type=pa.large_string())}
    elif isinstance(dtype, np.dtype) and dtype.kind in "iuf":
        arrays = {"values": pa.array(series.to_numpy())}
    else:
        raise DataError(f"column {where} has dtype {kind}, which cannot be shared by mapping; "
                        "allowed: bool, integers, floats, nullable integers, dates, string")
    schema = pa.schema([pa.field(k, v.type) for k, v in arrays.items()],
                       metadata={_KIND: kind.encode()})
    return pa.Table.from_arrays(list(arrays.values()), schema=schema)


def _decode(table: pa.Table, where: str) -> pd.Series:
    """The pandas column over the mapped buffers (no copy)."""
    kind = (table.schema.metadata or {}).get(_KIND, b"").decode()
    values = table.column("values")
    if kind == "string":
        return pd.Series(pd.arrays.ArrowStringArray(values), copy=False)
    if values.num_chunks != 1 or values.null_count:
        raise DataError(f"shared column {where} is not in the mapped layout; delete its "
                        "directory so it is written again")
    view = values.chunk(0).to_numpy(zero_copy_only=True)
    if kind == "bool":
        return pd.Series(view.view(np.bool_), copy=False)
    if kind in _NULLABLE_INTS:
        isna = table.column("isna").chunk(0).to_numpy(zero_copy_only=True).view(np.bool_)
        return pd.Series(pd.arrays.IntegerArray(view, isna), copy=False)
    if kind.startswith("datetime64["):
        return pd.Series(view.view(kind), copy=False)
    return pd.Series(view, copy=False)


def write_frame(directory: Path, columns: Iterable[tuple[str, Callable[[], pd.Series]]]) -> None:
    """Write a frame directory from (name, make column) pairs, one column in memory at a time.

    ``directory`` must not exist. Use :func:`building` to write into place atomically.
    """
    directory.mkdir()
    names: list[str] = []
    for i, (name, make) in enumerate(columns):
        table = _encode(make(), f"{name!r}")
        with pa.OSFile(str(directory / f"{i}.arrow"), "wb") as sink:
            with pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table, max_chunksize=max(table.num_rows, 1))
        names.append(name)
        del table
    (directory / COLUMNS_FILE).write_text(json.dumps(names))


def map_frame(directory: Path) -> pd.DataFrame:
    """The frame written by :func:`write_frame`, its columns mapped read-only from the files."""
    try:
        names = json.loads((directory / COLUMNS_FILE).read_text())
        series: dict[str, pd.Series] = {}
        for i, name in enumerate(names):
            source = pa.memory_map(str(directory / f"{i}.arrow"), "r")
            series[name] = _decode(pa.ipc.open_file(source).read_all(), f"{name!r} in {directory}")
    except (OSError, ValueError, KeyError, pa.ArrowException) as e:
        raise DataError(f"shared columns in {directory} cannot be read ({type(e).__name__}); "
                        "delete the directory so they are written again") from None
    # copy=False keeps one block per column: consolidating would copy every column privately
    return pd.DataFrame(series, copy=False)


@contextmanager
def building(target: Path) -> Iterator[Path | None]:
    """A private directory to write ``target``'s content into, renamed to ``target`` at the end.

    Yields None when ``target`` already exists (nothing to do). Several processes may build the
    same target at once (workers starting together): each writes its own directory and the
    first rename wins; the others discard theirs.
    """
    if target.exists():
        yield None
        return
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


__all__ = ["building", "map_frame", "write_frame"]
