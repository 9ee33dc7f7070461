"""Settings of the analyst SQL sandbox (``POST /api/sql``, canned queries, ``divergence sql``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SqlSettings(BaseModel):
    """Limits on one analyst statement."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    timeout_s: float = Field(default=10.0, gt=0, description="a statement is interrupted after")
    max_rows: int = Field(default=100_000, ge=1, description="rows returned; more are cut")
    max_sql_chars: int = Field(
        default=100_000, ge=16, description="longest statement text accepted"
    )
