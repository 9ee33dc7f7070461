"""Evaluate one rule on its metric table at an instant ``now`` (pure polars).

:func:`compute_rule_status` returns one row per scope (the rule's ``by`` labels) that has
input rows in the rule's window, with ``state``:

- ``met``: the condition holds now; ``since`` is when the current run of met rows began,
  ``due_at`` when the for-duration (``for_s``, ``for_samples``) is or will be satisfied;
- ``not_met``: it does not; ``cleared_at`` is when it stopped;
- ``no_data`` (sample rules with a staleness limit): the scope's latest usable row is
  older than ``no_data_after_s``, so its state is unknown.

How a row counts (docs/alerts.md, "How a rule reads its rows"):

- rows outside the rule's ``sessions``, or whose reference state is outside the rule's
  ``reference`` without being a data problem (``closed`` for a live-reference rule),
  are **out of scope** and count as *not met*: the condition the rule describes does not
  apply there, so an alert resolves at the close;
- rows with a null value (after ``null_as``), or whose reference is ``stale`` or
  ``missing`` when the rule asks for another state, are **unknown** and are skipped: they
  leave the scope's last known state to age into ``no_data``;
- the rest are **judged** by the condition, the threshold scaled by the row's session.

Three ways to read rows over time (:mod:`divergence.alerts.sources`):

- *sample*: the latest counted row is the scope's state. Runs of met rows break where
  two rows are more than ``no_data_after_s`` apart;
- *hold* (``hold_s`` set): each met row is an occurrence that keeps the condition met
  for ``hold_s``; occurrences closer than that form one run;
- *interval*: a met row is active over ``[start, end + hold_s)``.

LIVE = BACKFILL: the status at ``now`` reads only rows with time in
``(now − rule.lookback_ns, now]`` (intervals: overlapping it), and this function
enforces that window itself. ``rule.needed_lookback_ns`` (docs/alerts.md) is the
shortest window for which the for-duration decision is exact.
"""

from __future__ import annotations

import polars as pl

from divergence.alerts.rules import Rule
from divergence.alerts.sources import REF_DATA_PROBLEMS, SourceSpec
from divergence.errors import ConfigError
from divergence.metrics.calendar_frames import with_session
from divergence.metrics.schemas import TS
from divergence.sessions import MarketCalendar, default_calendar

_KEY = "_k"
STATUS_COLUMNS = pl.Schema(
    {
        "state": pl.String(),
        "value": pl.Float64(),
        "value_text": pl.String(),
        "threshold": pl.Float64(),
        "session": pl.String(),
        "last_ts": TS,
        "since": TS,
        "due_at": TS,
        "cleared_at": TS,
        "run_len": pl.Int64(),
    }
)


def rule_status_schema(rule: Rule) -> pl.Schema:
    """The scope label columns of ``rule`` (String), then :data:`STATUS_COLUMNS`."""
    return pl.Schema({name: pl.String() for name in rule.scope_labels} | dict(STATUS_COLUMNS))


def compute_rule_status(
    frame: pl.LazyFrame,
    rule: Rule,
    *,
    now_ns: int,
    calendar: MarketCalendar | None = None,
) -> pl.LazyFrame:
    """One status row per scope of ``rule`` at ``now_ns``, sorted by the scope labels.

    ``frame`` is the rule's table (:data:`~divergence.alerts.sources.SOURCES`; extra
    columns ignored, ``optional`` ones may be absent). ``calendar`` labels rows with the
    XNYS session when the table has no session column and the rule needs one (default:
    :func:`~divergence.sessions.default_calendar`).
    """
    rows = _judged_rows(frame, rule, now_ns=now_ns, calendar=calendar)
    if rule.source.kind == "interval":
        status = _interval_status(rule, rows, now_ns)
    elif rule.condition.hold_s is not None:
        status = _hold_status(rule, rows, now_ns)
    else:
        status = _sample_status(rule, rows, now_ns)
    schema = rule_status_schema(rule)
    return status.select(pl.col(n).cast(t) for n, t in schema.items()).sort(
        list(rule.scope_labels) or ["state"]
    )


