"""Settings of the periodic Parquet export."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class ExportSettings(BaseModel):
    """Where and how often the tables are exported as hive-partitioned Parquet."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = Field(default=True, description="run the export job in serve")
    dir: Path | None = Field(default=None, description="default: export/ beside db_path")
    interval_s: float = Field(default=300.0, gt=0, description="seconds between two refreshes")
