"""Shared fixtures: real local infrastructure (tansu broker, moto S3) on free ports, and a small
synthetic national dataset generated once per test session."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def s3_server():
    from tests.moto_s3 import MotoS3Server

    with MotoS3Server() as server:
        yield server


@pytest.fixture(params=["filesystem", "s3"])
def store(request, tmp_path):
    """An empty object store of each durable kind: a filesystem store and an S3 bucket of its own
    on the session's moto server (tests that also need the memory store define their own)."""
    import uuid

    from jdl_infra.objectstore import FilesystemStore, S3Store

    if request.param == "filesystem":
        return FilesystemStore(tmp_path / "store")
    server = request.getfixturevalue("s3_server")
    return S3Store(server.endpoint, f"t-{uuid.uuid4().hex[:12]}", "test", "test")


@pytest.fixture(scope="session")
def broker():
    from jdl_cli.tansu import TansuBroker

    with TansuBroker() as b:
        yield b


# --- the synthetic national dataset (jdl_core.synth) -------------------------------------------
NATIONAL_FIXTURE_PEOPLE = 40_000
NATIONAL_FIXTURE_SEED = 7


@pytest.fixture(scope="session")
def national_dir(tmp_path_factory) -> Path:
    """A national dataset (40,000 people, seed 7) generated once per test session."""
    from jdl_core.synth.generator import generate_national

    out = tmp_path_factory.mktemp("national") / "data"
    generate_national(people=NATIONAL_FIXTURE_PEOPLE, seed=NATIONAL_FIXTURE_SEED, out_dir=out)
    return out


@pytest.fixture(scope="session")
def national(national_dir):
    """The session's national dataset loaded (jdl_core.national.NationalData)."""
    from jdl_core.national import load_national

    return load_national(national_dir)
