"""Per-token rate limits on uploads and status reads: 429 with Retry-After, per token, refilled
with time (a controllable clock), health and public pages never limited."""
from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from jdl_infra.crypto import KeyRing, MasterKey, generate_master_key
from jdl_infra.objectstore import MemoryStore
from services.intake.api import create_api
from services.intake.handlers import IntakePorts
from services.intake.ratelimit import Limit, TokenBuckets
from services.intake.settings import IntakeSettings
from tests.unit.test_api import PROGRAMME, TOKENS, cohort_csv


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def limited():
    store = MemoryStore()
    settings = IntakeSettings(tokens=SecretStr(json.dumps(TOKENS)),
                              rate_limit_uploads_per_minute=6, rate_limit_uploads_burst=2,
                              rate_limit_reads_per_minute=60, rate_limit_reads_burst=3)
    keyring = KeyRing(store, MasterKey.from_base64(generate_master_key()))
    app = create_api(settings, IntakePorts(store, keyring, lambda e: None))
    clock = Clock()
    for buckets in app.state.rate_limits.values():
        buckets.clock = clock
    return TestClient(app), clock


def _upload(client, token="t-acme"):
    data, _ = cohort_csv(80)
    return client.post("/v1/submissions", headers={"Authorization": f"Bearer {token}"},
                       files={"file": ("c.csv", data)}, data={"programme": json.dumps(PROGRAMME)})


def test_uploads_are_limited_per_token_with_retry_after(limited):
    client, clock = limited
    assert [_upload(client).status_code for _ in range(2)] == [202, 202]
    r = _upload(client)
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "10"            # 6 per minute: one every 10 s
    err = r.json()["error"]
    assert err["code"] == "rate_limited" and "uploads" in err["message"]
    assert _upload(client, "t-other").status_code == 202      # another token has its own bucket
    clock.t += 4
    assert _upload(client).headers["Retry-After"] == "6"
    clock.t += 6
    assert _upload(client).status_code == 202
    assert _upload(client).status_code == 429


def test_status_reads_are_limited_separately(limited):
    client, clock = limited
    sid = _upload(client).json()["submission_id"]
    auth = {"Authorization": "Bearer t-acme"}
    codes = [client.get(f"/v1/submissions/{sid}", headers=auth).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert client.get("/v1/queue", headers={"Authorization": "Bearer t-ops"}).status_code == 200
    assert _upload(client).status_code == 202           # the upload bucket is a different one
    for _ in range(5):                                  # never limited: health, public pages
        assert client.get("/healthz").status_code == 200
        assert client.get("/v1/reports").status_code == 200
    clock.t += 1.0
    assert client.get(f"/v1/submissions/{sid}", headers=auth).status_code == 200


def test_token_bucket_refills_to_its_burst_and_zero_disables():
    clock = Clock()
    b = TokenBuckets(Limit(per_minute=120, burst=2), clock)
    assert [b.take("k") for _ in range(2)] == [0.0, 0.0]
    assert b.take("k") == pytest.approx(0.5)
    clock.t += 60                                       # a long quiet spell: still only 2
    assert [b.take("k") == 0.0 for _ in range(3)] == [True, True, False]
    off = TokenBuckets(Limit(per_minute=0, burst=1), clock)
    assert all(off.take("k") == 0.0 for _ in range(100))
