"""Settings of the purge service. Env prefix JDL_PURGE_."""
from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from jdl_infra.settings import DEV_CHECKPOINT_SIGNING_KEY
from jdl_pipeline.settings import ServiceSettings


class PurgeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="JDL_PURGE_", extra="ignore")

    sweep_interval_seconds: float = 3600.0
    # The reconciler (services/purge/reconcile.py): runs at start and every interval (the embedded
    # runtime sets 60 s); re-drives a submission with no progress for stall_seconds, fails it
    # after max_redrives re-drives; purges objects/keys without a status record after the grace.
    reconcile_interval_seconds: float = Field(default=300.0, gt=0)
    stall_seconds: float = Field(default=900.0, gt=0)
    max_redrives: int = Field(default=3, ge=0)
    orphan_grace_seconds: float = Field(default=3600.0, ge=0)
    terminal_grace_seconds: float = Field(default=30.0, ge=0)
    web_port: int = 6070
    # Ed25519 private key (base64 32-byte seed) that signs audit checkpoints; only the purge
    # service holds it. Unset in development: a throwaway key is generated at start (`jdl up`
    # keeps one in var/secrets). Refused unset in production, where verifiers pin its public key.
    checkpoint_signing_key: SecretStr | None = None

    @model_validator(mode="after")
    def _signing_key_in_production(self) -> "PurgeSettings":
        if self.infra.environment == "production" and not (
                self.checkpoint_signing_key and self.checkpoint_signing_key.get_secret_value()):
            raise ValueError("JDL_PURGE_CHECKPOINT_SIGNING_KEY is required when "
                             "JDL_ENVIRONMENT=production (audit checkpoints must be signed with a "
                             "key verifiers can pin)")
        if self.infra.environment == "production" and self.checkpoint_signing_key and \
                self.checkpoint_signing_key.get_secret_value().strip() == DEV_CHECKPOINT_SIGNING_KEY:
            raise ValueError("JDL_PURGE_CHECKPOINT_SIGNING_KEY: the development key (published in "
                             "deploy/k8s/overlays/dev/dev-secrets.env) is refused when "
                             "JDL_ENVIRONMENT=production; generate one: openssl rand -base64 32")
        return self
