"""The ObjectStore port and its implementations: filesystem, S3 (minio client) and in-memory.

One contract test suite (tests/unit/test_objectstore_contract.py) runs against all three.
Keys are '/'-separated; a submission's objects live under ``submissions/<id>/``.

``put_if_absent`` is the one conditional write: it creates the object only if no object exists
under the key, atomically (filesystem: link(2), which fails with EEXIST like ``O_EXCL``; S3:
``If-None-Match: *``, or a lease object with expiry on an endpoint that ignores it; memory: a
lock). The audit log appends with it, so two writers can never both write the same sequence
number.
"""
from __future__ import annotations

import builtins  # each store has a `list` method: annotations below it say builtins.list
import io
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable
from urllib.parse import urlparse

from jdl_core.errors import TransientError
from jdl_events.keys import conditional_write_probe_key, lease_key

if TYPE_CHECKING:  # only open_store's annotation: the stores themselves need no settings
    from .settings import InfraSettings

_KEY_RE = re.compile(r"^[A-Za-z0-9._=-][A-Za-z0-9._/=-]{0,1023}$")


class ObjectNotFound(KeyError):
    """No object under that key."""


class InvalidKey(ValueError):
    pass


def check_key(key: str) -> str:
    if not _KEY_RE.match(key) or ".." in key.split("/") or "//" in key or key.endswith("/"):
        raise InvalidKey(f"object key {key!r} is not allowed (letters, digits, ._=-/ only)")
    return key


@dataclass
class DeleteReport:
    """What delete_prefix removed: keys and (key, version id) pairs."""
    keys: list[str] = field(default_factory=list)
    versions: list[tuple[str, str]] = field(default_factory=list)


@runtime_checkable
class ObjectStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def put_if_absent(self, key: str, data: bytes) -> bool: ...
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def list(self, prefix: str = "") -> list[str]: ...
    def list_versions(self, prefix: str = "") -> builtins.list[tuple[str, str]]: ...
    def delete_prefix(self, prefix: str) -> DeleteReport: ...


class MemoryStore:
    """Honest in-memory fake, used by unit tests of handlers."""

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def put(self, key: str, data: bytes) -> None:
        with self._lock:
            self._data[check_key(key)] = bytes(data)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        with self._lock:
            if check_key(key) in self._data:
                return False
            self._data[key] = bytes(data)
            return True

    def get(self, key: str) -> bytes:
        try:
            return self._data[check_key(key)]
        except KeyError:
            raise ObjectNotFound(key) from None

    def exists(self, key: str) -> bool:
        return check_key(key) in self._data

    def list(self, prefix: str = "") -> list[str]:
        return sorted(k for k in self._data if k.startswith(prefix))

    def list_versions(self, prefix: str = "") -> builtins.list[tuple[str, str]]:
        return [(k, "null") for k in self.list(prefix)]

    def delete_prefix(self, prefix: str) -> DeleteReport:
        with self._lock:
            keys = sorted(k for k in self._data if k.startswith(prefix))
            for k in keys:
                del self._data[k]
        return DeleteReport(keys=keys, versions=[(k, "null") for k in keys])


