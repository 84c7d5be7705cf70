"""Per-dataset cache of the prepared national side (record table, identifier indexes, DuckDB)."""
from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import schema
from ..errors import LinkageError
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
    pnc_to_person: pd.Series              # canonical PNC ID -> person_key (unique only)
    prison_to_person: pd.Series           # prison number -> person_key (unique only)
    lock: threading.RLock = field(default_factory=threading.RLock)
    runtime: Any = None                   # probabilistic._Runtime, built on first use

    def records_of_people(self, person_keys: np.ndarray) -> pd.DataFrame:
        """National records (main and aliases) of the given people, with their person_key."""
        mask = np.isin(self.person_of_record, person_keys)
        out = self.records.loc[mask].copy()
        out["person_key"] = self.person_of_record[mask]
        return out


def _unique_index(values: pd.Series, keys: np.ndarray) -> pd.Series:
    """identifier -> person_key, leaving out identifiers held by more than one person."""
    frame = pd.DataFrame({"id": values.astype("string").to_numpy(), "person_key": keys}).dropna(subset=["id"])
    counts = frame.groupby("id")["person_key"].transform("nunique")
    unique = frame.loc[counts == 1].drop_duplicates("id")
    return pd.Series(unique["person_key"].to_numpy(dtype="int64"), index=pd.Index(unique["id"].to_numpy(), dtype=object))


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
        records, person_of_record = national_records(people, aliases)
        person_keys = people["person_key"].to_numpy(dtype="int64")
        cached = PreparedNational(
            key=key,
            records=records,
            person_of_record=person_of_record,
            pnc_to_person=_unique_index(people["pnc_id"], person_keys) if "pnc_id" in people
            else pd.Series(dtype="int64"),
            prison_to_person=_unique_index(people["prison_number"], person_keys)
            if "prison_number" in people else pd.Series(dtype="int64"),
        )
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
    runtime = prepared.runtime
    if runtime is not None:
        runtime.close()


def clear_cache() -> None:
    """Forget every prepared dataset (closes their DuckDB connections)."""
    with _CACHE_LOCK:
        for key in list(_CACHE):
            _drop(key)
