"""Settings of the purge service. Env prefix JDL_PURGE_."""
from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from jdl_infra.settings import InfraSettings, ServiceSettings


class PurgeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="JDL_PURGE_", extra="ignore")

    infra: InfraSettings = Field(default_factory=InfraSettings)
    sweep_interval_seconds: float = 3600.0
    web_port: int = 6070
    web_host: str = "127.0.0.1"        # 0.0.0.0 in containers
