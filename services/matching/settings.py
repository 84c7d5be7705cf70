"""Settings of the matching service. Env prefix JDL_MATCHING_."""
from __future__ import annotations

from typing import Literal

from pydantic_settings import SettingsConfigDict

from jdl_pipeline.settings import ServiceSettings


class MatchingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="JDL_MATCHING_", extra="ignore")

    method: Literal["nearest"] = "nearest"
    k: int = 5
    caliper_sd: float = 0.2
    replace: bool = True
    bootstrap_reps: int = 200
    web_port: int = 6068

    def spec_overrides(self) -> dict[str, object]:
        """MatchSpec fields set by these settings (everything else keeps MatchSpec defaults)."""
        return {"method": self.method, "k": self.k, "caliper": self.caliper_sd,
                "replace": self.replace, "bootstrap_reps": self.bootstrap_reps}
