"""Production refuses, at start-up and naming the variable, what development accepts: the
published development master key and tokens, and JDL_* variables no setting reads. The process
entry points print one line per problem and exit 2."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from jdl_infra.settings import (
    DEV_CHECKPOINT_SIGNING_KEY,
    DEV_MASTER_KEY,
    DEV_TOKENS,
    InfraSettings,
    unknown_variables,
)
from services.intake.settings import IntakeSettings
from services.linkage.settings import LinkageSettings
from services.purge.settings import PurgeSettings

ROOT = Path(__file__).resolve().parents[2]
DEV_SECRETS = ROOT / "deploy" / "k8s" / "overlays" / "dev" / "dev-secrets.env"


@pytest.fixture
def prod_env(monkeypatch):
    for key in list(os.environ):
        if key.startswith("JDL_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("JDL_ENVIRONMENT", "production")
    monkeypatch.setenv("JDL_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    monkeypatch.setenv("JDL_PURGE_CHECKPOINT_SIGNING_KEY", base64.b64encode(os.urandom(32)).decode())
    return monkeypatch


def dev_secrets() -> dict[str, str]:
    return dict(line.split("=", 1) for line in DEV_SECRETS.read_text().splitlines() if "=" in line)


def test_the_refused_values_are_the_published_ones():
    published = dev_secrets()
    assert published["JDL_MASTER_KEY"] == DEV_MASTER_KEY
    assert set(json.loads(published["JDL_INTAKE_TOKENS"])) == DEV_TOKENS
    assert published["JDL_PURGE_CHECKPOINT_SIGNING_KEY"] == DEV_CHECKPOINT_SIGNING_KEY


def test_production_refuses_the_development_checkpoint_signing_key(prod_env):
    prod_env.setenv("JDL_PURGE_CHECKPOINT_SIGNING_KEY", base64.b64encode(os.urandom(32)).decode())
    assert PurgeSettings().infra.environment == "production"
    prod_env.setenv("JDL_PURGE_CHECKPOINT_SIGNING_KEY", DEV_CHECKPOINT_SIGNING_KEY)
    with pytest.raises(ValidationError, match="JDL_PURGE_CHECKPOINT_SIGNING_KEY: the development key"):
        PurgeSettings()


def test_production_refuses_the_development_master_key(prod_env):
    assert InfraSettings().environment == "production"      # a real key passes
    prod_env.setenv("JDL_MASTER_KEY", DEV_MASTER_KEY)
    with pytest.raises(ValidationError, match="JDL_MASTER_KEY: the development master key"):
        InfraSettings()
    prod_env.setenv("JDL_ENVIRONMENT", "development")
    assert InfraSettings().master_key.get_secret_value() == DEV_MASTER_KEY   # fine in development


def test_production_refuses_the_development_tokens(prod_env):
    prod_env.setenv("JDL_INTAKE_TOKENS", json.dumps({"a-real-token-4f9c": "ops"}))
    assert IntakeSettings().infra.environment == "production"
    prod_env.setenv("JDL_INTAKE_TOKENS", json.dumps({"a-real-token-4f9c": "ops", "dev-org-token": "x"}))
    with pytest.raises(ValidationError, match="JDL_INTAKE_TOKENS: holds a development token"):
        IntakeSettings()


def test_production_refuses_unknown_variables_naming_them(prod_env):
    prod_env.setenv("JDL_LINKAGE_MATCH_TRESHOLD", "0.9")        # misspelt
    prod_env.setenv("JDL_KAFKA_BOOTSTRAPS", "kafka:9092")       # misspelt infra variable
    with pytest.raises(ValidationError, match="JDL_KAFKA_BOOTSTRAPS, JDL_LINKAGE_MATCH_TRESHOLD: no setting"):
        LinkageSettings()
    # the purge service checks its own and the shared variables; linkage's are linkage's to check
    with pytest.raises(ValidationError, match=r"JDL_KAFKA_BOOTSTRAPS: no setting") as info:
        PurgeSettings()
    assert "TRESHOLD" not in str(info.value)
    prod_env.delenv("JDL_KAFKA_BOOTSTRAPS")
    assert PurgeSettings().infra.environment == "production"
    prod_env.setenv("JDL_ENVIRONMENT", "development")             # development only ignores them
    assert LinkageSettings().match_threshold == LinkageSettings.model_fields["match_threshold"].default


def test_every_settings_field_is_a_known_variable():
    env = {"JDL_LINKAGE_MATCH_THRESHOLD": "1", "JDL_RETENTION_DAYS": "3", "JDL_PURGE_WEB_PORT": "1",
           "JDL_INTAKE_STAGE_AGE_WARNING_SECONDS": "60", "JDL_KAFKA_TOPIC_WAIT_SECONDS": "5"}
    assert unknown_variables(LinkageSettings(), env) == []
    assert unknown_variables(IntakeSettings(), env) == []
    assert unknown_variables(IntakeSettings(), {"JDL_INTAKE_WEBPORT": "1"}) == ["JDL_INTAKE_WEBPORT"]


@pytest.mark.parametrize("service,env,named", [
    ("linkage", {"JDL_MASTER_KEY": DEV_MASTER_KEY}, "JDL_MASTER_KEY"),
    ("intake", {"JDL_INTAKE_TOKENS": json.dumps({"dev-ops-token": "ops"})}, "JDL_INTAKE_TOKENS"),
    ("reporting", {"JDL_REPORTING_SUPPRESION_THRESHOLD": "10"}, "JDL_REPORTING_SUPPRESION_THRESHOLD"),
    ("purge", {"JDL_KAFKA_REPLICATION_FACTOR": "0"}, "JDL_KAFKA_REPLICATION_FACTOR"),
    ("purge", {"JDL_PURGE_CHECKPOINT_SIGNING_KEY": DEV_CHECKPOINT_SIGNING_KEY}, "JDL_PURGE_CHECKPOINT_SIGNING_KEY"),
])
def test_entry_points_refuse_in_one_line_naming_the_variable(service, env, named, tmp_path):
    full = {k: v for k, v in os.environ.items() if not k.startswith("JDL_")}
    full.update(JDL_ENVIRONMENT="production", JDL_STORE_URL=f"file://{tmp_path}", **env)
    proc = subprocess.run([sys.executable, "-m", f"services.{service}", "worker"], cwd=ROOT,
                          env=full, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith(f"error: {named}") and "Traceback" not in proc.stderr
