"""The deletion audit log: an append-only, hash-chained sequence of JSON entries in the object store.
It contains ids, object keys, version ids and counts only. Most entries are deletion certificates
(their model: ``jdl_infra.certificate``); which submissions must have one is a policy checked by
`jdl audit verify` (``jdl_cli.compliance``), not part of the log.

Layout: ``audit/log/<seq:012d>.json``, seq from 1. Each entry is canonical JSON of
``{version, seq, prev_hash, entry_type, payload, created_at, hash}`` where ``hash`` is the SHA-256
of the canonical JSON of every other field and ``prev_hash`` is the previous entry's hash (64 zeros
for seq 1). Altering, removing or reordering any entry breaks a hash or a link that ``verify``
reports by seq; truncating the tail is caught by comparing with a head hash noted earlier
(``verify(anchor=...)``) and, on a versioned bucket, by the delete markers it leaves.

One writer per sequence number, provably: an entry is written with ``ObjectStore.put_if_absent``
(filesystem link(2)/EEXIST, S3 ``If-None-Match: *``), so of two writers that both computed seq N
exactly one creates it; the other re-lists, chains after the winner and takes N+1. The entry is
read back after writing as a second line of defence (a store whose conditional write is not
atomic); on a versioned bucket an overwritten entry also remains visible as a second version,
which verify reports. The purge service is still meant to run as one replica (k8s ``Recreate``).

An unreadable entry (corrupt JSON, missing fields) never stops the writer: readers skip it and
report it (``AuditLog.unreadable``, the ``jdl_audit_unreadable_entries`` gauge, the
``on_unreadable`` hook), an append after an unreadable head chains to the SHA-256 of its raw
bytes, and ``verify`` names it by seq.

Checkpoints (``jdl_infra.checkpoint``) sign the head (seq, hash, time) so anyone holding a
published checkpoint can prove the log still extends it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jdl_core.errors import JdlError
from jdl_events import keys
from jdl_events.keys import AUDIT_LOG as LOG_PREFIX
from jdl_events.keys import audit_entry_key as entry_key

from .certificate import CERTIFICATE, CERTIFICATE_TYPES, PURGE_NOOP, DeletionCertificate
from .objectstore import ObjectNotFound, ObjectStore

# The certificate entry types are exported with the log, whose entries they name.
__all__ = [
    "AuditConflict", "AuditEntry", "AuditError", "AuditLog", "CERTIFICATE", "CERTIFICATE_TYPES",
    "ENTRY_VERSION", "GENESIS_HASH", "LOG_PREFIX", "PURGE_NOOP", "Problem", "VerifyReport",
    "canonical_json", "entry_hash", "entry_key",
]

_log = logging.getLogger("jdl.audit")
GENESIS_HASH = "0" * 64
ENTRY_VERSION = 1
_ENTRY_TYPE_RE = re.compile(r"^[a-z_]{1,40}$")


class AuditError(JdlError):
    code = "audit_error"


class AuditConflict(AuditError):
    """Another writer appended at the same time (the single-writer assumption was broken)."""

    code = "audit_conflict"


def canonical_json(obj: Any) -> bytes:
    """Deterministic JSON (sorted keys, no spaces, UTF-8) used for hashing and storage."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(body: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of every field except ``hash``."""
    return hashlib.sha256(canonical_json({k: v for k, v in body.items() if k != "hash"})).hexdigest()


