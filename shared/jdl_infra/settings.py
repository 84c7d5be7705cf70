"""Settings shared by every service (infrastructure endpoints and secrets).

Each service has its own pydantic-settings class (``services/<name>/settings.py``, on the base
``jdl_pipeline.settings.ServiceSettings``) with its own env prefix (``JDL_<SERVICE>_``) that embeds
one ``InfraSettings`` (env prefix ``JDL_``). Nothing is built at import time: composition roots
construct settings and pass them down.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_S3_ACCESS_KEY = "jdl-dev-access"
DEV_S3_SECRET_KEY = "jdl-dev-secret"
# Published in git (deploy/k8s/overlays/dev/dev-secrets.env): refused in production.
DEV_MASTER_KEY = "ZGV2ZWxvcG1lbnQtb25seS1ub3QtYS1zZWNyZXQtISE="
DEV_TOKENS = frozenset({"dev-ops-token", "dev-org-token"})
DEV_CHECKPOINT_SIGNING_KEY = "ZGV2LWNoZWNrcG9pbnQta2V5LW5vdC1hLXNlY3JldCE="
# Env prefixes of the service settings classes (services/<name>/settings.py).
SERVICE_PREFIXES = ("JDL_INTAKE_", "JDL_LINKAGE_", "JDL_MATCHING_", "JDL_REPORTING_", "JDL_PURGE_")


class InfraSettings(BaseSettings):
    """Where the broker, object store and national data are; the master key."""

    model_config = SettingsConfigDict(env_prefix="JDL_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    kafka_bootstrap: str = "127.0.0.1:9092"
    # for topics faust creates itself (changelogs); 3 in production. A worker in production
    # refuses to start when it is above the broker count (jdl_infra.preflight).
    kafka_replication_factor: int = Field(default=1, ge=1)
    # > 0: a worker waits up to this long for every topic of deploy/kafka/topics.yaml (faust's
    # own included) before starting, so faust never creates them unbounded (jdl_infra.preflight).
    kafka_topic_wait_seconds: float = Field(default=0.0, ge=0, le=3600)
    # Broker security (managed Kafka): TLS, SASL or both. SASL_* needs a username and password;
    # the CA file is only needed when the broker's certificate is not signed by a system CA.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    # How long a silent worker keeps its partitions before the group moves them (a killed worker's
    # work restarts elsewhere after this); tansu also holds a new group's first assignment for
    # about half of it, so it sets how soon a freshly started service consumes.
    kafka_session_timeout_seconds: float = Field(default=10.0, ge=6.0, le=300.0)
    # file:///abs/path for the filesystem store, s3://bucket for S3 (endpoint below)
    store_url: str = "file://./var/store"
    s3_endpoint: str = "127.0.0.1:9000"
    s3_secure: bool = False
    s3_region: str = "us-east-1"
    s3_access_key: SecretStr = SecretStr(DEV_S3_ACCESS_KEY)
    s3_secret_key: SecretStr = SecretStr(DEV_S3_SECRET_KEY)
    # How the audit log's conditional creates are made on S3: "auto" sends If-None-Match: *
    # when the endpoint honours it (checked once) and falls back to a lease object otherwise;
    # "lease" always uses the lease (an S3-compatible store known to ignore the header).
    s3_conditional_writes: Literal["auto", "lease"] = "auto"
    # 32-byte key, base64; wraps every per-submission data key. No default: the services that
    # encrypt or decrypt (intake API, linkage, matching) refuse to start without it
    # (jdl_infra.crypto.MasterKey.from_settings); purge and reporting never need it.
    master_key: SecretStr | None = None
    data_dir: Path = Path("./var/data")
    # Retention limit: the purge sweep purges any submission older than this whatever its state,
    # and the intake worker's overdue-purge gauge (and its alert) counts against the same figure.
    # One setting for both, so the alert cannot fire later than the sweep is due.
    retention_days: float = Field(default=30.0, gt=0, le=3650)
    log_level: str = "INFO"
    # A worker's /healthz fails when it has held no partition for this long (from its start, or
    # since it last held one): the probes then restart it. Above the slowest first assignment.
    health_assignment_grace_seconds: float = Field(default=120.0, gt=0)

    @model_validator(mode="after")
    def _kafka_security_is_complete(self) -> "InfraSettings":
        if self.kafka_security_protocol.startswith("SASL_") and not (
                self.kafka_sasl_username and self.kafka_sasl_password
                and self.kafka_sasl_password.get_secret_value()):
            raise ValueError(f"JDL_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                             "JDL_KAFKA_SASL_USERNAME and JDL_KAFKA_SASL_PASSWORD")
        if self.kafka_ssl_cafile is not None and not self.kafka_ssl_cafile.is_file():
            raise ValueError(f"JDL_KAFKA_SSL_CAFILE: no file at {self.kafka_ssl_cafile}")
        return self

    @model_validator(mode="after")
    def _no_default_credentials_in_production(self) -> "InfraSettings":
        if self.environment == "production":
            if self.store_url.startswith("s3://") and (
                self.s3_access_key.get_secret_value() == DEV_S3_ACCESS_KEY
                or self.s3_secret_key.get_secret_value() == DEV_S3_SECRET_KEY
            ):
                raise ValueError("JDL_S3_ACCESS_KEY/JDL_S3_SECRET_KEY: development credentials "
                                 "are refused when JDL_ENVIRONMENT=production")
            if self.master_key is not None and self.master_key.get_secret_value().strip() == DEV_MASTER_KEY:
                raise ValueError("JDL_MASTER_KEY: the development master key (published in "
                                 "deploy/k8s/overlays/dev/dev-secrets.env) is refused when "
                                 "JDL_ENVIRONMENT=production; generate one: openssl rand -base64 32")
        return self


def known_variables(settings: BaseSettings) -> set[str]:
    """The JDL_* variables a service settings class reads: its own and InfraSettings'."""
    prefix = str(settings.model_config.get("env_prefix", "")).upper()
    from .publication import PUBLICATION_PREFIX, PublicationSettings

    own = {(prefix + name).upper() for name in type(settings).model_fields if name != "infra"}
    # the publication calendar is read by intake and reporting; every service knows its names
    publication = {(PUBLICATION_PREFIX + name).upper() for name in PublicationSettings.model_fields}
    return own | publication | {("JDL_" + name).upper() for name in InfraSettings.model_fields}


