"""AI decision layer settings (env prefix `TREASURY_`).

Which advisor decides is `TREASURY_ADVISOR` (service settings: `rules` in paper mode, `claude`
in live mode). Claude: `TREASURY_CLAUDE_MODEL` (default a current Sonnet from the installed
SDK's model list; ids the SDK marks deprecated are refused), `TREASURY_CLAUDE_TIMEOUT_S` (20,
the whole call including the SDK's retries, so a cycle stays under 30 s),
`TREASURY_CLAUDE_MAX_TOKENS` (4096, at least 2048: room for the longest tool call; an answer
cut off at the limit is a failed call), `TREASURY_CLAUDE_MAX_RETRIES` (2, for 429/5xx/529).
The model is checked against the Models API at start-up: an unknown one stops the service
with an error naming `TREASURY_CLAUDE_MODEL`.
Learning loop: `TREASURY_OUTCOME_HORIZON_DAYS` (7) and `TREASURY_OUTCOME_HISTORY` (5 outcomes
summarised in each prompt). The SDK's own `ANTHROPIC_API_KEY` and `ANTHROPIC_BASE_URL` are
read under those names, as the SDK defines them.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.advisors.claude_defaults import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_TOKENS,
    DEFAULT_MODEL,
    DEFAULT_TIMEOUT_S,
    MIN_MAX_TOKENS,
)


class AdvisorSettings(BaseSettings):
    """Claude and learning-loop settings; secrets stay in SecretStr until the adapter."""

    model_config = SettingsConfigDict(env_prefix="TREASURY_", extra="ignore")

    claude_model: str = DEFAULT_MODEL
    claude_timeout_s: float = Field(default=DEFAULT_TIMEOUT_S, gt=0, le=28)
    claude_max_tokens: int = Field(default=DEFAULT_MAX_TOKENS, ge=MIN_MAX_TOKENS, le=8192)
    claude_max_retries: int = Field(default=DEFAULT_MAX_RETRIES, ge=0, le=5)
    outcome_horizon_days: int = Field(default=7, ge=1, le=365)
    outcome_history: int = Field(default=5, ge=0, le=50)
    anthropic_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("ANTHROPIC_API_KEY")
    )
    anthropic_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("ANTHROPIC_BASE_URL")
    )

    @field_validator("claude_model")
    @classmethod
    def _current_model(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("TREASURY_CLAUDE_MODEL must not be empty")
        if value == DEFAULT_MODEL:
            # The default is current (a unit test holds it to the SDK's list); checking it
            # would load the whole anthropic SDK into every process that reads settings.
            return value
        from adapters.advisors.claude import deprecated_models

        retiring = deprecated_models()
        if value in retiring:
            raise ValueError(
                f"{value} is deprecated by the installed anthropic SDK (end of life "
                f"{retiring[value]}); choose a current model such as {DEFAULT_MODEL}"
            )
        return value

    def api_key(self) -> str | None:
        """The API key as a plain string for the adapter, or None when unset or blank."""
        if self.anthropic_api_key is None:
            return None
        return self.anthropic_api_key.get_secret_value().strip() or None
