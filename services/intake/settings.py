"""Settings of the intake service (API and cohort validation). Env prefix JDL_INTAKE_."""
from __future__ import annotations

import json
from datetime import date

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from jdl_infra.settings import DEV_TOKENS
from jdl_pipeline.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="JDL_INTAKE_", extra="ignore")

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
    # JdlStageSlow warns when a submission has spent this long in one stage (reports take
    # seconds; an hour in one stage means a stuck partition or worker). Exported as a gauge.
    stage_age_warning_seconds: float = Field(default=3600.0, gt=0)
    # A finished submission not purged this long after it finished counts as an overdue purge
    # (jdl_purges_overdue, JdlPurgeOverdue). The purge normally takes a second.
    purge_grace_seconds: float = Field(default=3600.0, gt=0)
    web_port: int = 6066    # the intake worker (status agent); the API has api_host/api_port
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

    @model_validator(mode="after")
    def _no_development_tokens_in_production(self) -> "IntakeSettings":
        if self.infra.environment == "production":
            try:
                tokens = json.loads(self.tokens.get_secret_value() or "{}")
            except ValueError:
                raise ValueError("JDL_INTAKE_TOKENS: not a JSON object {token: org_id}") from None
            if set(tokens) & DEV_TOKENS:
                raise ValueError("JDL_INTAKE_TOKENS: holds a development token (published in "
                                 "deploy/k8s/overlays/dev/dev-secrets.env), refused when "
                                 "JDL_ENVIRONMENT=production")
        return self
