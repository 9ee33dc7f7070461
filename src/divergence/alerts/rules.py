"""The alert rule language: pydantic models, strict loading and cross-checks.

A rules file (TOML) has ``[groups.<name>]`` notification policies, ``[[rules]]``,
``[[inhibit]]`` and ``[[annotate]]`` tables; docs/alerts.md describes every field. Every
table forbids unknown keys, and the cross-checks below (metric known, operator fits the
column, filters name real columns, group exists, window long enough) run at load, so a
bad rule fails at start-up with a :class:`~divergence.errors.ConfigError` naming the key,
e.g. ``rules[3].condition.threshold``. The built-in defaults are the package file
``default_rules.toml`` (:func:`load_default_rules`).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from divergence.alerts.matchers import Matcher
from divergence.alerts.sources import SOURCES, SourceSpec
from divergence.clock import NS_PER_SECOND
from divergence.errors import ConfigError
from divergence.events import Session
from divergence.validation import load_toml, validate_model

DEFAULT_RULES_PATH = Path(__file__).resolve().parent / "default_rules.toml"
_STRICT = ConfigDict(extra="forbid", frozen=True)
_ID = r"^[a-z][a-z0-9_]*$"
NUMERIC_OPS = (">", ">=", "<", "<=")
TEXT_OPS = ("in", "not_in")
FLAG_OPS = ("is_true", "is_false")
Op = Literal[">", ">=", "<", "<=", "in", "not_in", "is_true", "is_false"]
Severity = Literal["info", "warning", "critical"]
RefState = Literal["live", "stale", "closed", "missing"]
Mute = Literal["weekend", "holiday", "pre", "regular", "post", "overnight", "closed"]
RESERVED_LABELS = frozenset({"rule", "severity"})
SUMMARY_FIELDS = frozenset({"rule", "severity", "value", "threshold", "session"})
INTERVAL_MARGIN_NS = 60 * NS_PER_SECOND
"""Interval rules also read intervals that ended this long ago (to date their end)."""


def _ns(seconds: float) -> int:
    return round(seconds * NS_PER_SECOND)


class Condition(BaseModel):
    """When a row meets the rule, and for how long it must before the alert fires."""

    model_config = _STRICT
    op: Op
    threshold: float | None = None
    values: tuple[str, ...] | None = None
    abs: bool = False
    null_as: float | None = None
    for_s: float = Field(default=0.0, ge=0)
    for_samples: int = Field(default=1, ge=1)
    hold_s: float | None = Field(default=None, gt=0)
    scale_by_session: dict[Session, float] = Field(default_factory=dict)


class Rule(BaseModel):
    """One alert rule; see docs/alerts.md ("Rule fields")."""

    model_config = _STRICT
    id: str = Field(pattern=_ID)
    description: str = ""
    metric: str = Field(pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
    condition: Condition
    where: tuple[Matcher, ...] = ()
    scope: tuple[Matcher, ...] = ()
    by: tuple[str, ...] | None = None
    sessions: tuple[Session, ...] | None = None
    reference: tuple[RefState, ...] | None = None
    no_data_after_s: float | Literal["never"] | None = None
    lookback_s: float | None = Field(default=None, gt=0)
    severity: Severity = "warning"
    labels: dict[str, str] = Field(default_factory=dict)
    summary: str = ""
    group: str = Field(default="default", pattern=_ID)
    mute: tuple[Mute, ...] = ()
    enabled: bool = True

    @property
    def table(self) -> str:
        return self.metric.split(".", 1)[0]

    @property
    def column(self) -> str:
        return self.metric.split(".", 1)[1]

    @property
    def source(self) -> SourceSpec:
        return SOURCES[self.table]

    @property
    def scope_labels(self) -> tuple[str, ...]:
        """The label names an alert of this rule is kept per (its fingerprint)."""
        return self.source.default_by if self.by is None else self.by

    @property
    def no_data_after_ns(self) -> int | None:
        """Age after which a sample scope's latest usable row no longer counts (None: a
        state that holds until the next row, or an interval / hold rule)."""
        setting = self.no_data_after_s
        if self.source.kind == "interval" or self.condition.hold_s is not None:
            return None
        if isinstance(setting, str):  # "never"
            return None
        seconds = self.source.no_data_after_s if setting is None else setting
        return None if seconds is None else _ns(seconds)

    @property
    def lookback_ns(self) -> int:
        """How far before ``now`` input rows may matter (the rule's LOOKBACK)."""
        if self.lookback_s is not None:
            return _ns(self.lookback_s)
        return self.needed_lookback_ns

    @property
    def needed_lookback_ns(self) -> int:
        """The least LOOKBACK that decides the for-duration exactly (docs/alerts.md)."""
        cond = self.condition
        span = _ns(cond.for_s) + _ns(cond.hold_s or 0.0)
        if self.source.kind == "interval":
            return span + INTERVAL_MARGIN_NS
        if cond.hold_s is not None:
            return span
        stale = self.no_data_after_ns
        return span + (_ns(self.source.state_lookback_s) if stale is None else stale)


class GroupPolicy(BaseModel):
    """Alertmanager's grouping: ``by`` labels, ``wait_s``, ``interval_s``, ``repeat_s``."""

    model_config = _STRICT
    by: tuple[str, ...] = ("rule",)
    wait_s: float = Field(default=30.0, ge=0)
    interval_s: float = Field(default=300.0, gt=0)
    repeat_s: float = Field(default=14_400.0, gt=0)


class InhibitRule(BaseModel):
    """Firing alerts matching ``source`` suppress alerts matching ``target`` that carry
    the same values of every ``equal`` label."""

    model_config = _STRICT
    name: str = Field(pattern=_ID)
    source: tuple[Matcher, ...] = Field(min_length=1)
    target: tuple[Matcher, ...] = Field(min_length=1)
    equal: tuple[str, ...] = ()


class AnnotateRule(BaseModel):
    """Firing alerts matching ``source`` annotate (never suppress) matching targets."""

    model_config = _STRICT
    name: str = Field(pattern=_ID)
    source: tuple[Matcher, ...] = Field(min_length=1)
    target: tuple[Matcher, ...] = Field(min_length=1)
    equal: tuple[str, ...] = ()
    note: str = ""


class RuleSet(BaseModel):
    """A validated rules file."""

    model_config = _STRICT
    version: Literal[1] = 1
    groups: dict[str, GroupPolicy] = Field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    inhibit: tuple[InhibitRule, ...] = ()
    annotate: tuple[AnnotateRule, ...] = ()

    @property
    def active(self) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.enabled)

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    def group(self, name: str) -> GroupPolicy:
        return self.groups.get(name, GroupPolicy())

    def restricted_to(self, tables: set[str] | frozenset[str]) -> RuleSet:
        """A copy with the rules on tables outside ``tables`` disabled (not yet wired)."""
        rules = tuple(
            r if r.table in tables else r.model_copy(update={"enabled": False}) for r in self.rules
        )
        return self.model_copy(update={"rules": rules})

    def lookback_ns(self) -> dict[str, int]:
        """Per input table, the longest LOOKBACK of the enabled rules that read it."""
        out: dict[str, int] = {}
        for rule in self.active:
            out[rule.table] = max(out.get(rule.table, 0), rule.lookback_ns)
        return out