class FilesystemStore:
    """Objects as files under a root directory; writes are atomic (temp file, then rename)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Create ``key`` only if absent. The content is written and fsynced to a temp file, then
        hard-linked into place: link(2) fails with EEXIST exactly as ``open(O_CREAT|O_EXCL)``
        would, but a reader never sees a half-written object."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
            return True
        finally:
            Path(tmp).unlink(missing_ok=True)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise ObjectNotFound(key) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> list[str]:
        out = []
        # walk only the folder the prefix names (prefixes may end mid-name: "status/sub-1")
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        base = self.root / folder if folder else self.root
        if not base.is_dir() or (folder and ".." in folder.split("/")):
            return []
        for p in base.rglob("*"):
            if p.is_file() and not p.name.startswith(".tmp-"):
                k = p.relative_to(self.root).as_posix()
                if k.startswith(prefix):
                    out.append(k)
        return sorted(out)

    def list_versions(self, prefix: str = "") -> builtins.list[tuple[str, str]]:
        return [(k, "null") for k in self.list(prefix)]

    def delete_prefix(self, prefix: str) -> DeleteReport:
        keys = self.list(prefix)
        for k in keys:
            self._path(k).unlink(missing_ok=True)
        # remove directories left empty under the prefix
        for d in sorted({self._path(k).parent for k in keys}, key=lambda p: len(p.parts), reverse=True):
            while d != self.root and d.is_dir() and not any(d.iterdir()):
                d.rmdir()
                d = d.parent
        return DeleteReport(keys=keys, versions=[(k, "null") for k in keys])


class S3Store:
    """S3-compatible store through the minio client. Versioning-aware: delete_prefix removes
    every version and delete marker, so nothing survives in a versioned bucket."""

    def __init__(self, endpoint: str, bucket: str, access_key: str, secret_key: str, *,
                 secure: bool = False, region: str = "us-east-1", versioning: bool = True,
                 conditional_writes: Literal["auto", "lease"] = "auto",
                 lease_seconds: float = 30.0, lease_settle_seconds: float = 0.5) -> None:
        from minio import Minio
        from minio.commonconfig import ENABLED
        from minio.versioningconfig import VersioningConfig

        self.bucket = bucket
        self.endpoint = endpoint
        # put_if_absent: "auto" uses If-None-Match when the endpoint honours it (checked once),
        # else a lease object; "lease" always uses the lease
        self.conditional_writes = conditional_writes
        self._conditional: bool | None = None
        self.lease_seconds, self.lease_settle_seconds = lease_seconds, lease_settle_seconds
        self.client = Minio(endpoint, access_key=access_key, secret_key=secret_key,
                            secure=secure, region=region)
        if not self.client.bucket_exists(bucket):
            try:
                self.client.make_bucket(bucket)
            except Exception:  # raced with another process creating it
                if not self.client.bucket_exists(bucket):
                    raise
        if versioning:
            self.client.set_bucket_versioning(bucket, VersioningConfig(ENABLED))

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(self.bucket, check_key(key), io.BytesIO(data), len(data))

    def put_if_absent(self, key: str, data: bytes) -> bool:
        """PutObject with ``If-None-Match: *`` (AWS S3, MinIO and moto's server honour it).

        The minio client's public put_object turns extra headers into user metadata
        (``X-Amz-Meta-...``), so the request goes through its PutObject call (``_put_object``) with
        the header as given. The first call checks once that the endpoint refuses a second create
        of a probe key; an endpoint that ignores the header (or ``conditional_writes="lease"``)
        gets a lease object with expiry instead (``_put_if_absent_leased``)."""
        from minio.error import S3Error

        check_key(key)
        if self._conditional is None:
            self._conditional = (self.conditional_writes == "auto"
                                 and self._check_conditional_writes())
        if not self._conditional:
            return self._put_if_absent_leased(key, data)
        try:
            self.client._put_object(self.bucket, key, data, headers={
                "If-None-Match": "*", "Content-Type": "application/octet-stream"})
            return True
        except S3Error as e:
            # 412: the key exists. 409 (AWS): a concurrent conditional write to the same key is
            # in flight; one of the two wins, so this one reports "taken" and the caller re-reads.
            if e.code in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise

    def _check_conditional_writes(self) -> bool:
        """Whether the endpoint refuses a second create of the same key with If-None-Match."""
        import logging
        import uuid

        from minio.error import S3Error

        probe = conditional_write_probe_key(uuid.uuid4().hex)
        headers: dict[str, str | list[str] | tuple[str]] = {
            "If-None-Match": "*", "Content-Type": "application/octet-stream"}
        try:
            self.client._put_object(self.bucket, probe, b"1", headers=headers)
            try:
                self.client._put_object(self.bucket, probe, b"2", headers=headers)
            except S3Error as e:
                if e.code == "PreconditionFailed":
                    return True
                raise
            logging.getLogger("jdl.objectstore").warning(
                "S3 endpoint ignores If-None-Match: conditional creates use a lease object",
                extra={"endpoint": self.endpoint, "bucket": self.bucket})
            return False
        finally:
            self.delete_prefix(probe)

    def _put_if_absent_leased(self, key: str, data: bytes) -> bool:
        """Create-if-absent for an endpoint without conditional writes: take a lease object with
        an expiry for this key, wait until every competing lease write has landed (S3 reads are
        strongly consistent: whoever wrote last owns it), re-read, and only the owner checks and
        writes. A holder that dies leaves a lease that expires after ``lease_seconds``."""
        import json
        import random
        import time
        import uuid

        lease = lease_key(key)
        me = uuid.uuid4().hex
        deadline = time.monotonic() + self.lease_seconds * 4
        while True:
            try:
                held = json.loads(self.get(lease))
            except (ObjectNotFound, ValueError):
                held = None
            if held is None or float(held.get("expires_at", 0)) < time.time():
                self.put(lease, json.dumps(
                    {"owner": me, "expires_at": time.time() + self.lease_seconds}).encode())
                time.sleep(self.lease_settle_seconds)
                try:
                    held = json.loads(self.get(lease))
                except (ObjectNotFound, ValueError):
                    held = None
                if held is not None and held.get("owner") == me:
                    try:
                        if self.exists(key):
                            return False
                        self.put(key, data)
                        return True
                    finally:
                        self.delete_prefix(lease)
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not take the lease {lease} within "
                                   f"{self.lease_seconds * 4:g} s (another writer holds it)")
            time.sleep(self.lease_settle_seconds * random.uniform(0.5, 1.5))

    def get(self, key: str) -> bytes:
        from minio.error import S3Error

        try:
            resp = self.client.get_object(self.bucket, check_key(key))
        except S3Error as e:
            if e.code in ("NoSuchKey", "NoSuchObject"):
                raise ObjectNotFound(key) from None
            raise
        try:
            return resp.read()
        finally:
            resp.close()
            resp.release_conn()

    def exists(self, key: str) -> bool:
        from minio.error import S3Error

        try:
            self.client.stat_object(self.bucket, check_key(key))
            return True
        except S3Error as e:
            if e.code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
                return False
            raise

    def list(self, prefix: str = "") -> list[str]:
        return sorted(o.object_name for o in
                      self.client.list_objects(self.bucket, prefix=prefix, recursive=True))

    def list_versions(self, prefix: str = "") -> builtins.list[tuple[str, str]]:
        """Every version and delete marker under the prefix."""
        return sorted((o.object_name, o.version_id or "null") for o in
                      self.client.list_objects(self.bucket, prefix=prefix, recursive=True,
                                               include_version=True))

    def delete_prefix(self, prefix: str) -> DeleteReport:
        from minio.deleteobjects import DeleteObject

        versions = self.list_versions(prefix)
        report = DeleteReport(keys=sorted({k for k, _ in versions}), versions=versions)
        if versions:
            errors = list(self.client.remove_objects(
                self.bucket,
                [DeleteObject(k, None if v == "null" else v) for k, v in versions]))
            if errors:
                raise TransientError(f"{len(errors)} object versions under {prefix} could not be deleted; "
                                     "deleting the prefix again removes what is left")
        return report


def open_store(infra: InfraSettings) -> ObjectStore:
    """Build the store named by ``infra.store_url`` (file://path or s3://bucket)."""
    url = urlparse(infra.store_url)
    if url.scheme == "file":
        path = (url.netloc + url.path) if url.netloc else url.path
        return FilesystemStore(path)
    if url.scheme == "s3":
        return S3Store(infra.s3_endpoint, url.netloc, infra.s3_access_key.get_secret_value(),
                       infra.s3_secret_key.get_secret_value(), secure=infra.s3_secure,
                       region=infra.s3_region, conditional_writes=infra.s3_conditional_writes)
    if url.scheme == "memory":
        return MemoryStore()
    raise ValueError(f"JDL_STORE_URL: scheme {url.scheme!r} is not supported (file, s3, memory)")
