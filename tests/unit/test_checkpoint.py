"""Signed audit checkpoints: published by the purge path, served by the API, and checked by
`jdl audit verify --checkpoint FILE|URL` (truncation, a consistently rewritten tail, a forged
checkpoint), on the filesystem store and S3 (moto)."""
from __future__ import annotations

import http.server
import json
import threading
from datetime import datetime, timezone

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

from jdl_cli.main import app as jdl
from jdl_events.events import PurgeRequested, new_submission_id
from jdl_infra.audit import AuditLog, canonical_json, entry_hash, entry_key
from jdl_infra.checkpoint import (
    LATEST_KEY,
    PUBLIC_KEY_KEY,
    Checkpoint,
    CheckpointSigner,
    checkpoint_key,
    generate_signing_key,
    publish_checkpoint,
)
from jdl_infra.crypto import KeyRing, MasterKey, generate_master_key, put_encrypted, submission_prefix
from jdl_infra.objectstore import FilesystemStore, MemoryStore, ObjectStore
from services.intake.api import create_api
from services.intake.handlers import IntakePorts
from services.intake.settings import IntakeSettings
from services.purge.handlers import PurgePorts, handle_trigger
from services.purge.settings import PurgeSettings

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=timezone.utc)
runner = CliRunner()


def _cli_store_args(store: ObjectStore, monkeypatch) -> list[str]:
    if isinstance(store, FilesystemStore):
        return ["--store-url", store.root.as_uri()]
    monkeypatch.setenv("JDL_S3_ENDPOINT", store.endpoint)
    monkeypatch.setenv("JDL_S3_ACCESS_KEY", "test")
    monkeypatch.setenv("JDL_S3_SECRET_KEY", "test")
    return ["--store-url", f"s3://{store.bucket}"]


def _purge_some(store: ObjectStore, signer: CheckpointSigner, n: int) -> PurgePorts:
    """n submissions purged through the purge service's handler (which publishes checkpoints)."""
    master = MasterKey.from_base64(generate_master_key())
    ports = PurgePorts(store=store, keyring=KeyRing(store, None), audit=AuditLog(store),
                       retention_days=30, signer=signer)
    for _ in range(n):
        sid = new_submission_id()
        KeyRing(store, master).create_data_key(sid)
        put_encrypted(store, KeyRing(store, master), sid, submission_prefix(sid) + "c.enc", b"x")
        handle_trigger(PurgeRequested(submission_id=sid, trigger="manual"), ports)
    return ports


def test_signature_roundtrip_tamper_and_pinning():
    signer = CheckpointSigner(generate_signing_key())
    cp = signer.sign(7, "ab" * 32, T0)
    assert cp.signature_valid() and cp.signature_valid(signer.public_key)
    assert cp.signature_valid(signer.key_id)
    assert not cp.model_copy(update={"seq": 6}).signature_valid()
    assert not cp.model_copy(update={"hash": "cd" * 32}).signature_valid()
    other = CheckpointSigner(generate_signing_key())
    forged = other.sign(7, "cd" * 32, T0)
    assert forged.signature_valid()                         # self-consistent ...
    assert not forged.signature_valid(signer.public_key)    # ... but not by the pinned key
    # a key swapped into someone else's checkpoint fails the key id / signature
    assert not cp.model_copy(update={"public_key": other.public_key}).signature_valid()


def test_bad_signing_key_setting_is_named():
    from jdl_infra.checkpoint import CheckpointError

    with pytest.raises(CheckpointError, match="JDL_PURGE_CHECKPOINT_SIGNING_KEY"):
        CheckpointSigner("not-base64!")
    with pytest.raises(ValueError, match="JDL_PURGE_CHECKPOINT_SIGNING_KEY is required"):
        PurgeSettings(infra={"environment": "production"})
    key = generate_signing_key()
    s = PurgeSettings(checkpoint_signing_key=SecretStr(key))
    assert key not in repr(s) and key not in s.model_dump_json()     # a secret, never printed


def test_every_purge_publishes_a_signed_checkpoint_and_the_api_serves_them():
    store = MemoryStore()
    signer = CheckpointSigner(generate_signing_key())
    ports = _purge_some(store, signer, 3)
    head_seq, head_hash = ports.audit.head()
    assert head_seq == 3
    assert [k.rsplit("/", 1)[1] for k in store.list("public/audit/checkpoints/")] == [
        f"{s:012d}.json" for s in (1, 2, 3)]
    latest = Checkpoint.model_validate_json(store.get(LATEST_KEY))
    assert (latest.seq, latest.hash) == (head_seq, head_hash) and latest.signature_valid()
    assert json.loads(store.get(PUBLIC_KEY_KEY))["key_id"] == signer.key_id

    settings = IntakeSettings(tokens=SecretStr("{}"))
    client = TestClient(create_api(settings, IntakePorts(store, KeyRing(store, None), lambda e: None)))
    r = client.get("/v1/audit/checkpoint")          # public: no token
    assert r.status_code == 200 and r.json()["seq"] == 3
    listing = client.get("/v1/audit/checkpoints").json()
    assert [c["seq"] for c in listing["checkpoints"]] == [1, 2, 3]
    assert listing["signing_key"]["public_key"] == signer.public_key
    empty = TestClient(create_api(settings, IntakePorts(MemoryStore(), KeyRing(store, None), lambda e: None)))
    assert empty.get("/v1/audit/checkpoint").status_code == 404


