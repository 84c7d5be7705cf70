"""One contract suite for every ObjectStore: filesystem, S3 (moto server) and in-memory."""
from __future__ import annotations

import uuid

import pytest

from jdl_infra.objectstore import (
    FilesystemStore,
    InvalidKey,
    MemoryStore,
    ObjectNotFound,
    ObjectStore,
    S3Store,
)


@pytest.fixture(params=["filesystem", "s3", "s3-lease", "memory"])
def store(request, tmp_path) -> ObjectStore:
    if request.param == "filesystem":
        return FilesystemStore(tmp_path / "store")
    if request.param == "memory":
        return MemoryStore()
    server = request.getfixturevalue("s3_server")
    if request.param == "s3-lease":     # put_if_absent through a lease object, not If-None-Match
        return S3Store(server.endpoint, f"l-{uuid.uuid4().hex[:12]}", "test", "test",
                       conditional_writes="lease", lease_settle_seconds=0.05)
    return S3Store(server.endpoint, f"b-{uuid.uuid4().hex[:12]}", "test", "test")


def test_is_an_object_store(store):
    assert isinstance(store, ObjectStore)


def test_put_get_roundtrip_and_overwrite(store):
    store.put("a/b/c.bin", b"\x00\x01two")
    assert store.get("a/b/c.bin") == b"\x00\x01two"
    store.put("a/b/c.bin", b"three")
    assert store.get("a/b/c.bin") == b"three"
    assert store.exists("a/b/c.bin")
    assert not store.exists("a/b/d.bin")


def test_missing_key_raises_object_not_found(store):
    with pytest.raises(ObjectNotFound):
        store.get("nope/missing.json")


def test_list_by_prefix_sorted(store):
    for k in ["s/2/x", "s/1/y", "s/1/a", "t/1/z"]:
        store.put(k, b"1")
    assert store.list("s/1/") == ["s/1/a", "s/1/y"]
    assert store.list("s/") == ["s/1/a", "s/1/y", "s/2/x"]
    assert set(store.list()) >= {"s/1/a", "s/1/y", "s/2/x", "t/1/z"}


def test_delete_prefix_removes_only_that_prefix_and_every_version(store):
    store.put("sub/1/a", b"v1")
    store.put("sub/1/a", b"v2")      # a second version on S3
    store.put("sub/1/b/c", b"x")
    store.put("sub/10/keep", b"k")
    report = store.delete_prefix("sub/1/")
    assert set(report.keys) == {"sub/1/a", "sub/1/b/c"}
    assert store.list("sub/1/") == []
    assert store.list_versions("sub/1/") == []
    assert store.get("sub/10/keep") == b"k"
    assert store.delete_prefix("sub/1/").keys == []   # idempotent


def test_put_if_absent_creates_once(store):
    assert store.put_if_absent("log/000001.json", b"first")
    assert not store.put_if_absent("log/000001.json", b"second")
    assert store.get("log/000001.json") == b"first"
    assert store.list_versions("log/") == [("log/000001.json", store.list_versions("log/")[0][1])]
    assert store.list("log/") == ["log/000001.json"]      # no temp file or probe left behind
    assert [k for k in store.list() if k.startswith("_jdl/")] == []   # nor probe or lease
    store.put("log/000002.json", b"plain")
    assert not store.put_if_absent("log/000002.json", b"x")
    with pytest.raises(InvalidKey):
        store.put_if_absent("../x", b"x")


def test_put_if_absent_after_delete_creates_again(store):
    assert store.put_if_absent("d/k", b"1")
    store.delete_prefix("d/")
    assert store.put_if_absent("d/k", b"2")
    assert store.get("d/k") == b"2"


