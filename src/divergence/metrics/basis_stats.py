"""Rolling statistics of each listing's basis: z-score, EWMA, time beyond thresholds.

:func:`compute_basis_stats` takes rows of the ``basis`` table
(:data:`divergence.metrics.basis.BASIS_SCHEMA`, the mid basis of reference metrics.md
§1.1) and returns one row per **usable** observation: ``ref_state`` ``live`` or ``closed``
with a non-null ``basis_bps``. Stale and missing references (§1.3: no basis alerts on a
stale reference) and rows without a usable FX rate carry no basis and are excluded: they
neither get a row nor enter any window. Formulas, defaults (project choices; §9 has none
for these) and a worked example are in docs/metrics.md ("Basis statistics"); in short,
per ``instrument_id`` and for the observation ``b_i`` at ``t_i``::

    window      W_i = {j : t_i − window < t_j ≤ t_i, same reference run}
    z_i         = (b_i − mean(W_i)) / std(W_i)          std with ddof 1; null if |W_i| <
                                                        min_obs or std = 0
    ewma_i      = Σ_j 2^(−(t_i − t_j)/H) b_j / Σ_j 2^(−(t_i − t_j)/H)
                  over t_i − ewma_window < t_j ≤ t_i, same reference run (finite window)
    beyond_X_s  = t_i − (first observation of the current run of |b| > X), 0 if |b_i| ≤ X

A **reference run** is a maximal stretch of one instrument's rows with the same
``ref_kind``: the z-score and the EWMA never mix a basis against the NBBO with one against
the last close, whose levels jump at the session change. The durations ignore runs.

LIVE = BACKFILL: every output depends only on the instrument's usable rows in
``(t_i − lookback, t_i]`` (``BasisStatsParams.lookback_ns``; the default is
:data:`BASIS_STATS_LOOKBACK_NS`). The EWMA is therefore a *finite-window* EWMA, exact
under that lookback, and a duration that started before ``t_i − beyond_cap`` is reported
from the first observation inside the cap window with ``beyond_X_capped`` set (a lower
bound). Window sums are floating-point running sums: recomputing from a later start
changes results only by rounding (the tests hold it to 1e-12 relative, 1e-9 bps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

from divergence.clock import NS_PER_SECOND
from divergence.errors import ConfigError
from divergence.metrics.basis import TS

NS_PER_MINUTE = 60 * NS_PER_SECOND
USABLE_REF_STATES = ("live", "closed")
MAX_WINDOW_HALF_LIVES = 400
"""Longest EWMA window in half-lives: its anchored weights stay below 2^800 (finite)."""

_KEYS = ["instrument_id", "_run"]


@dataclass(frozen=True)
class BasisStatsParams:
    """Windows and thresholds of :func:`compute_basis_stats` (defaults: docs/metrics.md).

    - ``window_ns``: z-score window, 30 min;
    - ``min_obs``: fewest observations in the window for a z-score, 30;
    - ``half_life_ns``: EWMA half-life in time, 60 s;
    - ``ewma_window_ns``: the EWMA's truncation, 30 min = 30 half-lives (the weights it
      drops sum to at most 2^-30 ≈ 1e-9 of the total);
    - ``thresholds_bps``: the ±X bands timed by ``beyond_X_s``, 25, 50, 100, 200 bps;
    - ``beyond_cap_ns``: the longest duration measured exactly, 30 min.
    """

    window_ns: int = 30 * NS_PER_MINUTE
    min_obs: int = 30
    half_life_ns: int = 60 * NS_PER_SECOND
    ewma_window_ns: int = 30 * NS_PER_MINUTE
    thresholds_bps: tuple[float, ...] = (25.0, 50.0, 100.0, 200.0)
    beyond_cap_ns: int = 30 * NS_PER_MINUTE

    def __post_init__(self) -> None:
        for name in ("window_ns", "half_life_ns", "ewma_window_ns", "beyond_cap_ns"):
            if getattr(self, name) <= 0:
                _bad(name, getattr(self, name), "must be positive")
        if self.min_obs < 2:
            _bad("min_obs", self.min_obs, "must be at least 2 (a std needs two observations)")
        if self.ewma_window_ns > MAX_WINDOW_HALF_LIVES * self.half_life_ns:
            _bad("ewma_window_ns", self.ewma_window_ns, "must be at most 400 half-lives")
        bands = self.thresholds_bps
        if not bands or any(x <= 0 for x in bands) or len(set(bands)) != len(bands):
            _bad("thresholds_bps", bands, "must be distinct positive numbers")

    @property
    def lookback_ns(self) -> int:
        """How far back an output row looks: the longest of the three windows."""
        return max(self.window_ns, self.ewma_window_ns, self.beyond_cap_ns)


BASIS_STATS_LOOKBACK_NS = BasisStatsParams().lookback_ns
"""30 min: with default parameters a row at ``t`` depends only on rows in (t − 30 min, t]."""


def _bad(name: str, value: object, why: str) -> None:
    raise ConfigError(f"{why} (found {value!r})", key=f"basis_stats.{name}", source="params")


def band_name(threshold_bps: float) -> str:
    """Column stem of one threshold: 25.0 -> ``beyond_25``, 12.5 -> ``beyond_12p5``."""
    return "beyond_" + f"{threshold_bps:g}".replace(".", "p")


def basis_stats_schema(params: BasisStatsParams) -> pl.Schema:
    """The output columns of :func:`compute_basis_stats` for ``params``' thresholds."""
    columns: dict[str, pl.DataType] = {
        "ts_event": TS,
        "instrument_id": pl.String(),
        "venue": pl.String(),
        "underlying": pl.String(),
        "session": pl.String(),
        "ref_state": pl.String(),
        "ref_kind": pl.String(),
        "source_seq": pl.Int64(),
        "basis_bps": pl.Float64(),
        "window_obs": pl.Int64(),
        "mean_bps": pl.Float64(),
        "std_bps": pl.Float64(),
        "z": pl.Float64(),
        "ewma_bps": pl.Float64(),
    }
    for x in params.thresholds_bps:
        columns[f"{band_name(x)}_s"] = pl.Float64()
        columns[f"{band_name(x)}_capped"] = pl.Boolean()
    return pl.Schema(columns)


