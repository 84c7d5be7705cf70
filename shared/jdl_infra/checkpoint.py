"""Signed checkpoints of the deletion audit log: the chain head (seq, hash, time) signed with the
purge service's Ed25519 key and published where anyone can copy it.

Whoever keeps a checkpoint can later prove the log still extends it (``check_checkpoint``): the
entry at the checkpoint's seq must still exist with the same hash, so truncating the log or
rewriting its tail (even re-hashing the whole chain consistently) is caught. The signature shows
the checkpoint came from the purge service and not from whoever rewrote the store.

Published layout (public, no personal data): ``public/audit/checkpoints/<seq:012d>.json`` for each
checkpoint, ``public/audit/checkpoint.json`` for the latest, ``public/audit/signing-key.json`` for
the public key. The API serves them at ``/v1/audit/checkpoint(s)``.
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
from datetime import datetime, timezone
from typing import Any, Final, Iterable, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jdl_core.errors import JdlError
from jdl_events.keys import CHECKPOINT_PUBLIC_KEY as PUBLIC_KEY_KEY
from jdl_events.keys import CHECKPOINTS, checkpoint_key
from jdl_events.keys import LATEST_CHECKPOINT as LATEST_KEY

from .audit import AuditLog, Problem, canonical_json
from .objectstore import ObjectNotFound, ObjectStore

_log = logging.getLogger("jdl.audit.checkpoint")
FORMAT: Final = "jdl-audit-checkpoint/1"


class CheckpointError(JdlError):
    code = "checkpoint_error"


def generate_signing_key() -> str:
    """A new Ed25519 private key: its 32-byte seed, base64 (JDL_PURGE_CHECKPOINT_SIGNING_KEY)."""
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

    raw = Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw,
                                                      NoEncryption())
    return base64.b64encode(raw).decode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def key_id_of(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


class Checkpoint(BaseModel):
    """One signed chain head. ``signature`` covers the canonical JSON of every other field."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    format: Literal["jdl-audit-checkpoint/1"] = FORMAT
    seq: int = Field(ge=0)                              # 0: the empty log
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    time: datetime
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    public_key: str                                     # raw Ed25519 public key, base64
    signature: str                                      # Ed25519 over signed_bytes(), base64

    def signed_bytes(self) -> bytes:
        return canonical_json({k: v for k, v in self.model_dump(mode="json").items()
                               if k != "signature"})

    def signature_valid(self, trusted_public_key: str | None = None) -> bool:
        """The signature verifies under the embedded key (and that key is the trusted one, if
        one is given: base64 raw key or its key id)."""
        try:
            raw = base64.b64decode(self.public_key, validate=True)
            if key_id_of(raw) != self.key_id:
                return False
            if trusted_public_key is not None and trusted_public_key not in (self.public_key,
                                                                             self.key_id):
                return False
            Ed25519PublicKey.from_public_bytes(raw).verify(
                base64.b64decode(self.signature, validate=True), self.signed_bytes())
            return True
        except (InvalidSignature, ValueError):
            return False


class CheckpointSigner:
    """Holds the purge service's private key; signs chain heads."""

    def __init__(self, private_key_b64: str) -> None:
        try:
            seed = base64.b64decode(private_key_b64, validate=True)
            self._key = Ed25519PrivateKey.from_private_bytes(seed)
        except ValueError:
            raise CheckpointError("JDL_PURGE_CHECKPOINT_SIGNING_KEY: expected a base64 Ed25519 "
                                  "private key (32 bytes); make one with `python -c \"from "
                                  "jdl_infra.checkpoint import generate_signing_key as g; "
                                  "print(g())\"`") from None
        self.public_raw = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.public_key = _b64(self.public_raw)
        self.key_id = key_id_of(self.public_raw)

    def sign(self, seq: int, head_hash: str, time: datetime) -> Checkpoint:
        unsigned = Checkpoint(seq=seq, hash=head_hash, time=time, key_id=self.key_id,
                              public_key=self.public_key, signature="")
        return unsigned.model_copy(update={
            "signature": _b64(self._key.sign(unsigned.signed_bytes()))})