# -- entries ---------------------------------------------------------------------------------
class AuditEntry(BaseModel):
    """One entry as stored (see the module doc for the hash and the link)."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    version: int = ENTRY_VERSION
    seq: int = Field(ge=1)
    prev_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    entry_type: str = Field(pattern=_ENTRY_TYPE_RE.pattern)
    payload: dict[str, Any]
    created_at: str
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")

    @property
    def key(self) -> str:
        return entry_key(self.seq)

    def body(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def certificate(self) -> DeletionCertificate | None:
        if self.entry_type not in CERTIFICATE_TYPES:
            return None
        return DeletionCertificate.model_validate(self.payload)


@dataclass(frozen=True)
class Problem:
    """One finding of verify(): the seq (or submission) it concerns and what is wrong."""

    kind: str          # hash_mismatch | broken_link | seq_gap | seq_mismatch | unreadable |
    #                    rewritten | deleted | bad_certificate | anchor_mismatch |
    #                    missing_certificate | residual_data
    detail: str
    seq: int | None = None
    submission_id: str | None = None

    def __str__(self) -> str:
        where = (f"entry seq {self.seq} ({entry_key(self.seq)})" if self.seq is not None
                 else f"submission {self.submission_id}" if self.submission_id else "audit log")
        return f"{where}: {self.kind}: {self.detail}"


@dataclass
class VerifyReport:
    entries: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    problems: list[Problem] = field(default_factory=list)
    hashes: dict[int, str] = field(default_factory=dict)   # seq -> hash of each readable entry

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_seq(self) -> int | None:
        seqs = [p.seq for p in self.problems if p.seq is not None]
        return min(seqs) if seqs else None

    def summary(self) -> str:
        if self.ok:
            return (f"audit log OK: {self.entries} entries, head seq {self.head_seq}, "
                    f"head hash {self.head_hash}")
        first = self.first_bad_seq
        lead = f"first bad entry: seq {first}; " if first is not None else ""
        return f"audit log FAILED: {lead}{len(self.problems)} problem(s)"


class AuditLog:
    """Append-only hash-chained log in the object store (see module docstring)."""

    def __init__(self, store: ObjectStore, *, max_retries: int = 20,
                 on_unreadable: Callable[[int], None] | None = None) -> None:
        self.store = store
        self.max_retries = max_retries
        self.on_unreadable = on_unreadable
        self._lock = threading.Lock()
        # Entries are immutable once written, so a long-running writer reads each one once.
        # verify() never uses this cache: it rereads everything from the store.
        self._cache: dict[int, AuditEntry] = {}
        # seq -> SHA-256 of the raw bytes of an entry that does not parse (what the next entry
        # chains to); re-read on every pass, in case it was repaired from a backup.
        self.unreadable: dict[int, str] = {}

    # -- reading -----------------------------------------------------------------------------
    def _seqs(self) -> list[int]:
        return sorted(s for k in self.store.list(LOG_PREFIX)
                      if (s := keys.seq_of_audit_entry(k)) is not None)

    def _load(self, seq: int) -> AuditEntry | None:
        """The entry at seq (cached), or None if it is unreadable (recorded, reported once)."""
        if seq in self._cache:
            return self._cache[seq]
        raw = b""
        try:
            raw = self.store.get(entry_key(seq))
            entry = AuditEntry.model_validate_json(raw)
        except (ObjectNotFound, ValueError, ValidationError):
            first = seq not in self.unreadable
            self.unreadable[seq] = hashlib.sha256(raw).hexdigest()
            if first:
                _log.error("audit entry unreadable: skipped (run `jdl audit verify`)",
                           extra={"seq": seq, "key": entry_key(seq)})
                if self.on_unreadable is not None:
                    self.on_unreadable(seq)
            return None
        self.unreadable.pop(seq, None)
        self._cache[seq] = entry
        return entry

    def entries(self) -> list[AuditEntry]:
        """Every readable entry in seq order (cached reads). Unreadable ones are skipped and
        listed in ``self.unreadable``: a purge must go on past one; verify() names it."""
        return [e for s in self._seqs() if (e := self._load(s)) is not None]

    def head(self) -> tuple[int, str]:
        """(seq, hash) of the last entry, (0, GENESIS_HASH) for an empty log. An unreadable head
        is represented by the SHA-256 of its raw bytes (what the next append chains to)."""
        seqs = self._seqs()
        if not seqs:
            return 0, GENESIS_HASH
        entry = self._load(seqs[-1])
        return seqs[-1], (entry.hash if entry is not None else self.unreadable[seqs[-1]])

    def certificate_entries(self, submission_id: str | None = None) -> list[AuditEntry]:
        """Entries whose payload is a DeletionCertificate (certificate and purge_noop)."""
        return [e for e in self.entries() if e.entry_type in CERTIFICATE_TYPES
                and (submission_id is None or e.payload.get("submission_id") == submission_id)]

    def certificates(self) -> list[DeletionCertificate]:
        """Every certificate, in log order (purge no-ops included, with their outcome)."""
        out = []
        for e in self.certificate_entries():
            try:
                c = e.certificate()
            except ValidationError:
                continue    # a bad payload is verify()'s finding (bad_certificate), not a crash
            if c is not None:
                out.append(c)
        return out

    def certificate(self, submission_id: str) -> DeletionCertificate | None:
        """The submission's certificate: the latest entry that deleted something, else the
        latest no-op record (unknown_submission / already_purged), else None."""
        entries = self.certificate_entries(submission_id)
        purged = [e for e in entries if e.entry_type == CERTIFICATE]
        for chosen in list(reversed(purged)) + list(reversed(entries)):
            try:
                return chosen.certificate()
            except ValidationError:
                continue
        return None

    def entry_of(self, certificate: DeletionCertificate) -> AuditEntry | None:
        """The entry recording this certificate (its key goes into the data.purged event)."""
        for e in reversed(self.certificate_entries(certificate.submission_id)):
            if e.payload.get("purge_id") == certificate.purge_id:
                return e
        return None

    # -- writing -----------------------------------------------------------------------------
    def append(self, entry_type: str, payload: dict[str, Any] | BaseModel, *,
               now: datetime | None = None) -> AuditEntry:
        """Append one entry after the current head; return it."""
        if not _ENTRY_TYPE_RE.match(entry_type):
            raise AuditError(f"entry_type {entry_type!r} is not allowed (lowercase letters and _)")
        body_payload = (payload.model_dump(mode="json") if isinstance(payload, BaseModel)
                        else json.loads(canonical_json(payload)))  # JSON-native copy
        created = (now or datetime.now(timezone.utc)).isoformat()
        with self._lock:
            for _ in range(self.max_retries):
                head_seq, prev = self.head()
                seq = head_seq + 1
                body = {"version": ENTRY_VERSION, "seq": seq, "prev_hash": prev,
                        "entry_type": entry_type, "payload": body_payload, "created_at": created}
                body["hash"] = entry_hash(body)
                entry = AuditEntry.model_validate(body)
                data = canonical_json(body)
                if not self.store.put_if_absent(entry.key, data):
                    continue   # another writer took this seq: list again and chain after it
                if self.store.get(entry.key) != data:
                    raise AuditConflict(
                        f"audit entry {entry.key} was overwritten by another writer: the audit "
                        "log must have a single writer (the purge service); run `jdl audit verify`")
                self._cache[seq] = entry
                return entry
        raise AuditConflict(f"could not append to the audit log after {self.max_retries} attempts "
                            "(concurrent writers?)")

    # -- verifying ---------------------------------------------------------------------------
    def verify(self, *, anchor: tuple[int, str] | None = None) -> VerifyReport:
        """Re-read every entry and check hashes, links, sequence and certificate payloads.

        ``anchor`` = (seq, hash) noted from an earlier run: the entry must still exist with that
        hash, which catches truncation of the tail and wholesale rewriting of the chain. On a
        versioned store, an entry with more than one version (rewritten) or with versions but no
        current object (deleted) is reported too.
        """
        report = VerifyReport()
        current_keys = set(self.store.list(LOG_PREFIX))
        by_seq = self._check_chain(report)
        self._check_versions(report, current_keys)
        if anchor is not None:
            _check_anchor(report, by_seq, anchor)
        report.problems.sort(key=lambda p: (p.seq if p.seq is not None else 1 << 62, p.kind))
        return report

    def _check_chain(self, report: VerifyReport) -> dict[int, AuditEntry]:
        """Walk the entries in seq order (from the store, not the cache), recording each problem
        and the head in ``report``; the readable entries by seq."""
        # None after a gap or an unreadable entry: the next link cannot be checked
        prev_hash: str | None = GENESIS_HASH
        expected_seq = 1
        by_seq: dict[int, AuditEntry] = {}
        for s in self._seqs():
            if s != expected_seq:
                report.problems.append(Problem(
                    "seq_gap", f"entries {expected_seq}..{s - 1} are missing before seq {s}"
                    if s > expected_seq + 1 else f"entry {expected_seq} is missing before seq {s}",
                    seq=expected_seq))
                prev_hash = None
            try:
                body = json.loads(self.store.get(entry_key(s)))
                entry = AuditEntry.model_validate(body)
            except (ObjectNotFound, ValueError, ValidationError):
                report.problems.append(Problem(
                    "unreadable", "not a valid audit entry (JSON fields version, seq, prev_hash, "
                    "entry_type, payload, created_at, hash)", seq=s))
                prev_hash, expected_seq = None, s + 1
                continue
            report.problems.extend(_entry_problems(s, body, entry, prev_hash))
            by_seq[s] = entry
            report.hashes[s] = entry.hash
            prev_hash, expected_seq = entry.hash, s + 1
            report.entries += 1
            report.head_seq, report.head_hash = s, entry.hash
        return by_seq

    def _check_versions(self, report: VerifyReport, current_keys: set[str]) -> None:
        """History on a versioned bucket: each entry should have been written exactly once (an
        unversioned store lists one version per current object, so it finds nothing here)."""
        versions: dict[tuple[int, str], int] = {}
        for k, _v in self.store.list_versions(LOG_PREFIX):
            if (listed := keys.seq_of_audit_entry(k)) is not None:
                versions[(listed, k)] = versions.get((listed, k), 0) + 1
        for (s, k), n in sorted(versions.items()):
            if k not in current_keys:
                report.problems.append(Problem(
                    "deleted", "entry was deleted (old versions or a delete marker remain in the "
                    "versioned bucket)", seq=s))
            elif n > 1:
                report.problems.append(Problem(
                    "rewritten", f"entry has {n} stored versions: it was overwritten after being "
                    "appended", seq=s))


def _entry_problems(s: int, body: dict[str, Any], entry: AuditEntry,
                    prev_hash: str | None) -> list[Problem]:
    """What is wrong with one readable entry: its seq, its hash, its link to the entry before
    (``prev_hash`` None: not checkable after a gap) and a certificate payload."""
    problems = []
    if entry.seq != s:
        problems.append(Problem("seq_mismatch", f"entry stored at seq {s} says seq {entry.seq}",
                                seq=s))
    recomputed = entry_hash(body)
    if recomputed != entry.hash:
        problems.append(Problem(
            "hash_mismatch", f"content was altered: stored hash {entry.hash[:16]}..., content "
            f"hashes to {recomputed[:16]}...", seq=s))
    if prev_hash is not None and entry.prev_hash != prev_hash:
        problems.append(Problem(
            "broken_link", f"prev_hash {entry.prev_hash[:16]}... does not match the hash of entry "
            f"{s - 1} ({prev_hash[:16]}...): entry {s - 1} or {s} was altered", seq=s))
    if entry.entry_type in CERTIFICATE_TYPES:
        try:
            entry.certificate()
        except ValidationError as e:
            problems.append(Problem(
                "bad_certificate", f"payload is not a valid deletion certificate "
                f"({len(e.errors())} field error(s))", seq=s))
    return problems


def _check_anchor(report: VerifyReport, by_seq: dict[int, AuditEntry],
                  anchor: tuple[int, str]) -> None:
    """The entry noted earlier must still be there with the same hash."""
    a_seq, a_hash = anchor
    got = by_seq.get(a_seq)
    if got is None or got.hash != a_hash:
        report.problems.append(Problem(
            "anchor_mismatch", f"expected entry {a_seq} with hash {a_hash[:16]}..., found "
            + ("no such entry (log truncated?)" if got is None
               else f"hash {got.hash[:16]}... (log rewritten)"), seq=a_seq))