BASIS_STATS_SCHEMA = basis_stats_schema(BasisStatsParams())
"""Output columns with the default thresholds."""
_INPUT_SCHEMA = pl.Schema(list(BASIS_STATS_SCHEMA.items())[:9])
"""The ``basis`` columns the statistics read (and copy to the output)."""


def compute_basis_stats(
    basis: pl.LazyFrame, *, params: BasisStatsParams | None = None
) -> pl.LazyFrame:
    """Per usable basis row: window z-score, finite-window EWMA and durations beyond ±X.

    ``basis`` follows ``BASIS_SCHEMA`` (extra columns are ignored). The output follows
    :func:`basis_stats_schema`, ordered by (ts_event, source_seq, instrument_id).
    """
    p = params or BasisStatsParams()
    rows = (
        basis.filter(
            pl.col("ref_state").is_in(USABLE_REF_STATES) & pl.col("basis_bps").is_not_null()
        )
        .select(pl.col(name).cast(dtype) for name, dtype in _INPUT_SCHEMA.items())
        .sort(["instrument_id", "ts_event", "source_seq"])
        .with_columns(pl.col("ref_kind").rle_id().over("instrument_id").alias("_run"))
    )
    rows = _with_beyond(_with_ewma(_with_zscore(rows, p), p), p)
    return rows.select(basis_stats_schema(p).names()).sort(
        ["ts_event", "source_seq", "instrument_id"]
    )


def _window(ns: int) -> str:
    return f"{ns}ns"