def load_rules(path: Path) -> RuleSet:
    """Read, validate and cross-check a rules file; problems name the key and the file."""
    return parse_rules(load_toml(path, missing_key="alerts.rules_path"), source=str(path))


def load_default_rules() -> RuleSet:
    """The built-in rules shipped in the package (``default_rules.toml``)."""
    return load_rules(DEFAULT_RULES_PATH)


def parse_rules(data: Mapping[str, Any], *, source: str) -> RuleSet:
    """Validate rules already read (from TOML, or the API's JSON body)."""
    rules = validate_model(RuleSet, dict(data), source=source)
    seen: set[str] = set()
    for i, rule in enumerate(rules.rules):
        if rule.id in seen:
            raise ConfigError(f"duplicate rule id {rule.id!r}", key=f"rules[{i}].id", source=source)
        seen.add(rule.id)
        check_rule(rule, key=f"rules[{i}]", source=source, groups=rules.groups)
    named = [("inhibit", i, r.name) for i, r in enumerate(rules.inhibit)]
    named += [("annotate", i, r.name) for i, r in enumerate(rules.annotate)]
    names: set[str] = set()
    for kind, i, name in named:
        if name in names:
            raise ConfigError(f"duplicate name {name!r}", key=f"{kind}[{i}].name", source=source)
        names.add(name)
    return rules


