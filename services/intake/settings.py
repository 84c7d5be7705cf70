"""Settings of the intake service (API and cohort validation). Env prefix JDL_INTAKE_."""
from __future__ import annotations

from datetime import date

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from jdl_infra.settings import InfraSettings


class IntakeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="JDL_INTAKE_", extra="ignore")

    infra: InfraSettings = Field(default_factory=InfraSettings)
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    max_upload_bytes: int = 20 * 1024 * 1024
    min_cohort_size: int = 60
    # Intervention dates accepted at upload. Unset (the default): the national dataset's own
    # window from its manifest in JDL_DATA_DIR (intervention starts whose index event the data
    # can follow up); set (YYYY-MM-DD, checked at start-up), they can only narrow it.
    coverage_start: date | None = None
    coverage_end: date | None = None
    # JSON object {token: org_id}; the org "ops" sees the operations queue.
    tokens: SecretStr = SecretStr("{}")
    web_port: int = 6066    # the intake worker (status agent): health and /metrics
    web_host: str = "127.0.0.1"
