"""Shared fixtures: real local infrastructure (tansu broker, moto S3) on free ports, and a small
synthetic national dataset generated once per test session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def s3_server():
    from jdl_infra.local import MotoS3Server

    with MotoS3Server() as server:
        yield server


@pytest.fixture(scope="session")
def broker():
    from jdl_infra.local import TansuBroker

    with TansuBroker() as b:
        yield b
