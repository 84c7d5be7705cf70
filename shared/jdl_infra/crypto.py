"""Envelope encryption of individual-level objects: a per-submission AES-256-GCM data key, wrapped
by a master key, so that destroying one small key object makes every copy of a submission unreadable.

Layout in the object store::

    keys/<submission_id>.json            wrapped data key (+ key id, created_at); NOT under the
                                         submission's data prefix, so destroying it is its own step
    keys/destroyed/<submission_id>.json  tombstone: key id and when it was destroyed (no key material)
    submissions/<submission_id>/...      objects written with put_encrypted (ciphertext only)

Ciphertext format (``encrypt``)::

    b"JDLE" | version (1 byte) | len(key_id) (1 byte) | key_id (ascii) | nonce (12 bytes) | ct+tag

The whole header is authenticated: the GCM associated data is the header, the submission id and
the caller's ``aad`` (put_encrypted passes the object key, so ciphertexts cannot be swapped between
objects or submissions without failing authentication).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
import struct
from datetime import datetime, timezone
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from jdl_core.errors import InvalidArgument, JdlError, StopWorker
from jdl_events import keys

from .objectstore import ObjectNotFound, ObjectStore
from .settings import InfraSettings

MAGIC = b"JDLE"
FORMAT_VERSION = 1
NONCE_BYTES = 12
KEY_BYTES = 32
KEY_RECORD_FORMAT = "jdl-wrapped-data-key/1"
TOMBSTONE_FORMAT = "jdl-destroyed-data-key/1"

class CryptoError(JdlError):
    """Base of the errors of envelope encryption."""

    code = "crypto_error"


class MasterKeyMissing(CryptoError, StopWorker):
    code = "master_key_missing"


class MasterKeyInvalid(CryptoError, StopWorker):
    code = "master_key_invalid"


class MasterKeyMismatch(CryptoError):
    """A data key cannot be unwrapped with the configured master key: its record was altered (this
    submission's problem) or - WrongMasterKey - the key is not the one that wrapped it."""

    code = "master_key_mismatch"


class WrongMasterKey(MasterKeyMismatch, StopWorker):
    """The configured JDL_MASTER_KEY is not the one that wrapped the data key (the record names
    another master key's fingerprint): every submission would fail alike, so the worker stops."""


class DataKeyUnavailable(CryptoError):
    """No usable data key for the submission: its data cannot be read or written."""

    code = "data_key_unavailable"


class DataKeyDestroyed(DataKeyUnavailable):
    """The submission's data key was destroyed by purge (crypto-shredding)."""

    code = "data_key_destroyed"


class DataKeyMissing(DataKeyUnavailable):
    """The submission never had a data key (or its record vanished without a tombstone)."""

    code = "data_key_missing"


class DecryptionFailed(CryptoError):
    """Ciphertext failed authentication: tampered, truncated, or read with the wrong key/AAD."""

    code = "decryption_failed"


def check_submission_id(submission_id: str) -> str:
    """Validate an opaque submission id (``sub-`` + 20 hex); it goes into object keys and the
    audit log, so nothing else (a name, a path) may take its place. The value is not echoed."""
    if not keys.is_submission_id(submission_id):
        raise InvalidArgument(
            "submission_id is not a submission id: expected 'sub-' followed by 20 lowercase "
            "hexadecimal characters")
    return submission_id


# The layout is jdl_events.keys'; these raise InvalidArgument (a JdlError) for a non-id.
def submission_prefix(submission_id: str) -> str:
    """Prefix under which every individual-level object of a submission lives."""
    return keys.submission_prefix(check_submission_id(submission_id))


def key_object(submission_id: str) -> str:
    return keys.data_key_key(check_submission_id(submission_id))


def tombstone_object(submission_id: str) -> str:
    return keys.tombstone_key(check_submission_id(submission_id))


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def generate_master_key() -> str:
    """A fresh random master key, base64 (for development and `jdl up`; production keys come
    from a secret store)."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


class MasterKey:
    """The key that wraps every data key. Never printed: repr shows only its fingerprint id."""

    __slots__ = ("_key", "key_id")

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise MasterKeyInvalid(
                f"JDL_MASTER_KEY must decode to exactly {KEY_BYTES} bytes (AES-256); "
                f"it decodes to {len(key)} bytes")
        self._key = bytes(key)
        # A fingerprint, so key records say which master wrapped them (needed for rotation).
        # A hash of a 256-bit random key reveals nothing usable about it.
        self.key_id = "mk-" + hashlib.sha256(b"jdl-master-key-id:" + self._key).hexdigest()[:16]

    @classmethod
    def from_base64(cls, text: str) -> "MasterKey":
        text = text.strip()
        try:
            # accept standard and URL-safe alphabets; validate=True refuses stray characters
            raw = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            raise MasterKeyInvalid(
                "JDL_MASTER_KEY is not valid base64: expected the base64 encoding of 32 random "
                "bytes (generate one with `python -c 'from jdl_infra.crypto import "
                "generate_master_key; print(generate_master_key())'`)") from None
        return cls(raw)

    @classmethod
    def from_settings(cls, infra: InfraSettings) -> "MasterKey":
        """The master key from ``infra.master_key`` (env JDL_MASTER_KEY); refuses to go on
        without one rather than store cohort data unencrypted."""
        if infra.master_key is None or not infra.master_key.get_secret_value().strip():
            raise MasterKeyMissing(
                "JDL_MASTER_KEY is not set: refusing to store cohort data unencrypted",
                hint="set JDL_MASTER_KEY to the base64 encoding of 32 random bytes")
        return cls.from_base64(infra.master_key.get_secret_value())

    def _aead(self) -> AESGCM:
        return AESGCM(self._key)

    def __repr__(self) -> str:
        return f"MasterKey(key_id={self.key_id!r})"


def _wrap_aad(submission_id: str, key_id: str) -> bytes:
    return f"{KEY_RECORD_FORMAT}|{submission_id}|{key_id}".encode()


def _header(key_id: str) -> bytes:
    kid = key_id.encode("ascii")
    return MAGIC + struct.pack("BB", FORMAT_VERSION, len(kid)) + kid


def _data_aad(header: bytes, submission_id: str, aad: str) -> bytes:
    # NUL separators: none of the parts can contain one, so the encoding is unambiguous.
    return header + b"\x00" + submission_id.encode() + b"\x00" + aad.encode()


class KeyRing:
    """Per-submission data keys in the object store, wrapped by the master key.

    ``master`` may be None for a caller that only destroys keys (the purge service needs no
    master key: least privilege); encrypt/decrypt/create then raise MasterKeyMissing.
    """

    def __init__(self, store: ObjectStore, master: MasterKey | None) -> None:
        self.store = store
        self.master = master

    # -- key records -------------------------------------------------------------------------
    def _require_master(self) -> MasterKey:
        if self.master is None:
            raise MasterKeyMissing(
                "JDL_MASTER_KEY is not set: refusing to store cohort data unencrypted",
                hint="this key ring was built without a master key; it can only destroy keys")
        return self.master

    def _read_record(self, submission_id: str) -> dict[str, Any] | None:
        try:
            raw = self.store.get(key_object(submission_id))
        except ObjectNotFound:
            return None
        try:
            record = json.loads(raw)
            if record.get("format") != KEY_RECORD_FORMAT:
                raise ValueError
            return record
        except ValueError:
            raise CryptoError(
                f"key record {key_object(submission_id)} is not a {KEY_RECORD_FORMAT} "
                "JSON document") from None

    def destroyed(self, submission_id: str) -> bool:
        """True once destroy() has run for the submission (a tombstone exists)."""
        return self.store.exists(tombstone_object(submission_id))

    def exists(self, submission_id: str) -> bool:
        """True while a live data key exists for the submission."""
        return self.store.exists(key_object(submission_id))

    def key_id(self, submission_id: str) -> str | None:
        record = self._read_record(submission_id)
        return None if record is None else str(record["key_id"])

    def remaining_versions(self, submission_id: str) -> list[tuple[str, str]]:
        """Every stored version of the key object (old versions on S3 would still hold the
        wrapped key, so 'destroyed' means this list is empty)."""
        return self.store.list_versions(key_object(submission_id))

    def _unavailable(self, submission_id: str) -> DataKeyUnavailable:
        if self.destroyed(submission_id):
            return DataKeyDestroyed(
                f"data key of submission {submission_id} has been destroyed by purge: "
                "its data can no longer be read or written")
        return DataKeyMissing(
            f"submission {submission_id} has no data key: create_data_key() must run first "
            "(at intake)")

    def create_data_key(self, submission_id: str) -> str:
        """Create, wrap and store a fresh random 256-bit data key; return its key id.

        Idempotent: if the submission already has a key, its id is returned (overwriting it would
        make data already written unreadable). Refuses after the key was destroyed, so a late or
        replayed writer cannot store new data for a purged submission.
        """
        sid = check_submission_id(submission_id)
        master = self._require_master()
        if self.destroyed(sid):
            raise self._unavailable(sid)
        existing = self._read_record(sid)
        if existing is not None:
            return str(existing["key_id"])
        key_id = "dk-" + secrets.token_hex(8)
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(NONCE_BYTES)
        wrapped = master._aead().encrypt(nonce, data_key, _wrap_aad(sid, key_id))
        record = {
            "format": KEY_RECORD_FORMAT,
            "submission_id": sid,
            "key_id": key_id,
            "created_at": _utcnow().isoformat(),
            "algorithm": "AES-256-GCM",
            "wrapped_by": master.key_id,
            "nonce": base64.b64encode(nonce).decode(),
            "wrapped_key": base64.b64encode(wrapped).decode(),
        }
        self.store.put(key_object(sid), json.dumps(record, sort_keys=True).encode())
        return key_id

    def _data_key(self, submission_id: str) -> tuple[str, bytes]:
        master = self._require_master()
        if self.destroyed(submission_id):
            raise self._unavailable(submission_id)
        record = self._read_record(submission_id)
        if record is None:
            raise self._unavailable(submission_id)
        key_id = str(record["key_id"])
        if record.get("wrapped_by") not in (None, master.key_id):
            raise WrongMasterKey(
                f"data key {key_id} was wrapped by master key {record['wrapped_by']}, "
                f"but the configured JDL_MASTER_KEY is {master.key_id}")
        try:
            data_key = master._aead().decrypt(base64.b64decode(record["nonce"]),
                                              base64.b64decode(record["wrapped_key"]),
                                              _wrap_aad(submission_id, key_id))
        except (InvalidTag, binascii.Error, ValueError, KeyError):
            raise MasterKeyMismatch(
                f"data key {key_id} of submission {submission_id} cannot be unwrapped: the "
                "key record was altered or JDL_MASTER_KEY is not the key that wrapped it") from None
        return key_id, data_key

    # -- data --------------------------------------------------------------------------------
    def encrypt(self, submission_id: str, plaintext: bytes, *, aad: str) -> bytes:
        """Encrypt with the submission's data key; ``aad`` (e.g. the object key) must be given
        again to decrypt."""
        sid = check_submission_id(submission_id)
        key_id, data_key = self._data_key(sid)
        header = _header(key_id)
        nonce = os.urandom(NONCE_BYTES)
        ct = AESGCM(data_key).encrypt(nonce, plaintext, _data_aad(header, sid, aad))
        return header + nonce + ct

    def decrypt(self, submission_id: str, blob: bytes, *, aad: str) -> bytes:
        sid = check_submission_id(submission_id)
        if len(blob) < 6 or blob[:4] != MAGIC:
            raise DecryptionFailed("object is not JDL ciphertext (missing JDLE header)")
        version, kid_len = struct.unpack("BB", blob[4:6])
        if version != FORMAT_VERSION:
            raise DecryptionFailed(
                f"ciphertext format version {version} is not supported (only {FORMAT_VERSION})")
        header_len = 6 + kid_len
        if len(blob) < header_len + NONCE_BYTES + 16:
            raise DecryptionFailed("ciphertext is truncated")
        header = blob[:header_len]
        blob_kid = header[6:].decode("ascii", errors="replace")
        key_id, data_key = self._data_key(sid)
        if blob_kid != key_id:
            raise DecryptionFailed(
                f"ciphertext was written with data key {blob_kid}, the submission's key is {key_id}")
        nonce = blob[header_len:header_len + NONCE_BYTES]
        try:
            return AESGCM(data_key).decrypt(nonce, blob[header_len + NONCE_BYTES:],
                                            _data_aad(header, sid, aad))
        except InvalidTag:
            raise DecryptionFailed(
                f"ciphertext of submission {sid} failed authentication: it was altered, or the "
                "associated data (object key) differs from the one used to encrypt") from None

    def destroy(self, submission_id: str) -> str | None:
        """Destroy the submission's data key (every stored version); return its key id, or None
        if there was no key. Idempotent. A tombstone (no key material) is written first so a
        crash in between still leaves the key refused for new writes."""
        sid = check_submission_id(submission_id)
        try:
            key_id = self.key_id(sid)
        except CryptoError:
            key_id = None  # an unreadable record is destroyed all the same
        present = bool(self.remaining_versions(sid))
        if not present:
            return None
        if not self.destroyed(sid):
            tomb = {"format": TOMBSTONE_FORMAT, "submission_id": sid, "key_id": key_id,
                    "destroyed_at": _utcnow().isoformat()}
            self.store.put(tombstone_object(sid), json.dumps(tomb, sort_keys=True).encode())
        self.store.delete_prefix(key_object(sid))
        return key_id


def _check_object_key(submission_id: str, key: str) -> str:
    prefix = submission_prefix(submission_id)
    if not key.startswith(prefix) or len(key) == len(prefix):
        raise InvalidArgument(
            f"key {key!r}: individual-level objects must live under {prefix} so purge finds them")
    return key


def put_encrypted(store: ObjectStore, keyring: KeyRing, submission_id: str, key: str,
                  data: bytes) -> None:
    """Encrypt ``data`` with the submission's data key and store it at ``key`` (which must be
    under ``submissions/<submission_id>/``). The object key is the associated data."""
    _check_object_key(submission_id, key)
    store.put(key, keyring.encrypt(submission_id, data, aad=key))


def get_encrypted(store: ObjectStore, keyring: KeyRing, submission_id: str, key: str) -> bytes:
    """Read and decrypt an object written by put_encrypted."""
    _check_object_key(submission_id, key)
    return keyring.decrypt(submission_id, store.get(key), aad=key)
