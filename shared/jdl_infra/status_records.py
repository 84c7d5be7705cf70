"""Status records (jdl_events.status.StatusRecord) in the object store: written by the intake
worker and API, read by the purge service and `jdl audit verify`.

A record that is missing or does not validate reads as None: readers skip it (the reconciler and
the sweep find its data through the data keys instead), and never see a half-parsed dict.
"""
from __future__ import annotations

import json
from typing import Any, Iterator

from pydantic import ValidationError

from jdl_events import keys
from jdl_events.status import StatusRecord

from .objectstore import ObjectNotFound, ObjectStore


def parse(raw: bytes) -> StatusRecord | None:
    try:
        return StatusRecord.model_validate_json(raw)
    except ValidationError:
        return None


def read(store: ObjectStore, submission_id: str) -> StatusRecord | None:
    try:
        return parse(store.get(keys.status_key(submission_id)))
    except ObjectNotFound:
        return None


def read_key(store: ObjectStore, key: str) -> StatusRecord | None:
    try:
        return parse(store.get(key))
    except ObjectNotFound:
        return None


def status_keys(store: ObjectStore) -> dict[str, str]:
    """Submission id -> key of every status record in the store (one listing, no reads)."""
    return {sid: k for k in store.list(keys.STATUS) if (sid := keys.id_of_status_key(k))}


def read_all(store: ObjectStore) -> Iterator[StatusRecord]:
    """Every readable status record, in key order."""
    for key in status_keys(store).values():
        if (rec := read_key(store, key)) is not None:
            yield rec


def write(store: ObjectStore, record: StatusRecord | dict[str, Any]) -> StatusRecord:
    """Validate and store a record (a dict is the projection's working form); returns it typed.
    A record that does not fit the contract raises pydantic.ValidationError and is not stored."""
    rec = record if isinstance(record, StatusRecord) else StatusRecord.model_validate(record)
    store.put(keys.status_key(rec.submission_id), json.dumps(rec.document(), indent=1).encode())
    return rec