def _judged_rows(
    frame: pl.LazyFrame, rule: Rule, *, now_ns: int, calendar: MarketCalendar | None
) -> pl.LazyFrame:
    """The window's rows with ``_ts``/``_end`` (Int64 ns), ``_value``, ``_text``,
    ``_session``, ``_threshold``, ``_met``; unknown rows dropped, scope labels as String."""
    spec = rule.source
    frame = _with_optional(frame, spec)
    start = now_ns - rule.lookback_ns
    ts = pl.col(spec.time_column).cast(TS).cast(pl.Int64)
    if spec.end_column is None:
        frame = frame.filter((ts > start) & (ts <= now_ns))
    else:
        end = pl.col(spec.end_column).cast(TS).cast(pl.Int64)
        frame = frame.filter((ts <= now_ns) & (end.is_null() | (end > start)))
    for matcher in (*rule.where, *rule.scope):
        frame = frame.filter(matcher.expr(spec.labels.get(matcher.name, matcher.name)))
    frame = _with_session(frame, rule, calendar)
    labels = [
        pl.col(spec.labels[name]).cast(pl.String).fill_null("").alias(name)
        for name in rule.scope_labels
    ]
    end_expr = pl.col(spec.end_column).cast(TS).cast(pl.Int64) if spec.end_column else None
    valued = frame.with_columns(*_value_columns(rule, spec))
    prepared = valued.select(
        pl.lit(0).alias(_KEY),
        *labels,
        ts.alias("_ts"),
        (pl.lit(None, dtype=pl.Int64) if end_expr is None else end_expr).alias("_end"),
        "_session",
        "_value",
        "_text",
        "_threshold",
        _in_scope(rule, spec).alias("_in_scope"),
        _unknown(rule, spec).alias("_unknown"),
    )
    return prepared.filter(~(pl.col("_in_scope") & pl.col("_unknown"))).with_columns(
        (pl.col("_in_scope") & _condition(rule)).fill_null(False).alias("_met")
    )


def _with_optional(frame: pl.LazyFrame, spec: SourceSpec) -> pl.LazyFrame:
    present = set(frame.collect_schema().names())
    needed = {spec.time_column, *spec.labels.values(), *spec.columns}
    needed |= {c for c in (spec.end_column, spec.session_column, spec.ref_state_column) if c}
    missing = sorted(needed - present - set(spec.optional))
    if missing:
        raise ConfigError(
            f"input frame lacks column(s) {', '.join(missing)}",
            key=spec.table,
            source="alert engine inputs",
        )
    absent = [pl.lit(None, dtype=pl.String).alias(c) for c in spec.optional if c not in present]
    return frame.with_columns(absent) if absent else frame


def _with_session(frame: pl.LazyFrame, rule: Rule, calendar: MarketCalendar | None) -> pl.LazyFrame:
    spec = rule.source
    if spec.session_column is not None:
        return frame.with_columns(pl.col(spec.session_column).cast(pl.String).alias("_session"))
    if rule.sessions is None and not rule.condition.scale_by_session:
        return frame.with_columns(pl.lit(None, dtype=pl.String).alias("_session"))
    on = "_session_ts"
    labelled = with_session(
        frame.with_columns(pl.col(spec.time_column).cast(TS).alias(on)),
        calendar or default_calendar(),
        on=on,
    )
    return labelled.rename({"session": "_session"}).drop(on)


