"""The base of every service's settings class: what all five share, said once."""
from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings

from jdl_infra.settings import InfraSettings, unknown_variables


class ServiceSettings(BaseSettings):
    """Base of ``services/<name>/settings.py``: the infrastructure (env prefix ``JDL_``) and the
    worker's web server (health and /metrics); each subclass sets its env prefix and its port.
    In production a JDL_* variable that no setting reads is refused rather than ignored."""

    infra: InfraSettings = Field(default_factory=InfraSettings)
    web_port: int                      # the worker's /healthz and /metrics; a default per service
    web_host: str = "127.0.0.1"        # 0.0.0.0 in containers

    @model_validator(mode="after")
    def _no_unknown_variables_in_production(self) -> "ServiceSettings":
        if self.infra.environment == "production":
            unknown = unknown_variables(self)
            if unknown:
                raise ValueError(f"{', '.join(unknown)}: no setting of this service reads "
                                 f"{'this variable' if len(unknown) == 1 else 'these variables'} "
                                 "(misspelt or stale?); refused when JDL_ENVIRONMENT=production")
        return self
