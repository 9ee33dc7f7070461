"""Settings: one object, built once by the CLI (or ``service/asgi.py``) and passed down.

Values come, in rising priority, from the defaults below, an optional TOML file
(``--config``), and ``DIVERGENCE_*`` environment variables (nested keys joined with
``__``, e.g. ``DIVERGENCE_SIM__SPEED=20``). Every model forbids unknown keys, so a typo
fails at start-up with a :class:`~divergence.errors.ConfigError` naming the key.
Every field is documented in docs/configuration.md (a test checks that).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from divergence.auth.config import ServiceSettings
from divergence.errors import ConfigError
from divergence.export.config import ExportSettings
from divergence.sandbox.config import SqlSettings
from divergence.validation import describe_validation_error, load_toml
from divergence.webhooks.config import WebhookSettings

_STRICT = ConfigDict(extra="forbid", frozen=True)


class SimSettings(BaseModel):
    """The built-in simulator: a seeded market published as local websocket venues."""

    model_config = _STRICT
    enabled: bool = False
    seed: int = 7
    scenario: Literal["oct10"] = "oct10"
    speed: float = Field(default=1.0, gt=0, description="multiplies the scenario's clock rate")
    tick_ms: int = Field(default=100, ge=5, le=5_000)
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65_535, description="0 picks a free port")
    stop_after_s: float | None = Field(default=None, gt=0, description="simulated seconds")


class WriterSettings(BaseModel):
    """Batching of appends to DuckDB."""

    model_config = _STRICT
    flush_rows: int = Field(default=5_000, ge=1)
    flush_ms: int = Field(default=250, ge=1)
    queue_max: int = Field(default=200_000, ge=100)


class VenueSettings(BaseModel):
    """How one venue's feed connects and when it counts as unhealthy (``venues.<id>``).

    The stale-stream watchdog is separate from the transport keepalive. A stream is
    *stale* when it has been silent longer than its threshold: ``stale_factor`` times
    the inter-message gap learned for that stream (a slow exponential average), but
    never less than a floor and
    never more than ``stale_max_s``. The floor is the session's entry in
    ``stale_after_s``, else ``stale_min_s``, else the adapter's floor for the channel
    (``AdapterSpec.stale_min_s``: trades and chain logs are sparser than books). So an
    illiquid symbol that trades once a minute is not flagged after five seconds, while a
    book that stopped ticking is. The socket as a
    whole is *silent* when no frame at all (data, heartbeat or ping reply) arrived for
    ``silence_timeout_s``: it is closed and reconnected.
    """

    model_config = _STRICT
    url: str | None = Field(default=None, description="websocket URL; default: the adapter's")
    rest_url: str | None = Field(
        default=None, description="base URL of the venue's REST API for instrument discovery"
    )
    discover: bool = True
    ping_interval_s: float | None = Field(default=None, gt=0)
    silence_timeout_s: float = Field(default=30.0, gt=0)
    backoff_initial_s: float = Field(default=0.25, gt=0)
    backoff_max_s: float = Field(default=30.0, gt=0)
    stale_min_s: float | None = Field(default=None, gt=0)
    stale_max_s: float = Field(default=900.0, gt=0)
    stale_factor: float = Field(default=20.0, ge=1)
    stale_after_s: dict[Literal["pre", "regular", "post", "overnight", "closed"], float] = Field(
        default_factory=dict
    )
    resubscribe_stale: bool = True
    max_frame_bytes: int = Field(default=4 * 2**20, ge=1_024)
    queue_warn_ms: int = Field(default=250, ge=1)
    api_key: SecretStr | None = Field(
        default=None, description="credential for venues that authenticate (Alpaca, Massive)"
    )
    api_secret: SecretStr | None = Field(default=None, description="second credential (Alpaca)")
    feed: str | None = Field(
        default=None, description="data feed of a reference venue that offers several (Alpaca)"
    )


class BasisSettings(BaseModel):
    """Reference staleness limits per session and the live job's cadence."""

    model_config = _STRICT
    max_staleness_ms: dict[str, int] = Field(
        default_factory=lambda: {
            "regular": 2_000,
            "pre": 30_000,
            "post": 30_000,
            "overnight": 60_000,
        }
    )
    max_ref_age_s: int = Field(default=4 * 86_400, ge=1)
    fx_max_staleness_ms: int = Field(default=60_000, ge=1)
    fx_min_sources: int = Field(
        default=2, ge=1, description="fresh sources below which fx_state is 'single'"
    )
    depeg_bps: float = Field(default=50.0, gt=0, description="stablecoin_depeg threshold")
    venue_depeg_bps: float = Field(default=50.0, gt=0, description="venue_local_depeg threshold")
    interval_ms: int = Field(default=500, ge=50)
    context_idle_s: float = Field(default=5.0, gt=0)


