"""Settings of the linkage service. Env prefix JDL_LINKAGE_."""
from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from jdl_pipeline.settings import ServiceSettings


class LinkageSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="JDL_LINKAGE_", extra="ignore")

    match_threshold: float = 0.95      # Splink match probability needed to link
    # Days from the intervention start to the start of the chosen sentence beyond which the
    # person has "no eligible index event" (methodology.md section 3.3); unset: no limit.
    max_gap_days: int | None = Field(default=90, ge=0)
    web_port: int = 6067