def _with_zscore(rows: pl.LazyFrame, p: BasisStatsParams) -> pl.LazyFrame:
    """window_obs, mean_bps, std_bps over (t − window, t] of the run; z when defined."""
    b, w = pl.col("basis_bps"), _window(p.window_ns)
    out = rows.with_columns(
        b.is_not_null()
        .cast(pl.Int64)
        .rolling_sum_by("ts_event", w)
        .over(_KEYS)
        .alias("window_obs"),
        b.rolling_mean_by("ts_event", w).over(_KEYS).alias("mean_bps"),
        b.rolling_std_by("ts_event", w, min_samples=2).over(_KEYS).alias("std_bps"),
    )
    defined = (pl.col("window_obs") >= p.min_obs) & (pl.col("std_bps") > 0)
    z = (b - pl.col("mean_bps")) / pl.col("std_bps")
    return out.with_columns(pl.when(defined).then(z).alias("z"))


def _with_ewma(rows: pl.LazyFrame, p: BasisStatsParams) -> pl.LazyFrame:
    """ewma_bps: Σ 2^(−age/H)·b / Σ 2^(−age/H) over (t − ewma_window, t] of the run.

    Written as rolling sums of ``2^((t_j − a)/H)·b_j`` and ``2^((t_j − a)/H)`` for an
    anchor ``a`` (the common factor ``2^(−(t_i − a)/H)`` cancels). Anchors are the starts
    of segments of length ``2·L`` (L = ewma window), on two grids offset by ``L``: every
    window lies inside one segment of grid A or, if it starts before A's anchor, of grid B.
    So weights stay below ``2^(2L/H)`` and no row ever needs data from outside its window.
    """
    window, segment = p.ewma_window_ns, 2 * p.ewma_window_ns
    t = pl.col("ts_event").cast(pl.Int64)
    parts: list[pl.Expr] = []
    for name, offset in (("a", 0), ("b", window)):
        anchor = ((t - offset) // segment) * segment + offset
        weight = ((t - anchor).cast(pl.Float64) * (math.log(2) / p.half_life_ns)).exp()
        keys = [*_KEYS, anchor]
        num = (weight * pl.col("basis_bps")).rolling_sum_by("ts_event", _window(window))
        den = weight.rolling_sum_by("ts_event", _window(window))
        parts.append((num.over(keys) / den.over(keys)).alias(f"_ewma_{name}"))
        if name == "a":
            parts.append((t - window >= anchor).alias("_inside_a"))
    return (
        rows.with_columns(parts)
        .with_columns(
            pl.when(pl.col("_inside_a"))
            .then(pl.col("_ewma_a"))
            .otherwise(pl.col("_ewma_b"))
            .alias("ewma_bps")
        )
        .drop("_ewma_a", "_ewma_b", "_inside_a")
    )


def _with_beyond(rows: pl.LazyFrame, p: BasisStatsParams) -> pl.LazyFrame:
    """beyond_X_s and beyond_X_capped per threshold X (per instrument, across runs).

    The current run of |b| > X began at the first row after the last row within ±X. If no
    row within ±X lies in (t − cap, t], the run is older than what the window shows: the
    duration is counted from the window's first row and flagged capped.
    """
    t, cap = pl.col("ts_event"), p.beyond_cap_ns
    by = "instrument_id"
    first_in_window = t.rolling_min_by("ts_event", _window(cap)).over(by)
    columns: list[pl.Expr] = []
    for x in p.thresholds_bps:
        within = pl.col("basis_bps").abs() <= x
        last_within = pl.when(within).then(t).forward_fill().over(by)
        left_at = pl.when(within).then(t.shift(-1).over(by)).forward_fill().over(by)
        recent = (last_within > t - pl.duration(nanoseconds=cap)).fill_null(False)
        entered = pl.when(recent).then(left_at).otherwise(first_in_window)
        seconds = (t - entered).dt.total_nanoseconds().cast(pl.Float64) / NS_PER_SECOND
        stem = band_name(x)
        columns.append(pl.when(within).then(0.0).otherwise(seconds).alias(f"{stem}_s"))
        columns.append((~within & ~recent).alias(f"{stem}_capped"))
    return rows.with_columns(columns)