class MetricsSettings(BaseModel):
    """The metrics job: windowed recompute of the metric tables behind the basis job."""

    model_config = _STRICT
    enabled: bool = Field(default=True, description="run the live metrics job in serve")
    interval_ms: int = Field(default=1_000, ge=50)
    max_chunk_s: int = Field(
        default=3_600, ge=60, description="event time one window covers when catching up"
    )


class DepthSettings(BaseModel):
    """The depth job: book_depth_1s and sweep_costs_1m (docs/metrics.md)."""

    model_config = _STRICT
    enabled: bool = Field(default=True, description="run the live depth job in serve")
    interval_ms: int = Field(default=1_000, ge=50)
    depth_sample_s: int = Field(default=1, ge=1)
    sweep_sample_s: int = Field(default=60, ge=1)
    pool_max_age_s: int = Field(default=86_400, ge=1)
    max_chunk_s: int = Field(default=3_600, ge=60)


class AlertSettings(BaseModel):
    """The alert engine in the service: its rules file and how often it steps."""

    model_config = _STRICT
    enabled: bool = Field(default=True, description="step the alert engine in serve")
    rules_path: Path | None = Field(
        default=None, description="TOML rules file; None: the built-in default rules"
    )
    step_ms: int = Field(
        default=1_000, ge=50, description="wall-clock interval between two alert job steps"
    )
    max_stride_s: int = Field(
        default=60,
        ge=1,
        description=(
            "longest spacing of the engine's instants while it is behind the data by more "
            "than one step's worth (a compressed replay, a restart); 1 s when caught up"
        ),
    )


class Settings(BaseSettings):
    """Everything a divergence process needs to know at start-up."""

    model_config = SettingsConfigDict(
        env_prefix="DIVERGENCE_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )
    db_path: Path = Path("divergence.duckdb")
    archive_dir: Path = Path("archive")
    catalog_path: Path | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65_535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    feeds: tuple[str, ...] = ()
    venues: dict[str, VenueSettings] = Field(default_factory=dict)
    duckdb_threads: int = Field(default=1, ge=1, le=64)
    sim: SimSettings = SimSettings()
    writer: WriterSettings = WriterSettings()
    basis: BasisSettings = BasisSettings()
    metrics: MetricsSettings = MetricsSettings()
    depth: DepthSettings = DepthSettings()
    webhooks: WebhookSettings = WebhookSettings()
    alerts: AlertSettings = AlertSettings()
    service: ServiceSettings = ServiceSettings()
    sql: SqlSettings = SqlSettings()
    export: ExportSettings = ExportSettings()


def load_settings(
    config_path: Path | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build settings from an optional TOML file, the environment and ``overrides``.

    ``overrides`` wins over everything (the CLI passes its flags here).
    """
    source = str(config_path) if config_path else "environment"
    data = load_toml(config_path, missing_key="--config") if config_path else {}
    data = _merge(data, dict(overrides or {}))
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise config_error_from(exc, source=source) from exc


def config_error_from(exc: ValidationError, *, source: str) -> ConfigError:
    """Turn pydantic's report into one ConfigError naming the most telling bad key."""
    key, message = describe_validation_error(exc)
    return ConfigError(message, key=key, source=source)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged
