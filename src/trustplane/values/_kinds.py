"""The values capability's transparency-log entry kind, registered at import."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from trustplane.core.log import register_kind

RUN = "values.run"
HEX64 = r"^[0-9a-f]{64}$"


class RunClaim(BaseModel):
    """A finished questionnaire run: what was asked of which model, and the SHA-256 of its result file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description="Run id.")
    model: str = Field(max_length=128, description="Configured model name.")
    backend: str = Field(max_length=64, description="Backend that served it.")
    instrument: str = Field(max_length=64, description="Instrument id.")
    instrument_version: str = Field(max_length=64)
    instrument_sha256: str = Field(
        pattern=HEX64, description="Hash of the resolved instrument (items, key, baselines)."
    )
    config_sha256: str = Field(pattern=HEX64, description="Hash of the administration options.")
    methods: list[str] = Field(description="Scoring methods used.")
    seed: int = Field(ge=0, description="Seed of the run.")
    responses: int = Field(ge=0, description="Item responses recorded.")
    status_counts: dict[str, int] = Field(description="Responses by status: answered, refused, unparseable, invalid.")
    result_sha256: str = Field(pattern=HEX64, description="SHA-256 of the canonical JSON of the run's result.")


register_kind(RUN, RunClaim, "A moral-foundations questionnaire run and the hash of its result.")
