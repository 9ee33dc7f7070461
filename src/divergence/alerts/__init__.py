"""Alert rules and their lifecycle (issue #6): a pure engine stepped with an injected clock.

:mod:`.rules` loads and checks the rule language, :mod:`.conditions` evaluates a rule on
its metric table (polars), :mod:`.lifecycle` moves alerts between pending, firing,
stale-data and resolved, :mod:`.inhibition` and :mod:`.silences` decide what is
suppressed or annotated, :mod:`.grouping` turns changes into notifications, and
:mod:`.engine` runs one step of all that. docs/alerts.md describes the behaviour.
"""
