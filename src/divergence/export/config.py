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
    tables: list[str] = Field(
        default_factory=list,
        description="tables to export (each has sql/queries/export_<table>.sql); empty: all",
    )
    recent_days: int = Field(
        default=2,
        ge=1,
        description="between full scans, only the last N exported dates of a table are checked",
    )
    full_scan_interval_s: float = Field(
        default=3600.0,
        gt=0,
        description="seconds between two refreshes that check every date of every table",
    )


def export_root(settings: ExportSettings, db_path: Path) -> Path:
    """The export's root folder: ``export.dir``, or ``export/`` beside the database file."""
    return settings.dir if settings.dir is not None else db_path.parent / "export"
