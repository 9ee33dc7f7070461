"""Inhibition (suppress) and annotation (explain) between alerts (pure).

Both follow Alertmanager's inhibit rules: a **firing** alert matching ``source`` acts on
every other alert matching ``target`` whose values of each ``equal`` label are the same
(a label counts only when both alerts carry it, non-empty). An inhibited alert is still
evaluated, kept and resolved, but is not notified. An annotated alert is notified as
usual and carries the source in ``explained_by`` and the rule's ``note`` in its
annotations: an active stablecoin depeg explains the basis alerts of listings quoted in
that coin without suppressing or duplicating them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from divergence.alerts.matchers import match_all
from divergence.alerts.model import Alert
from divergence.alerts.rules import AnnotateRule, InhibitRule


def _related(source: Alert, target: Alert, rule: InhibitRule | AnnotateRule) -> bool:
    if source.fingerprint == target.fingerprint:
        return False
    if not (match_all(rule.source, source.labels) and match_all(rule.target, target.labels)):
        return False
    for name in rule.equal:
        value = source.labels.get(name, "")
        if not value or value != target.labels.get(name, ""):
            return False
    return True


def _sources(
    alert: Alert, firing: Sequence[Alert], rules: Sequence[InhibitRule] | Sequence[AnnotateRule]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Fingerprints of the firing alerts that act on ``alert``, and the rules' names."""
    fps: set[str] = set()
    names: set[str] = set()
    for rule in rules:
        for source in firing:
            if _related(source, alert, rule):
                fps.add(source.fingerprint)
                names.add(rule.name)
    return tuple(sorted(fps)), tuple(sorted(names))


def apply_inhibition(
    alerts: Mapping[str, Alert],
    *,
    inhibit: Sequence[InhibitRule],
    annotate: Sequence[AnnotateRule],
) -> dict[str, Alert]:
    """Every alert with ``inhibited_by``, ``explained_by`` and ``notes`` recomputed."""
    firing = [a for a in alerts.values() if a.state == "firing"]
    notes = {rule.name: rule.note for rule in annotate}
    out: dict[str, Alert] = {}
    for fp, alert in alerts.items():
        inhibited_by, _ = _sources(alert, firing, inhibit)
        explained_by, names = _sources(alert, firing, annotate)
        out[fp] = replace(
            alert,
            inhibited_by=inhibited_by,
            explained_by=explained_by,
            notes=tuple((name, notes[name]) for name in names),
        )
    return out