def unknown_variables(settings: BaseSettings, environ: Mapping[str, str] | None = None) -> list[str]:
    """JDL_* variables in the environment that this service would ignore: a misspelt or stale
    name. Variables of the other services are theirs to check (one ConfigMap feeds them all)."""
    environ = os.environ if environ is None else environ
    prefix = str(settings.model_config.get("env_prefix", "")).upper()
    others = tuple(p for p in SERVICE_PREFIXES if p != prefix)
    known = known_variables(settings)
    return sorted(k for k in (k.upper() for k in environ)
                  if k.startswith("JDL_") and not k.startswith(others) and k not in known)


def load_settings(cls: type[BaseSettings]) -> Any:
    """Settings for a process entry point: a refusal is printed as one line per problem, naming
    the variable, and the process exits with code 2 (no traceback)."""
    import sys

    from pydantic import ValidationError

    try:
        return cls()
    except ValidationError as e:
        for err in e.errors(include_input=False, include_url=False):
            loc = [str(p) for p in err.get("loc", ())]
            msg = str(err["msg"]).removeprefix("Value error, ")
            name = ""
            if loc and loc != ["infra"]:   # a field: name its variable (model checks name theirs)
                # InfraSettings is built by the service class's default factory: its own error
                infra = loc[0] == "infra" or e.title == InfraSettings.__name__
                prefix = "JDL_" if infra else str(cls.model_config.get("env_prefix", ""))
                name = (prefix + loc[-1]).upper()
            print(f"error: {name + ': ' if name and name not in msg else ''}{msg}", file=sys.stderr)
        sys.exit(2)
