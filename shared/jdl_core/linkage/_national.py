"""Per-dataset cache of the prepared national side (record table, identifier indexes, DuckDB).

For a dataset loaded from a directory, the record table and identifier indexes are derived once
and written beside the data's shared columns (``national.shared_dir``), in a directory named
after the hash of ``prepare.py`` (changing how records are standardised prepares them again);
every linkage process then maps them read-only instead of deriving its own copy.
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import schema
from ..errors import LinkageError
from ..mapped import building, map_frame, write_frame
from . import prepare, variants
from .prepare import national_records

if TYPE_CHECKING:
    from ..national import NationalData

_CACHE: dict[tuple[Any, ...], PreparedNational] = {}
_CACHE_LOCK = threading.Lock()
# Several national datasets (e.g. tests with hand-built variants) may be open in one process;
# a small cap keeps memory bounded.
_CACHE_MAX = 4
_ATTR = "_jdl_linkage_prepared"


def national_path(national: NationalData) -> Path | None:
    path = getattr(national, "path", None)
    return None if path is None else Path(path)


def dataset_fingerprint(national: NationalData) -> tuple[str, str]:
    """(dataset version, sha256 of the manifest): identifies the version of the data."""
    manifest = getattr(national, "manifest", None) or {}
    version = str(
        manifest.get("dataset_version") or manifest.get("version") or schema.DATASET_VERSION
    ) if isinstance(manifest, dict) else schema.DATASET_VERSION
    base = national_path(national)
    manifest_file = None if base is None else base / schema.MANIFEST_FILE
    if manifest_file is not None and manifest_file.is_file():
        digest = hashlib.sha256(manifest_file.read_bytes()).hexdigest()
    else:
        digest = hashlib.sha256(
            json.dumps(manifest, sort_keys=True, default=str).encode()
        ).hexdigest()
    return version, digest


@dataclass
class PreparedNational:
    """Everything derived once from the national data and reused by every request."""

    key: tuple[Any, ...]
    records: pd.DataFrame                 # prepare.RECORD_COLUMNS, national side
    person_of_record: np.ndarray          # person_key by record_id
    pnc_to_person: IdentifierIndex        # canonical PNC ID -> person_key (unique only)
    prison_to_person: IdentifierIndex     # prison number -> person_key (unique only)
    lock: threading.RLock = field(default_factory=threading.RLock)
    runtime: Any = None                   # probabilistic._Runtime, built on first use

    def records_of_people(self, person_keys: np.ndarray) -> pd.DataFrame:
        """National records (main and aliases) of the given people, with their person_key."""
        mask = np.isin(self.person_of_record, person_keys)
        out = self.records.loc[mask].copy()
        out["person_key"] = self.person_of_record[mask]
        return out


@dataclass(frozen=True, eq=False)
class IdentifierIndex:
    """identifier -> person_key, for identifiers held by exactly one person.

    Sorted fixed-width identifiers searched by bisection (memory-mapped for a dataset on disk,
    so linkage processes share it): a hash index of millions of Python strings would cost each
    process hundreds of MB. Call it on one identifier (``Series.map(index)``): the person_key,
    or NaN when the identifier is absent, missing, or held by several people.
    """

    ids: np.ndarray    # sorted, numpy bytes dtype (S<width>)
    keys: np.ndarray   # int64 person_key of each id

    def __call__(self, value: object) -> float:
        if not isinstance(value, str) or not value.isascii() or not len(self.ids):
            return math.nan
        raw = value.encode()
        if len(raw) > self.ids.dtype.itemsize:
            return math.nan
        i = int(np.searchsorted(self.ids, raw))
        return float(self.keys[i]) if i < len(self.ids) and self.ids[i] == raw else math.nan

    @classmethod
    def build(cls, values: pd.Series, keys: np.ndarray) -> IdentifierIndex:
        frame = pd.DataFrame({"id": values.astype("string").to_numpy(dtype=object, na_value=None),
                              "person_key": keys}).dropna(subset=["id"])
        frame = frame.drop_duplicates()
        frame = frame.loc[~frame["id"].duplicated(keep=False)].sort_values("id")
        ids = frame["id"].to_numpy(dtype=object)
        if not all(i.isascii() for i in ids):
            raise LinkageError("national identifiers must be ASCII (canonical PNC IDs and "
                               "prison numbers are)")
        return cls(ids.astype(bytes) if len(ids) else np.array([], dtype="S1"),
                   frame["person_key"].to_numpy(dtype="int64"))

    def save(self, directory: Path, name: str) -> None:
        np.save(directory / f"{name}_ids.npy", self.ids)
        np.save(directory / f"{name}_keys.npy", self.keys)

    @classmethod
    def mapped(cls, directory: Path, name: str) -> IdentifierIndex:
        return cls(np.load(directory / f"{name}_ids.npy", mmap_mode="r"),
                   np.load(directory / f"{name}_keys.npy", mmap_mode="r"))


def _prepare_version() -> str:
    """Hash of the code that derives the record table: a change prepares the records again
    (variants.py gives the fn_var / sn_var columns, so its groups count as that code)."""
    digest = hashlib.sha256()
    for module in (prepare, variants):
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()[:16]


def _derive(national: NationalData) -> tuple[pd.DataFrame, np.ndarray, IdentifierIndex,
                                              IdentifierIndex]:
    people, aliases = national.people, getattr(national, "aliases", None)
    records, person_of_record = national_records(people, aliases)
    person_keys = people["person_key"].to_numpy(dtype="int64")
    empty = IdentifierIndex.build(pd.Series([], dtype="string"), np.array([], dtype="int64"))
    pnc = IdentifierIndex.build(people["pnc_id"], person_keys) if "pnc_id" in people else empty
    prison = (IdentifierIndex.build(people["prison_number"], person_keys)
              if "prison_number" in people else empty)
    return records, person_of_record, pnc, prison


def _shared(national: NationalData, path: Path) -> tuple[pd.DataFrame, np.ndarray,
                                                          IdentifierIndex, IdentifierIndex] | None:
    """The prepared side mapped from beside the data (written first if absent), or None when
    the dataset directory cannot hold it."""
    from ..national import shared_dir

    if not (path / schema.MANIFEST_FILE).is_file():
        return None
    target = shared_dir(path) / f"linkage-{_prepare_version()}"
    if not target.exists() and not os.access(path, os.W_OK | os.X_OK):
        return None
    with building(target) as tmp:
        if tmp is not None:
            records, person_of_record, pnc, prison = _derive(national)
            write_frame(tmp / "records", ((str(c), functools.partial(records.__getitem__, c))
                                          for c in records.columns))
            np.save(tmp / "person_of_record.npy", np.asarray(person_of_record, dtype="int64"))
            pnc.save(tmp, "pnc")
            prison.save(tmp, "prison")
            del records
    return (map_frame(target / "records"), np.load(target / "person_of_record.npy", mmap_mode="r"),
            IdentifierIndex.mapped(target, "pnc"), IdentifierIndex.mapped(target, "prison"))


def prepared_national(national: NationalData) -> PreparedNational:
    """The prepared national side, built once per dataset version and cached in the process."""
    people = getattr(national, "people", None)
    if not isinstance(people, pd.DataFrame):
        raise LinkageError("national data has no people table; load it with jdl_core.national.load_national")
    aliases = getattr(national, "aliases", None)
    path = national_path(national)
    _, sha = dataset_fingerprint(national)
    key = (str(path), sha, len(people), 0 if aliases is None else len(aliases))
    # Cached on the object itself (repeated requests with the same NationalData) and, for data
    # loaded from a directory, in the module (a NationalData loaded again from the same path).
    attached = getattr(national, _ATTR, None)
    if isinstance(attached, PreparedNational) and attached.key == key:
        return attached
    with _CACHE_LOCK:
        cached = _CACHE.get(key) if path is not None else None
    if cached is None:
        # derived once beside the data only from frames mapped from it: a NationalData built by
        # hand with the same path may hold other rows
        mapped = getattr(national, "shared", False)
        parts = (_shared(national, path) if path is not None and mapped else None) \
            or _derive(national)
        records, person_of_record, pnc, prison = parts
        cached = PreparedNational(key=key, records=records, person_of_record=person_of_record,
                                  pnc_to_person=pnc, prison_to_person=prison)
        if path is not None:
            with _CACHE_LOCK:
                while len(_CACHE) >= _CACHE_MAX:
                    _drop(next(iter(_CACHE)))
                _CACHE[key] = cached
    try:
        object.__setattr__(national, _ATTR, cached)
    except (AttributeError, TypeError):  # slotted objects: the module cache still serves paths
        pass
    return cached


def _drop(key: tuple[Any, ...]) -> None:
    prepared = _CACHE.pop(key)
    # The NationalData it was attached to may still hold it: leave no closed connection behind
    # (the next request builds a new one), so evicting a dataset never breaks its holder.
    with prepared.lock:
        runtime, prepared.runtime = prepared.runtime, None
    if runtime is not None:
        runtime.close()


def clear_cache() -> None:
    """Forget every prepared dataset (closes their DuckDB connections)."""
    with _CACHE_LOCK:
        for key in list(_CACHE):
            _drop(key)