def test_put_if_absent_concurrent_threads_one_winner(store):
    """Eight threads race to create the same key: exactly one succeeds, its bytes remain."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: store.put_if_absent("race/k", f"w{i}".encode()),
                                range(8)))
    assert results.count(True) == 1
    assert store.get("race/k") == f"w{results.index(True)}".encode()


def test_empty_object(store):
    store.put("e/empty", b"")
    assert store.get("e/empty") == b""


@pytest.mark.parametrize("bad", ["../etc/passwd", "/abs", "a//b", "a/", "a b", ""])
def test_rejects_unsafe_keys(store, bad):
    with pytest.raises(InvalidKey):
        store.put(bad, b"x")


# What the fakes cannot model, marked as arroyo marks its local broker's gaps (a strict xfail
# turns into a failure the day a fake learns it): the in-memory and filesystem stores keep one
# version per key, with the version id "null", and a delete leaves no delete marker. Those are
# what purge exists to handle, so its version sweep is only shown on the S3 server.
def _fakes_cannot_model(request: pytest.FixtureRequest, store: ObjectStore, what: str) -> None:
    if isinstance(store, (MemoryStore, FilesystemStore)):
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"{type(store).__name__} {what}"))


def _plain_delete(store: ObjectStore, key: str) -> None:
    """A delete that is not a purge (a client, a lifecycle rule): not part of the port."""
    if isinstance(store, S3Store):
        store.client.remove_object(store.bucket, key)
    elif isinstance(store, FilesystemStore):
        (store.root / key).unlink()
    else:
        del store._data[key]


def test_an_overwrite_keeps_the_old_version_until_delete_prefix(request, store):
    _fakes_cannot_model(request, store, "keeps no object versions (every version id is 'null')")
    store.put("ver/1/a", b"one")
    store.put("ver/1/a", b"two")
    versions = store.list_versions("ver/1/")
    assert len(versions) == 2 and len({v for _, v in versions}) == 2 and ("ver/1/a", "null") not in versions
    assert store.get("ver/1/a") == b"two"
    assert len(store.delete_prefix("ver/1/").versions) == 2 and store.list_versions("ver/1/") == []


def test_a_plain_delete_leaves_a_delete_marker_over_the_versions(request, store):
    _fakes_cannot_model(request, store, "leaves nothing behind a delete (no delete markers)")
    store.put("dm/1/a", b"rows")
    _plain_delete(store, "dm/1/a")
    assert store.list("dm/1/") == [] and not store.exists("dm/1/a")
    # the version (still readable data) and the delete marker over it
    assert [k for k, _ in store.list_versions("dm/1/")] == ["dm/1/a", "dm/1/a"]
    store.delete_prefix("dm/1/")
    assert store.list_versions("dm/1/") == []


def test_versioned_bucket_keeps_versions_until_delete_prefix(s3_server):
    store = S3Store(s3_server.endpoint, f"v-{uuid.uuid4().hex[:12]}", "test", "test")
    store.put("sub/x/a", b"1")
    store.put("sub/x/a", b"2")
    store.client.remove_object(store.bucket, "sub/x/a")   # a plain delete leaves versions
    assert store.list("sub/x/") == []
    assert len(store.list_versions("sub/x/")) >= 2
    store.delete_prefix("sub/x/")
    assert store.list_versions("sub/x/") == []


def test_s3_endpoint_ignoring_if_none_match_falls_back_to_a_lease(s3_server, monkeypatch):
    """An endpoint that accepts a second create (conditional writes unsupported) is detected by
    the probe and put_if_absent still creates once, through the lease."""
    store = S3Store(s3_server.endpoint, f"n-{uuid.uuid4().hex[:12]}", "test", "test",
                    lease_settle_seconds=0.05)
    real = store.client._put_object

    def ignoring(bucket, key, data, headers=None, query_params=None):
        headers = {k: v for k, v in (headers or {}).items() if k != "If-None-Match"}
        return real(bucket, key, data, headers=headers, query_params=query_params)
    monkeypatch.setattr(store.client, "_put_object", ignoring)
    assert store.put_if_absent("x/1", b"a") and not store.put_if_absent("x/1", b"b")
    assert store._conditional is False and store.get("x/1") == b"a"
    assert [k for k in store.list() if k.startswith("_jdl/")] == []