def _rewrite_tail(store: ObjectStore, from_seq: int) -> None:
    """An attacker with write access rewrites entries from_seq.. and re-hashes them so that the
    chain is internally consistent again (verify without a checkpoint passes)."""
    prev = json.loads(store.get(entry_key(from_seq - 1)))["hash"] if from_seq > 1 else "0" * 64
    seq = from_seq
    while store.exists(entry_key(seq)):
        body = json.loads(store.get(entry_key(seq)))
        body["payload"] = {**body["payload"], "trigger": "retention"}
        body["prev_hash"] = prev
        body["hash"] = entry_hash(body)
        store.put(entry_key(seq), canonical_json(body))
        prev, seq = body["hash"], seq + 1


def test_truncation_and_rewritten_tail_fail_against_a_published_checkpoint(store, tmp_path,
                                                                            monkeypatch):
    signer = CheckpointSigner(generate_signing_key())
    _purge_some(store, signer, 4)
    kept = tmp_path / "checkpoint-4.json"          # what an outsider copied from the API
    kept.write_bytes(store.get(LATEST_KEY))
    args = ["audit", "verify", *_cli_store_args(store, monkeypatch), "--chain-only"]

    ok = runner.invoke(jdl, [*args, "--checkpoint", str(kept), "--public-key", signer.key_id])
    assert ok.exit_code == 0, ok.output
    assert "5 signed checkpoint(s) checked (up to seq 4)" in ok.output   # 4 published + 1 kept

    _rewrite_tail(store, 3)
    chain = runner.invoke(jdl, [*args, "--no-published"])
    if isinstance(store, FilesystemStore):
        assert chain.exit_code == 0, chain.output   # the rewrite is invisible to the chain alone
    # the checkpoints published in the store catch it too (unless the attacker deleted them)
    own = runner.invoke(jdl, args)
    assert own.exit_code == 1 and "checkpoint_mismatch" in own.output
    rewritten = runner.invoke(jdl, [*args, "--no-published", "--checkpoint", str(kept)])
    assert rewritten.exit_code == 1
    assert "entry seq 4 (audit/log/000000000004.json): checkpoint_mismatch" in rewritten.output
    assert "log rewritten" in rewritten.output

    # truncation: the last two entries removed (and the attacker republishes a checkpoint of
    # the shorter log signed with a key of their own)
    for seq in (3, 4):
        store.delete_prefix(entry_key(seq))
    forger = CheckpointSigner(generate_signing_key())
    publish_checkpoint(store, AuditLog(store), forger)
    forged = tmp_path / "forged.json"
    forged.write_bytes(store.get(LATEST_KEY))
    store.delete_prefix("public/audit/checkpoints/")     # and hides the evidence in the store
    truncated = runner.invoke(jdl, [*args, "--checkpoint", str(kept), "--json"])
    assert truncated.exit_code == 1
    problems = json.loads(truncated.output)["problems"]
    assert {"kind": "checkpoint_mismatch", "seq": 4} in [
        {"kind": p["kind"], "seq": p["seq"]} for p in problems]
    pinned = runner.invoke(jdl, [*args, "--checkpoint", str(forged), "--public-key",
                                 signer.public_key])
    assert pinned.exit_code == 1 and "bad_checkpoint_signature" in pinned.output


def test_checkpoint_from_a_url_and_bad_sources(tmp_path):
    store = FilesystemStore(tmp_path / "store")
    signer = CheckpointSigner(generate_signing_key())
    _purge_some(store, signer, 2)
    listing = {"checkpoints": [json.loads(store.get(checkpoint_key(s))) for s in (1, 2)]}
    body = json.dumps(listing).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):  # keep the test output quiet
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1/audit/checkpoints"
        args = ["audit", "verify", "--store-url", store.root.as_uri(), "--chain-only"]
        r = runner.invoke(jdl, [*args, "--checkpoint", url])
        assert r.exit_code == 0, r.output
        assert "4 signed checkpoint(s) checked (up to seq 2)" in r.output   # 2 fetched + 2 in the store
    finally:
        server.shutdown()
        server.server_close()
    bad = tmp_path / "bad.json"
    bad.write_text('{"seq": "x"}')
    r = runner.invoke(jdl, [*args, "--checkpoint", str(bad)])
    assert r.exit_code == 2 and "is not an audit checkpoint" in r.output
    r = runner.invoke(jdl, [*args, "--checkpoint", str(tmp_path / "missing.json")])
    assert r.exit_code == 2 and "cannot read the file" in r.output
    store.put(checkpoint_key(9), b'{"seq": 9}')            # a mangled checkpoint in the store
    r = runner.invoke(jdl, args)
    assert r.exit_code == 1 and "tampered checkpoint" in r.output
    assert runner.invoke(jdl, [*args, "--no-published"]).exit_code == 0