def _value_columns(rule: Rule, spec: SourceSpec) -> list[pl.Expr]:
    column = pl.col(rule.column)
    kind = spec.column_kind(rule.column)
    cond = rule.condition
    if kind == "numeric":
        value = column.cast(pl.Float64)
        if cond.null_as is not None:
            value = value.fill_null(cond.null_as)
        scale = pl.lit(1.0)
        if cond.scale_by_session:
            scale = pl.col("_session").replace_strict(
                dict(cond.scale_by_session), default=1.0, return_dtype=pl.Float64
            )
        return [
            value.alias("_value"),
            pl.lit(None, dtype=pl.String).alias("_text"),
            (scale * (cond.threshold or 0.0)).alias("_threshold"),
        ]
    if kind == "flag":
        value = column.cast(pl.Boolean).cast(pl.Float64)
        text = column.cast(pl.Boolean).cast(pl.String)
    else:
        value, text = pl.lit(None, dtype=pl.Float64), column.cast(pl.String)
    return [
        value.alias("_value"),
        text.alias("_text"),
        pl.lit(None, pl.Float64).alias("_threshold"),
    ]


def _in_scope(rule: Rule, spec: SourceSpec) -> pl.Expr:
    ok = pl.lit(True)
    if rule.sessions is not None:
        ok = ok & pl.col("_session").is_in(list(rule.sessions)).fill_null(False)
    if rule.reference is not None and spec.ref_state_column is not None:
        ref = pl.col(spec.ref_state_column).cast(pl.String)
        problem = ref.is_null() | ref.is_in(list(REF_DATA_PROBLEMS))
        ok = ok & (ref.is_in(list(rule.reference)).fill_null(False) | problem)
    return ok


def _unknown(rule: Rule, spec: SourceSpec) -> pl.Expr:
    unknown = pl.col("_text").is_null() if _is_text(rule) else pl.col("_value").is_null()
    if rule.reference is not None and spec.ref_state_column is not None:
        ref = pl.col(spec.ref_state_column).cast(pl.String)
        wanted = ref.is_in(list(rule.reference)).fill_null(False)
        unknown = unknown | (~wanted & (ref.is_null() | ref.is_in(list(REF_DATA_PROBLEMS))))
    return unknown


def _is_text(rule: Rule) -> bool:
    return rule.source.column_kind(rule.column) == "text"


def _condition(rule: Rule) -> pl.Expr:
    cond = rule.condition
    if cond.op in ("in", "not_in"):
        hit = pl.col("_text").is_in(list(cond.values or ()))
        return hit if cond.op == "in" else ~hit
    if cond.op in ("is_true", "is_false"):
        return pl.col("_value") == (1.0 if cond.op == "is_true" else 0.0)
    value = pl.col("_value").abs() if cond.abs else pl.col("_value")
    limit = pl.col("_threshold")
    compare = {">": value > limit, ">=": value >= limit, "<": value < limit, "<=": value <= limit}
    return compare[cond.op]


def _keys(rule: Rule) -> list[str]:
    return [_KEY, *rule.scope_labels]


def _last_run(rows: pl.LazyFrame, rule: Rule, brk: pl.Expr) -> pl.LazyFrame:
    """Per scope, the rows of its last run (``brk`` marks a row that starts a run)."""
    keys = _keys(rule)
    ordered = rows.sort([*keys, "_ts"], maintain_order=True)
    with_run = ordered.with_columns(brk.fill_null(True).cum_sum().over(keys).alias("_run"))
    return with_run.filter(pl.col("_run") == pl.col("_run").max().over(keys))


def _run_summary(rule: Rule) -> list[pl.Expr]:
    n = rule.condition.for_samples
    return [
        pl.col("_ts").first().alias("_first"),
        pl.col("_ts").last().alias("last_ts"),
        pl.col("_ts").slice(n - 1, 1).first().alias("_nth"),
        pl.len().cast(pl.Int64).alias("run_len"),
        pl.col("_met").last().alias("_met"),
        pl.col("_value").last().alias("value"),
        pl.col("_text").last().alias("value_text"),
        pl.col("_threshold").last().alias("threshold"),
        pl.col("_session").last().alias("session"),
    ]