def publish_checkpoint(store: ObjectStore, log: AuditLog, signer: CheckpointSigner, *,
                       now: datetime | None = None) -> Checkpoint:
    """Sign the current head and publish it (per-seq object, latest, public key)."""
    seq, head_hash = log.head()
    cp = signer.sign(seq, head_hash, now or datetime.now(timezone.utc))
    data = cp.model_dump_json(indent=1).encode()
    # the first checkpoint of a seq stays: a re-publication of the same head adds nothing
    store.put_if_absent(checkpoint_key(seq), data)
    store.put(LATEST_KEY, data)
    key_doc = canonical_json({"algorithm": "Ed25519", "key_id": signer.key_id,
                              "public_key": signer.public_key})
    try:
        current = store.get(PUBLIC_KEY_KEY)
    except ObjectNotFound:
        current = b""
    if current != key_doc:
        store.put(PUBLIC_KEY_KEY, key_doc)
    return cp


def published_checkpoints(store: ObjectStore) -> list[dict[str, Any]]:
    """Every published checkpoint (as stored JSON), in seq order; unreadable ones skipped."""
    out = []
    for k in store.list(CHECKPOINTS):
        try:
            out.append(json.loads(store.get(k)))
        except (ObjectNotFound, ValueError):
            continue
    return out


def parse_checkpoints(doc: Any, source: str) -> list[Checkpoint]:
    """One checkpoint, a list of them, or ``{"checkpoints": [...]}`` (the API's list form)."""
    items = doc.get("checkpoints") if isinstance(doc, dict) and "checkpoints" in doc else doc
    items = items if isinstance(items, list) else [items]
    out = []
    for i, item in enumerate(items):
        try:
            out.append(Checkpoint.model_validate(item))
        except ValidationError as e:
            fields = sorted({".".join(str(x) for x in err["loc"]) or "(top)" for err in e.errors()})
            raise CheckpointError(f"{source}: item {i + 1} is not an audit checkpoint (fields "
                                  f"{', '.join(fields)})") from None
    if not out:
        raise CheckpointError(f"{source}: no checkpoint in it")
    return out


def check_checkpoints(checkpoints: Iterable[Checkpoint], hashes: dict[int, str], *,
                      trusted_public_key: str | None = None) -> list[Problem]:
    """Problems if a checkpoint is not validly signed or the log no longer extends it.

    ``hashes`` are the readable entries' hashes by seq (``VerifyReport.hashes``, a fresh read,
    whose links verify() checks). The log extends a checkpoint
    when the entry at its seq still exists with its hash: the chain from 1 to that seq is then
    the one that was signed (verify() checks the links), and truncation (entry gone) or a
    rewritten tail (different hash) both fail.
    """
    problems = []
    for cp in checkpoints:
        where = f"checkpoint seq {cp.seq} of {cp.time.isoformat(timespec='seconds')}"
        if not cp.signature_valid(trusted_public_key):
            problems.append(Problem(
                "bad_checkpoint_signature", f"{where}: signature does not verify"
                + (" with the trusted key" if trusted_public_key else "")
                + " (forged or altered checkpoint)", seq=cp.seq or None))
            continue
        if cp.seq == 0:
            continue        # the empty log: every log extends it
        got = hashes.get(cp.seq)
        if got is None:
            problems.append(Problem("checkpoint_mismatch", f"{where}: no readable entry {cp.seq} "
                                    f"in the log (truncated, deleted or unreadable)", seq=cp.seq))
        elif got != cp.hash:
            problems.append(Problem("checkpoint_mismatch", f"{where}: entry {cp.seq} now hashes "
                                    f"to {got[:16]}..., the checkpoint signed "
                                    f"{cp.hash[:16]}... (log rewritten)", seq=cp.seq))
    return problems
