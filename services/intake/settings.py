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
    # Per-API-token rate limits (per API replica): sustained requests per minute and burst size;
    # 0 per minute disables one. Answered 429 with Retry-After.
    rate_limit_uploads_per_minute: float = Field(default=30.0, ge=0)
    rate_limit_uploads_burst: int = Field(default=10, ge=1)
    rate_limit_reads_per_minute: float = Field(default=600.0, ge=0)
    rate_limit_reads_burst: int = Field(default=120, ge=1)
    # XLSX uploads are read in child processes (services/intake/parsing.py): at most this many
    # at once, each limited to this much memory and time; the memory is freed when each ends.
    xlsx_parse_workers: int = Field(default=2, ge=1, le=16)
    xlsx_parse_memory_mb: int = Field(default=1024, ge=0)     # 0: no limit
    xlsx_parse_timeout_seconds: float = Field(default=120.0, gt=0)
