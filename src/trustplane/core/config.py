"""Settings: environment variables prefixed ``TRUSTPLANE_``, an optional TOML file, and defaults.

Precedence, highest first: explicit keyword overrides, environment variables, the TOML file
(``TRUSTPLANE_CONFIG``, else ``./trustplane.toml`` when it exists), defaults. Nested values in the
environment are JSON, e.g. ``TRUSTPLANE_MODELS='[{"name": "gpt", "backend": "openai", ...}]'``.

All state (database, signing keys, certificates) lives under :attr:`Settings.home`.
"""

from __future__ import annotations

import os
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from trustplane.core.errors import ConfigError, DataFileMissingError

ENV_PREFIX = "TRUSTPLANE_"
DEFAULT_CONFIG_FILE = "trustplane.toml"


class ModelConfig(BaseModel):
    """One named model: which backend serves it and that backend's options."""

    name: str = Field(description="Name clients use to pick this model.", min_length=1)
    backend: str = Field(description="Registered backend name: openai, local, scripted, or a plugin's.")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Backend options, e.g. base_url, api_key, model, timeout, max_retries, n_threads.",
    )


DEFAULT_ASSURANCE_MAP: dict[str, str] = {
    # eIDAS levels, as OIDC4IDA assurance_level values and VC assuranceLevel.
    "low": "low",
    "substantial": "substantial",
    "high": "high",
    # NIST SP 800-63A identity assurance levels.
    "ial1": "low",
    "ial2": "substantial",
    "ial3": "high",
    # REFEDS Assurance Framework (eduperson_assurance).
    "https://refeds.org/assurance/IAP/low": "low",
    "https://refeds.org/assurance/IAP/medium": "substantial",
    "https://refeds.org/assurance/IAP/high": "high",
    "https://refeds.org/assurance/profile/cappuccino": "substantial",
    "https://refeds.org/assurance/profile/espresso": "high",
}
"""Default :attr:`Settings.access_assurance_map`; keys are compared case-insensitively."""


def _default_models() -> list[ModelConfig]:
    return [ModelConfig(name="smollm2", backend="local", options={})]