def check_rule(
    rule: Rule, *, key: str, source: str, groups: Mapping[str, GroupPolicy] | None = None
) -> None:
    """Cross-check one rule against the metric catalog; raise naming the bad key."""

    def fail(message: str, suffix: str) -> ConfigError:
        return ConfigError(message, key=f"{key}.{suffix}", source=source)

    spec = SOURCES.get(rule.table)
    if spec is None:
        raise fail(f"unknown table {rule.table!r} (known: {', '.join(sorted(SOURCES))})", "metric")
    kind = spec.column_kind(rule.column)
    if kind is None:
        known = ", ".join(spec.columns)
        raise fail(f"unknown column {rule.column!r} of {rule.table} (known: {known})", "metric")
    _check_condition(rule, spec, kind, fail)
    _check_filters(rule, spec, fail)
    if groups is not None and rule.group != "default" and rule.group not in groups:
        known = ", ".join(sorted({"default", *groups}))
        raise fail(f"unknown group {rule.group!r} (known: {known})", "group")
    _check_labels(rule, spec, fail)
    if rule.lookback_s is not None and rule.lookback_ns < rule.needed_lookback_ns:
        needed = rule.needed_lookback_ns / NS_PER_SECOND
        raise fail(f"must be at least {needed:g} s for this condition", "lookback_s")


def _check_condition(rule: Rule, spec: SourceSpec, kind: str, fail: Any) -> None:
    cond = rule.condition
    allowed = {"numeric": NUMERIC_OPS, "text": TEXT_OPS, "flag": FLAG_OPS}[kind]
    if cond.op not in allowed:
        ops = ", ".join(allowed)
        message = f"{cond.op!r} does not apply to {kind} column {rule.column!r} ({ops})"
        raise fail(message, "condition.op")
    if kind == "numeric" and cond.threshold is None:
        raise fail(f"required for op {cond.op!r}", "condition.threshold")
    if kind != "numeric":
        for name in ("threshold", "null_as", "abs", "scale_by_session"):
            if getattr(cond, name) not in (None, False, {}):
                raise fail(f"only applies to numeric columns, not {kind}", f"condition.{name}")
    if kind == "text" and not cond.values:
        raise fail(f"required (a non-empty list) for op {cond.op!r}", "condition.values")
    if kind != "text" and cond.values is not None:
        raise fail(f"only applies to ops in / not_in, not {cond.op!r}", "condition.values")
    if cond.for_samples > 1 and (spec.kind == "interval" or cond.hold_s is not None):
        raise fail("counts consecutive samples: needs a sample table and no hold_s", "for_samples")
    if cond.for_samples > 1 and rule.lookback_s is None:
        raise fail("must be set when condition.for_samples > 1", "lookback_s")
    for session, factor in cond.scale_by_session.items():
        if factor <= 0:
            raise fail(
                f"must be positive (found {factor})", f"condition.scale_by_session.{session}"
            )


def _check_filters(rule: Rule, spec: SourceSpec, fail: Any) -> None:
    columns = set(spec.columns) | set(spec.labels)
    for j, matcher in enumerate(rule.where):
        if matcher.name not in columns:
            raise fail(f"unknown column {matcher.name!r} of {spec.table}", f"where[{j}].name")
    for j, matcher in enumerate(rule.scope):
        if matcher.name not in spec.labels:
            known = ", ".join(spec.labels) or "none"
            raise fail(
                f"{matcher.name!r} is not a label of {spec.table} ({known})", f"scope[{j}].name"
            )
    for name in rule.by or ():
        if name not in spec.labels:
            known = ", ".join(spec.labels) or "none"
            raise fail(f"{name!r} is not a label of {spec.table} (known: {known})", "by")
    if rule.reference is not None and spec.ref_state_column is None:
        raise fail(f"{spec.table} has no reference state to filter on", "reference")


def _check_labels(rule: Rule, spec: SourceSpec, fail: Any) -> None:
    for name in rule.labels:
        if name in RESERVED_LABELS or name in spec.labels:
            raise fail("is set by the engine and cannot be a static label", f"labels.{name}")
        if not name.replace("_", "a").isalnum() or not name.islower():
            raise fail("must be a snake_case label name", f"labels.{name}")
    allowed = SUMMARY_FIELDS | set(spec.labels) | set(rule.labels)
    try:
        fields = [
            (name, conv) for _, name, _, conv in string.Formatter().parse(rule.summary) if name
        ]
    except ValueError as exc:
        raise fail(f"is not a valid template: {exc}", "summary") from exc
    for name, conv in fields:
        if name not in allowed or conv is not None:
            known = ", ".join(sorted(allowed))
            raise fail(f"unknown placeholder {{{name}}} (known: {known})", "summary")
