"""Envelope encryption and crypto-shredding, on the filesystem store and the S3 store (moto)."""
from __future__ import annotations

import base64
import json
import uuid

import pytest
from pydantic import SecretStr

from jdl_core.errors import InvalidArgument, JdlError
from jdl_events.events import new_submission_id
from jdl_infra.crypto import (
    DataKeyDestroyed,
    DataKeyMissing,
    DecryptionFailed,
    KeyRing,
    MasterKey,
    MasterKeyInvalid,
    MasterKeyMismatch,
    MasterKeyMissing,
    generate_master_key,
    get_encrypted,
    key_object,
    put_encrypted,
    submission_prefix,
    tombstone_object,
)
from jdl_infra.objectstore import S3Store
from jdl_infra.settings import InfraSettings

NAME = b"Bartholomew Quigglesworth"
COHORT = b"pnc,name,dob\n2001/0000123Z,Bartholomew Quigglesworth,1980-02-29\n"


@pytest.fixture
def master() -> MasterKey:
    return MasterKey.from_base64(generate_master_key())


@pytest.fixture
def keyring(store, master) -> KeyRing:
    return KeyRing(store, master)


def test_round_trip_and_ciphertext_hides_plaintext(store, keyring):
    sid = new_submission_id()
    key_id = keyring.create_data_key(sid)
    assert key_id.startswith("dk-") and keyring.exists(sid)
    key = submission_prefix(sid) + "cohort.csv.enc"
    put_encrypted(store, keyring, sid, key, COHORT)
    stored = store.get(key)
    assert stored[:4] == b"JDLE" and stored[4] == 1
    assert NAME not in stored and b"2001/0000123Z" not in stored
    assert get_encrypted(store, keyring, sid, key) == COHORT
    # the key record holds only the wrapped key, never the raw data key
    record = json.loads(store.get(key_object(sid)))
    assert record["key_id"] == key_id and record["submission_id"] == sid
    assert set(record) >= {"created_at", "wrapped_key", "nonce", "wrapped_by"}
    assert not key_object(sid).startswith(submission_prefix(sid))


def test_create_data_key_is_idempotent(keyring):
    sid = new_submission_id()
    assert keyring.create_data_key(sid) == keyring.create_data_key(sid)


def test_two_encryptions_differ_but_both_decrypt(keyring):
    sid = new_submission_id()
    keyring.create_data_key(sid)
    a = keyring.encrypt(sid, b"same", aad="x")
    b = keyring.encrypt(sid, b"same", aad="x")
    assert a != b   # fresh nonce each time
    assert keyring.decrypt(sid, a, aad="x") == keyring.decrypt(sid, b, aad="x") == b"same"


def test_wrong_aad_fails(keyring):
    sid = new_submission_id()
    keyring.create_data_key(sid)
    blob = keyring.encrypt(sid, COHORT, aad="submissions/x/a")
    with pytest.raises(DecryptionFailed, match="failed authentication"):
        keyring.decrypt(sid, blob, aad="submissions/x/b")


def test_object_swapped_between_keys_fails(store, keyring):
    sid = new_submission_id()
    keyring.create_data_key(sid)
    a, b = submission_prefix(sid) + "a.enc", submission_prefix(sid) + "b.enc"
    put_encrypted(store, keyring, sid, a, b"aaa")
    store.put(b, store.get(a))        # copy the ciphertext to another key
    with pytest.raises(DecryptionFailed):
        get_encrypted(store, keyring, sid, b)


def test_ciphertext_of_another_submission_fails(keyring):
    s1, s2 = new_submission_id(), new_submission_id()
    keyring.create_data_key(s1)
    keyring.create_data_key(s2)
    blob = keyring.encrypt(s1, b"data", aad="k")
    with pytest.raises(DecryptionFailed, match="written with data key"):
        keyring.decrypt(s2, blob, aad="k")