class Settings(BaseSettings):
    """trustplane settings. Every field can be set as ``TRUSTPLANE_<FIELD>`` or in the TOML file."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", validate_default=True, frozen=True)

    home: Path = Field(Path(".trustplane"), description="Directory for all state: database, keys, certificates.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL. Default: SQLite (WAL) at <home>/trustplane.db. Postgres: postgresql+psycopg://...",
    )
    data_dir: Path | None = Field(
        None, description="Directory of third-party datasets (instruments, benchmarks, vectors)."
    )
    host: str = Field("127.0.0.1", description="Address `trustplane serve` binds.")
    port: int = Field(8000, ge=1, le=65535, description="Port `trustplane serve` binds.")
    admin_token: SecretStr | None = Field(
        None,
        description="Bearer token that allows writes over HTTP (e.g. POST /log/entries). Unset: HTTP writes are refused.",
    )
    log_max_entry_bytes: int = Field(
        65536, ge=256, le=16 * 1024 * 1024, description="Largest canonical log entry accepted, in bytes."
    )
    log_max_batch: int = Field(100_000, ge=1, description="Most entries one batched append may carry.")
    models: list[ModelConfig] = Field(default_factory=_default_models, description="Models served, by name.")
    default_model: str = Field("smollm2", description="Model used when a request names none.")
    ray_address: str | None = Field(
        None, description="Ray cluster address for heavy jobs; unset runs a local process pool."
    )
    jobs_workers: int | None = Field(None, ge=1, description="Processes in the local job pool (default: CPU count).")
    redis_url: str | None = Field(None, description="Redis URL for shared rate limits (optional).")
    warm_models: bool = Field(False, description="Load local models when the server starts rather than on first use.")

    # --- access: the gateway's identity, taxonomy, policy, classifier, limits -------------------------
    arena_policy: dict[str, int | float] | None = Field(
        None,
        description="Arena integrity policy overrides (JSON object), e.g. "
        '{"max_private_variants": 3, "provisional_votes": 300}; unset: the defaults (see arena.md).',
    )
    access_taxonomy: Path | None = Field(
        None, description="Risk taxonomy YAML for the access gateway; unset: the shipped default."
    )
    access_policy: Path | None = Field(
        None, description="Cedar policy file for the access gateway; unset: the shipped default."
    )
    access_classifier: str = Field(
        "minilm",
        description="Risk classifier applied to prompts and outputs, by registered name (minilm, guard, keyword), "
        "or 'none' to classify everything as benign (identity and policy only).",
    )
    access_classifier_options: dict[str, Any] = Field(
        default_factory=dict,
        description="Options passed to the classifier; 'keyword' without 'rules' uses the taxonomy's keywords.",
    )
    access_holdback_chars: int = Field(
        96,
        ge=8,
        le=65536,
        description="Characters of streamed output held back until the text around them is classified.",
    )
    access_check_chars: int = Field(
        1, ge=1, le=65536, description="Streamed characters gathered beyond the hold-back window before each check."
    )
    access_max_request_bytes: int = Field(
        1_048_576, ge=1024, description="Largest /v1 request body accepted, in bytes (larger: 413)."
    )
    access_store_text: bool = Field(
        False, description="Keep raw prompt and output text in the database (the log holds only hashes)."
    )
    access_rate_limits: dict[str, str] = Field(
        default_factory=lambda: {"default": "60/minute", "verified": "600/minute"},
        description="Requests allowed per key, by tier, in the limits syntax ('60/minute;1000/day').",
    )
    access_token_budgets: dict[str, str] = Field(
        default_factory=lambda: {"default": "200000/day", "verified": "2000000/day"},
        description="Tokens (prompt + completion) allowed per key, by tier, in the limits syntax.",
    )
    access_review_ttl_seconds: int = Field(
        86400, ge=60, description="How long an escalated request waits for review, and an approval stays usable."
    )
    access_status_list_ttl_seconds: float = Field(
        300.0, ge=0, description="Seconds a fetched Bitstring Status List credential is cached (0: fetch every time)."
    )
    access_vc_issuers: dict[str, str] = Field(
        default_factory=dict,
        description="Trusted issuers of verifiable credentials (VC-JWT): issuer id to its JWKS URL or file.",
    )
    access_assurance_map: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_ASSURANCE_MAP),
        description="Assurance values (OIDC4IDA assurance_level, REFEDS URIs, VC assuranceLevel) to trustplane "
        "levels: none, low, substantial, high. Values not listed confer no assurance.",
    )
    oidc_issuer: str | None = Field(None, description="Issuer (iss) of OIDC bearer tokens the gateway accepts.")
    oidc_audience: str | None = Field(None, description="Audience (aud) OIDC bearer tokens must carry.")
    oidc_jwks_url: str | None = Field(None, description="JWKS of the OIDC issuer: an https URL or a local file.")
    oidc_algorithms: list[str] = Field(
        default_factory=lambda: ["RS256", "ES256", "EdDSA"],
        description="Signature algorithms accepted on bearer tokens and credentials.",
    )
    oidc_leeway_seconds: float = Field(30.0, ge=0, le=600, description="Clock skew allowed on exp, nbf and iat.")
    api_key_pepper: SecretStr | None = Field(
        None,
        description="Server secret mixed into API-key hashes; unset: generated once at <home>/keys/access-pepper.",
    )

    @field_validator("models")
    @classmethod
    def _unique_model_names(cls, value: list[ModelConfig]) -> list[ModelConfig]:
        names = [m.name for m in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"model names must be unique; repeated: {', '.join(dupes)}")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = _config_file()
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    # --- derived paths ---------------------------------------------------------------------------
    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'trustplane.db').resolve()}"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    def data_path(self, *parts: str) -> Path:
        """Path of a file in the data directory; a clear error when it is not there."""
        if self.data_dir is None:
            raise DataFileMissingError(
                f"no data directory configured (needed for {'/'.join(parts)})",
                hint="set TRUSTPLANE_DATA_DIR to the folder holding the datasets",
            )
        path = self.data_dir.joinpath(*parts)
        if not path.exists():
            raise DataFileMissingError(
                f"data file {'/'.join(parts)} not found in {self.data_dir}",
                hint="check TRUSTPLANE_DATA_DIR; see the dataset's SOURCE.md for where it comes from",
                path=str(path),
            )
        return path

    def model(self, name: str | None) -> ModelConfig:
        from trustplane.core.errors import ModelNotFoundError

        wanted = name or self.default_model
        for m in self.models:
            if m.name == wanted:
                return m
        raise ModelNotFoundError(
            f"no model named {wanted!r}",
            hint=f"configured models: {', '.join(m.name for m in self.models) or 'none'}",
            model=wanted,
        )


def _config_file() -> Path | None:
    explicit = os.environ.get(f"{ENV_PREFIX}CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"{ENV_PREFIX}CONFIG points to {explicit}, which is not a file")
        return path
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


def load_settings(**overrides: Any) -> Settings:
    """Build :class:`Settings`, turning any validation failure into one clear :class:`ConfigError`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "settings"
            field = str(err["loc"][0]) if err["loc"] else ""
            if field and field not in Settings.model_fields:
                problems.append(f"unknown setting {field!r}")
                continue
            env = ENV_PREFIX + field.upper() if field else "settings"
            problems.append(f"{env} ({loc}): {err['msg']}")
        raise ConfigError(
            "invalid setting: " + "; ".join(problems),
            hint="fix the environment variable or the TOML file",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"cannot parse the TOML file {_config_file()}: {exc}") from None
    except ValueError as exc:  # malformed JSON in an env var, ...
        raise ConfigError(f"invalid setting: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read configuration: {exc}") from None
