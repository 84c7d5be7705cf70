"""Settings of the reporting service. Env prefix JDL_REPORTING_."""
from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from jdl_pipeline.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="JDL_REPORTING_", extra="ignore")

    suppression_threshold: int = 5
    web_port: int = 6069
