"""Settings shared by every service (infrastructure endpoints and secrets).

Each service has its own pydantic-settings class (``services/<name>/settings.py``) with its own
env prefix (``JDL_<SERVICE>_``) that embeds one ``InfraSettings`` (env prefix ``JDL_``). Nothing is
built at import time: composition roots construct settings and pass them down.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_S3_ACCESS_KEY = "jdl-dev-access"
DEV_S3_SECRET_KEY = "jdl-dev-secret"


class InfraSettings(BaseSettings):
    """Where the broker, object store and national data are; the master key."""

    model_config = SettingsConfigDict(env_prefix="JDL_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_replication_factor: int = 1   # for topics faust creates itself (changelogs); 3 in production
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
    # 32-byte key, base64; wraps every per-submission data key. No default: the services that
    # encrypt or decrypt (intake API, linkage, matching) refuse to start without it
    # (jdl_infra.crypto.MasterKey.from_settings); purge and reporting never need it.
    master_key: SecretStr | None = None
    data_dir: Path = Path("./var/data")
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _no_default_credentials_in_production(self) -> "InfraSettings":
        if self.environment == "production":
            if self.store_url.startswith("s3://") and (
                self.s3_access_key.get_secret_value() == DEV_S3_ACCESS_KEY
                or self.s3_secret_key.get_secret_value() == DEV_S3_SECRET_KEY
            ):
                raise ValueError("JDL_S3_ACCESS_KEY/JDL_S3_SECRET_KEY: development credentials "
                                 "are refused when JDL_ENVIRONMENT=production")
        return self


def infra_field() -> InfraSettings:
    return Field(default_factory=InfraSettings)  # type: ignore[return-value]
