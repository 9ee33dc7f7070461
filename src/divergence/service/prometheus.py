"""The Prometheus text exposition format (version 0.0.4), written by hand (pure).

A :class:`Family` is one metric name with its type, help and samples; :func:`render_text`
joins families into the body ``GET /metrics`` answers. Label values are escaped
(backslash, double quote, newline); non-finite values print as ``NaN``/``+Inf``/``-Inf``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MetricType = Literal["counter", "gauge", "histogram"]
Labels = Mapping[str, str]


@dataclass
class Family:
    """One metric: ``samples`` are (suffix, labels, value); the suffix is ``""`` for plain
    counters and gauges, ``_bucket``/``_sum``/``_count`` for histograms."""

    name: str
    type: MetricType
    help: str
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)

    def add(self, value: float | None, suffix: str = "", **labels: str) -> None:
        """A sample; ``None`` (unknown) is skipped rather than exported as a number."""
        if value is not None:
            self.samples.append((suffix, labels, float(value)))


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def render_sample(name: str, labels: Mapping[str, str], value: float) -> str:
    if labels:
        inner = ",".join(f'{k}="{escape_label(v)}"' for k, v in labels.items())
        return f"{name}{{{inner}}} {format_value(value)}"
    return f"{name} {format_value(value)}"


def render_text(families: Iterable[Family]) -> str:
    """The exposition body: each family's HELP and TYPE, then its samples."""
    lines: list[str] = []
    for family in families:
        help_text = family.help.replace("\\", "\\\\").replace("\n", "\\n")
        lines.append(f"# HELP {family.name} {help_text}")
        lines.append(f"# TYPE {family.name} {family.type}")
        lines.extend(render_sample(family.name + s, lbl, v) for s, lbl, v in family.samples)
    return "\n".join(lines) + "\n"


def histogram_samples(
    family: Family,
    labels: dict[str, str],
    bounds: Sequence[float],
    counts: Sequence[int],
    total: float,
) -> None:
    """Cumulative ``_bucket`` samples (``counts`` per bound, then the overflow), ``_sum``
    and ``_count``, appended to ``family``."""
    running = 0
    for bound, count in zip(bounds, counts, strict=False):
        running += count
        family.add(running, "_bucket", **labels, le=format_value(bound))
    running += counts[len(bounds)]
    family.add(running, "_bucket", **labels, le="+Inf")
    family.add(total, "_sum", **labels)
    family.add(running, "_count", **labels)