def _due(rule: Rule) -> pl.Expr:
    for_ns = round(rule.condition.for_s * 1e9)
    due = pl.max_horizontal(pl.col("_first") + for_ns, pl.col("_nth"))
    return pl.when(pl.col("_nth").is_not_null()).then(due)


def _sample_status(rule: Rule, rows: pl.LazyFrame, now_ns: int) -> pl.LazyFrame:
    keys = _keys(rule)
    prev_ts = pl.col("_ts").shift(1).over(keys)
    brk = prev_ts.is_null() | (pl.col("_met") != pl.col("_met").shift(1).over(keys))
    stale = rule.no_data_after_ns
    if stale is not None:
        brk = brk | (pl.col("_ts") - prev_ts > stale)
    runs = _last_run(rows, rule, brk).group_by(keys).agg(_run_summary(rule))
    met = pl.col("_met")
    state = pl.when(met).then(pl.lit("met")).otherwise(pl.lit("not_met"))
    if stale is not None:
        state = pl.when(now_ns - pl.col("last_ts") > stale).then(pl.lit("no_data")).otherwise(state)
    return runs.with_columns(
        state.alias("state"),
        pl.when(met).then(pl.col("_first")).alias("since"),
        pl.when(met).then(_due(rule)).alias("due_at"),
        pl.when(~met).then(pl.col("_first")).alias("cleared_at"),
    )


def _hold_status(rule: Rule, rows: pl.LazyFrame, now_ns: int) -> pl.LazyFrame:
    keys = _keys(rule)
    hold = round((rule.condition.hold_s or 0.0) * 1e9)
    hits = rows.filter(pl.col("_met"))
    prev_ts = pl.col("_ts").shift(1).over(keys)
    brk = prev_ts.is_null() | (pl.col("_ts") - prev_ts > hold)
    runs = _last_run(hits, rule, brk).group_by(keys).agg(_run_summary(rule))
    met = pl.col("last_ts") + hold > now_ns
    return runs.with_columns(
        pl.when(met).then(pl.lit("met")).otherwise(pl.lit("not_met")).alias("state"),
        pl.when(met).then(pl.col("_first")).alias("since"),
        pl.when(met).then(_due(rule)).alias("due_at"),
        pl.when(~met).then(pl.col("last_ts") + hold).alias("cleared_at"),
    )


def _interval_status(rule: Rule, rows: pl.LazyFrame, now_ns: int) -> pl.LazyFrame:
    keys = _keys(rule)
    hold = round((rule.condition.hold_s or 0.0) * 1e9)
    for_ns = round(rule.condition.for_s * 1e9)
    hits = rows.filter(pl.col("_met")).with_columns((pl.col("_end") + hold).alias("_until"))
    active = pl.col("_until").is_null() | (pl.col("_until") > now_ns)
    latest = pl.col("_ts").arg_max()
    summary = (
        hits.sort([*keys, "_ts"], maintain_order=True)
        .group_by(keys)
        .agg(
            pl.col("_ts").filter(active).min().alias("since"),
            pl.col("_ts").filter(active).max().alias("_active_last"),
            pl.col("_ts").max().alias("_any_last"),
            active.sum().cast(pl.Int64).alias("_active_n"),
            pl.col("_until").filter(~active).max().alias("_ended"),
            pl.col("_value").get(latest).alias("value"),
            pl.col("_text").get(latest).alias("value_text"),
            pl.col("_threshold").get(latest).alias("threshold"),
            pl.col("_session").get(latest).alias("session"),
        )
    )
    met = pl.col("_active_n") > 0
    return summary.with_columns(
        pl.when(met).then(pl.lit("met")).otherwise(pl.lit("not_met")).alias("state"),
        pl.coalesce("_active_last", "_any_last").alias("last_ts"),
        (pl.col("since") + for_ns).alias("due_at"),
        pl.when(~met).then(pl.col("_ended")).alias("cleared_at"),
        pl.when(met).then(pl.col("_active_n")).otherwise(0).alias("run_len"),
    )