@pytest.mark.parametrize("where", ["body", "tag", "header"])
def test_tampered_ciphertext_fails(keyring, where):
    sid = new_submission_id()
    keyring.create_data_key(sid)
    blob = bytearray(keyring.encrypt(sid, COHORT, aad="k"))
    pos = {"body": len(blob) // 2 + 10, "tag": len(blob) - 1, "header": 8}[where]
    blob[pos] ^= 0x01
    with pytest.raises(DecryptionFailed):
        keyring.decrypt(sid, bytes(blob), aad="k")


def test_truncated_or_foreign_blob_fails(keyring):
    sid = new_submission_id()
    keyring.create_data_key(sid)
    blob = keyring.encrypt(sid, COHORT, aad="k")
    with pytest.raises(DecryptionFailed, match="truncated"):
        keyring.decrypt(sid, blob[:20], aad="k")
    with pytest.raises(DecryptionFailed, match="JDLE"):
        keyring.decrypt(sid, COHORT, aad="k")


def test_destroyed_key_makes_a_backup_copy_unreadable(store, master):
    sid = new_submission_id()
    writer = KeyRing(store, master)
    writer.create_data_key(sid)
    key = submission_prefix(sid) + "cohort.csv.enc"
    put_encrypted(store, writer, sid, key, COHORT)
    backup = store.get(key)                        # a copy taken before purge (a backup)
    key_id = writer.key_id(sid)

    purger = KeyRing(store, None)                  # the purge service holds no master key
    assert purger.destroy(sid) == key_id
    assert not purger.exists(sid)
    assert purger.remaining_versions(sid) == []    # no old version of the wrapped key survives
    assert purger.destroy(sid) is None             # idempotent

    # a fresh reader (another process, with the master key) cannot read the backup copy
    reader = KeyRing(store, master)
    with pytest.raises(DataKeyDestroyed, match="destroyed by purge") as exc:
        reader.decrypt(sid, backup, aad=key)
    assert isinstance(exc.value, JdlError)
    # nor write new data for the purged submission
    with pytest.raises(DataKeyDestroyed):
        reader.create_data_key(sid)
    with pytest.raises(DataKeyDestroyed):
        put_encrypted(store, reader, sid, key, COHORT)
    tomb = store.get(tombstone_object(sid))
    assert json.loads(tomb)["key_id"] == key_id and b"wrapped" not in tomb


def test_key_destroyed_on_s3_even_after_plain_delete_left_old_versions(s3_server, master):
    store = S3Store(s3_server.endpoint, f"c-{uuid.uuid4().hex[:12]}", "test", "test")
    ring = KeyRing(store, master)
    sid = new_submission_id()
    ring.create_data_key(sid)
    # a careless plain delete: the wrapped key survives as an old version behind a delete marker
    store.client.remove_object(store.bucket, key_object(sid))
    assert not ring.exists(sid)
    assert len(ring.remaining_versions(sid)) == 2   # the version and the delete marker
    ring.destroy(sid)
    assert ring.remaining_versions(sid) == []


def test_never_created_key_is_missing_not_destroyed(keyring):
    sid = new_submission_id()
    with pytest.raises(DataKeyMissing, match="create_data_key"):
        keyring.encrypt(sid, b"x", aad="k")


def test_missing_master_key_is_a_clear_error():
    infra = InfraSettings(master_key=None)
    with pytest.raises(MasterKeyMissing) as exc:
        MasterKey.from_settings(infra)
    assert exc.value.message == ("JDL_MASTER_KEY is not set: refusing to store cohort data "
                                 "unencrypted")
    with pytest.raises(MasterKeyMissing):
        MasterKey.from_settings(InfraSettings(master_key=SecretStr("  ")))


def test_key_ring_without_master_refuses_to_encrypt(store):
    ring = KeyRing(store, None)
    with pytest.raises(MasterKeyMissing, match="refusing to store cohort data unencrypted"):
        ring.create_data_key(new_submission_id())


def test_master_key_from_env(monkeypatch):
    text = generate_master_key()
    monkeypatch.setenv("JDL_MASTER_KEY", text)
    mk = MasterKey.from_settings(InfraSettings())
    assert mk.key_id == MasterKey.from_base64(text).key_id
    assert text not in repr(mk)


@pytest.mark.parametrize("value, match", [
    ("not base64 !!", "not valid base64"),
    (base64.b64encode(b"x" * 16).decode(), "exactly 32 bytes"),
])
def test_malformed_master_key_is_a_clear_error_without_echo(value, match):
    with pytest.raises(MasterKeyInvalid, match=match) as exc:
        MasterKey.from_settings(InfraSettings(master_key=SecretStr(value)))
    assert value not in str(exc.value)


def test_urlsafe_master_key_accepted():
    raw = bytes(range(256))[:32]
    assert (MasterKey.from_base64(base64.urlsafe_b64encode(raw).decode()).key_id
            == MasterKey(raw).key_id)


def test_wrong_master_key_cannot_unwrap(store, master):
    sid = new_submission_id()
    KeyRing(store, master).create_data_key(sid)
    other = KeyRing(store, MasterKey.from_base64(generate_master_key()))
    with pytest.raises(MasterKeyMismatch, match="wrapped by master key"):
        other.encrypt(sid, b"x", aad="k")


def test_tampered_key_record_cannot_unwrap(store, master):
    sid = new_submission_id()
    ring = KeyRing(store, master)
    ring.create_data_key(sid)
    record = json.loads(store.get(key_object(sid)))
    record["key_id"] = "dk-0000000000000000"     # relabel the key: AAD binds the id
    store.put(key_object(sid), json.dumps(record).encode())
    with pytest.raises(MasterKeyMismatch, match="cannot be unwrapped"):
        ring.encrypt(sid, b"x", aad="k")


def test_put_encrypted_refuses_keys_outside_the_submission_prefix(store, keyring):
    sid = new_submission_id()
    keyring.create_data_key(sid)
    with pytest.raises(InvalidArgument, match="must live under"):
        put_encrypted(store, keyring, sid, "reports/x.csv", COHORT)
    with pytest.raises(InvalidArgument, match="must live under"):
        put_encrypted(store, keyring, sid, submission_prefix(new_submission_id()) + "a", COHORT)


def test_submission_id_is_validated_without_echo(keyring):
    with pytest.raises(InvalidArgument, match="not a submission id") as exc:
        keyring.create_data_key("John Smith")
    assert "John" not in str(exc.value)
    with pytest.raises(InvalidArgument):
        submission_prefix("sub-../../etc")
