"""Settings of the reporting service. Env prefix JDL_REPORTING_."""
from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from jdl_infra.settings import InfraSettings, ServiceSettings


class ReportingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="JDL_REPORTING_", extra="ignore")

    infra: InfraSettings = Field(default_factory=InfraSettings)
    suppression_threshold: int = 5
    web_port: int = 6069
    web_host: str = "127.0.0.1"        # 0.0.0.0 in containers
