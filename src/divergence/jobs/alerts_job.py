"""The alerts job: steps the alert engine behind the basis watermark and hands its
notifications to the webhook outbox (docs/alerts.md, "Running alerts in the service").

At construction (inside ``Runtime(settings)``, so a bad rules file stops start-up with a
:class:`~divergence.errors.ConfigError` naming the key) it loads ``alerts.rules_path``
or the built-in rules, disables the rules whose table this database lacks (a WARNING
lists their ids), and restores the engine from the store
(:func:`~divergence.alerts.store.load_state`).

A step:

1. reads the data watermark: the basis job's committed watermark (``job_state`` row
   ``basis``: every basis row with ``ts_event`` at or before it is written), floored to
   a whole second;
2. plans the instants (:func:`~divergence.jobs.alerts_inputs.plan_instants`): every
   whole second after the last stepped one up to the watermark, at most
   ``MAX_CATCHUP_INSTANTS`` per step (the job steps again at once while it is behind); a
   first start steps only at the watermark, it does not replay history. Behind by more
   than that (a replay faster than the engine, a restart), the instants are spaced
   wider, by up to ``alerts.max_stride_s``, so the engine catches up; a condition that
   starts and ends between two instants is then missed, and a firing is still dated by
   its data (``fired_at`` is the due time);
3. loads, once for the planned instants, each input table's rows in
   ``(first - LOOKBACK, last]`` (interval tables: the rows overlapping it), with the
   widest window :meth:`~divergence.alerts.engine.AlertEngine.input_windows` asks for;
   every rule cuts its own window at each instant, so this is the same as loading per
   instant;
4. per instant, in order: computes the engine step, then writes its notifications into
   the webhook outbox and :func:`~divergence.alerts.store.save_step` in **one**
   transaction. A crash keeps both or neither: a step whose notices are queued is saved,
   so a restart never recomputes it (its inputs may have changed meanwhile: late basis
   rows, metric tables catching up) and never queues a notice twice under another id.
   An instant that changed nothing (no alert, group, audit record or notification) is
   not saved, except the last of a step: a re-run after a crash recomputes the same
   nothing.

Analyst operations (acknowledge, assign, note) go through this job so they never
interleave with a step's compute-enqueue-save sequence.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import polars as pl

from divergence.alerts.engine import AlertEngine, StepResult
from divergence.alerts.evidence import evidence_spec
from divergence.alerts.model import Alert, AuditRecord, EngineState
from divergence.alerts.rules import RuleSet, load_default_rules, load_rules
from divergence.alerts.silences import Silence
from divergence.alerts.store import (
    active_silences,
    episodes,
    evidence_zip,
    load_state,
    save_case,
    save_step,
)
from divergence.bus import Bus
from divergence.clock import now_ns
from divergence.errors import NotFoundError, StoreError
from divergence.jobs.alerts_inputs import (
    MAX_CATCHUP_INSTANTS,
    batch_windows,
    data_watermark,
    load_inputs,
    plan_instants,
)
from divergence.sessions import MarketCalendar
from divergence.settings import AlertSettings
from divergence.store.db import AsyncStore, Store

log = logging.getLogger(__name__)


class Notifier(Protocol):
    """What the job uses of :class:`~divergence.webhooks.manager.WebhookService`."""

    def enqueue_in(
        self,
        store: Store,
        event_type: str,
        data: Mapping[str, Any],
        *,
        event_id: str,
        occurred_at_ns: int | None = None,
    ) -> object:
        """Queue a notification inside the caller's open transaction on ``store``."""
        ...

    def wake(self) -> None:
        """Deliver what was queued (after the commit)."""
        ...


@dataclass
class AlertsJobStats:
    steps: int = 0
    instants: int = 0
    saves: int = 0
    notifications: int = 0
    errors: int = 0
    last_instant_ns: int | None = None
    last_step_ms: float = 0.0
    disabled_rules: tuple[str, ...] = field(default_factory=tuple)


def load_ruleset(settings: AlertSettings) -> RuleSet:
    """The rules file of ``alerts.rules_path``, or the built-in defaults (ConfigError
    naming the key when the file is missing or invalid)."""
    if settings.rules_path is None:
        return load_default_rules()
    return load_rules(settings.rules_path)


def present_tables(store: Store) -> frozenset[str]:
    """The tables and views of this database (``alert_evidence_tables.sql``)."""
    rows = store.query(store.sql_text("alert_evidence_tables"))
    return frozenset(rows["table_name"].to_list()) if rows.height else frozenset()


def restrict_rules(rules: RuleSet, tables: frozenset[str]) -> tuple[RuleSet, tuple[str, ...]]:
    """``rules`` with the rules on absent tables disabled (logged at WARNING), and the
    ids of the rules that this disabled."""
    restricted = rules.restricted_to(tables)
    disabled = tuple(sorted(r.id for r in rules.active if r.table not in tables))
    if disabled:
        missing = sorted({r.table for r in rules.active if r.table not in tables})
        log.warning(
            "alert rules disabled: their tables do not exist in this database",
            extra={"rules": ",".join(disabled), "tables": ",".join(missing)},
        )
    return restricted, disabled


def _changed(previous: EngineState, result: StepResult) -> bool:
    state = result.state
    return bool(
        result.notifications
        or result.audit
        or result.ended
        or state.alerts != previous.alerts
        or state.groups != previous.groups
    )


class AlertsJob:
    """The live alert engine: steps after every ``alerts.step_ms``, persists, notifies."""

    def __init__(
        self,
        store: AsyncStore,
        settings: AlertSettings,
        *,
        notifier: Notifier,
        rules: RuleSet | None = None,
        calendar: MarketCalendar | None = None,
        clock: Callable[[], int] = now_ns,
        max_catchup: int = MAX_CATCHUP_INSTANTS,
        bus: Bus | None = None,
    ) -> None:
        """Load and restrict the rules and restore the state now (synchronously: this
        runs while the runtime is built, before any stage)."""
        self._store = store
        self._settings = settings
        self._notifier = notifier
        self._clock = clock
        self._max_catchup = max_catchup
        self.bus = bus
        """Where a saved change is announced (topic ``alerts``, for the live dashboards)."""
        loaded = load_ruleset(settings) if rules is None else rules
        restricted, disabled = restrict_rules(loaded, present_tables(store.store))
        self.engine = AlertEngine(restricted, calendar=calendar, state=load_state(store.store))
        self._lock = asyncio.Lock()
        self.stats = AlertsJobStats(
            last_instant_ns=self.engine.state.now_ns, disabled_rules=disabled
        )

    @property
    def store(self) -> AsyncStore:
        """The store the job persists to (the API reads episodes and silences there)."""
        return self._store

    async def run(self) -> None:
        """Step every ``step_ms`` (at once again while behind), until cancelled."""
        interval = self._settings.step_ms / 1000
        step: asyncio.Task[int] | None = None
        try:
            while True:
                started = time.monotonic()
                # Its own task: cancelling the job waits for a save in flight.
                step = asyncio.create_task(self._guarded_step())
                stepped = await asyncio.shield(step)
                remaining = interval - (time.monotonic() - started)
                behind = stepped >= self._max_catchup
                await asyncio.sleep(0 if behind else max(remaining, 0))
        finally:
            if step is not None and not step.done():
                await step

    async def _guarded_step(self) -> int:
        try:
            return await self.step()
        except StoreError:
            self.stats.errors += 1
            log.warning("alerts step failed; retrying at the next step", exc_info=True)
            return 0

    async def step(self) -> int:
        """Evaluate every planned instant up to the data watermark; returns how many."""
        started = time.monotonic()
        watermark = await self._store.read(data_watermark)
        instants = plan_instants(
            self.engine.state.now_ns,
            watermark,
            cap=self._max_catchup,
            max_stride_s=self._settings.max_stride_s,
        )
        if instants:
            windows = batch_windows(self.engine, instants)
            frames = await self._store.read(lambda s: load_inputs(s, windows))
            silences = await self._store.read(lambda s: active_silences(s, now_ns=instants[0]))
            for now in instants:
                async with self._lock:
                    await self._step_at(now, frames, silences, last=now == instants[-1])
        self.stats.steps += 1
        self.stats.last_step_ms = (time.monotonic() - started) * 1000
        return len(instants)

    async def _step_at(
        self,
        now: int,
        frames: Mapping[str, pl.LazyFrame],
        silences: Sequence[Silence],
        *,
        last: bool,
    ) -> None:
        """Compute, then enqueue and save in one transaction; the state is kept only when
        both succeeded."""
        previous = self.engine.state
        engine = self.engine
        notifier = self._notifier
        saved = False
        try:
            result = await self._store.read(
                lambda _: engine.step(frames, now_ns=now, silences=silences)
            )

            def enqueue(store: Store) -> None:
                for note in result.notifications:
                    notifier.enqueue_in(
                        store, note.type, note.data, event_id=note.id, occurred_at_ns=note.timestamp
                    )

            if last or _changed(previous, result):
                wall = self._clock()
                await self._store.write(
                    lambda s: save_step(
                        s,
                        previous,
                        result.state,
                        ended=result.ended,
                        audit=result.audit,
                        now_ns=wall,
                        also=enqueue,
                    )
                )
                self.stats.saves += 1
                saved = True
        except BaseException:
            self.engine.state = previous
            raise
        if saved:
            await self._announce(now, [a.fingerprint for a in result.audit])
        self.stats.instants += 1
        self.stats.notifications += len(result.notifications)
        self.stats.last_instant_ns = now
        if result.notifications:
            notifier.wake()

    # -- analyst operations -----------------------------------------------------------
    async def acknowledge(self, fp: str, *, actor: str, note: str = "") -> AuditRecord:
        return await self._case(
            lambda now: self.engine.acknowledge(fp, actor=actor, now_ns=now, note=note)
        )

    async def assign(self, fp: str, *, actor: str, assignee: str) -> AuditRecord:
        return await self._case(
            lambda now: self.engine.assign(fp, actor=actor, assignee=assignee, now_ns=now)
        )

    async def add_note(self, fp: str, *, actor: str, text: str) -> AuditRecord:
        return await self._case(
            lambda now: self.engine.add_note(fp, actor=actor, text=text, now_ns=now)
        )

    async def _case(self, operation: Callable[[int], AuditRecord]) -> AuditRecord:
        """Apply an analyst operation (wall-clock time) and persist it with its record."""
        async with self._lock:
            previous = self.engine.state
            now = self._clock()
            record = operation(now)
            state = self.engine.state
            try:
                await self._store.write(lambda s: save_case(s, state, record, now_ns=now))
            except BaseException:
                self.engine.state = previous
                raise
        await self._announce(now, [record.fingerprint])
        return record

    async def _announce(self, now: int, fingerprints: list[str]) -> None:
        """Tell the bus's ``alerts`` subscribers which alerts changed (after the save)."""
        if self.bus is not None:
            changed = sorted(set(fingerprints))
            await self.bus.publish("alerts", {"now_ns": now, "fingerprints": changed})

    # -- reads --------------------------------------------------------------------------
    def data_now(self) -> int:
        """The engine's clock: the instant of its last step (data time, a few seconds
        behind the wall clock live), or the wall clock before the first step. Silences
        start, list and expire on it, since the engine applies them at its steps."""
        return self.engine.state.now_ns or self._clock()

    def active_alerts(self) -> list[Alert]:
        """The engine's active alerts (pending, firing, stale-data), by fingerprint."""
        alerts = self.engine.state.alerts
        return [alerts[fp] for fp in sorted(alerts)]

    async def find_episode(self, fp: str, *, episode: int | None = None) -> Alert:
        """The active episode of ``fp`` (or the one that began at ``episode``), else the
        stored one; 404 when there is none."""
        alert = self.engine.state.alerts.get(fp)
        if alert is not None and episode in (None, alert.episode):
            return alert
        start, end = (0, 2**62) if episode is None else (episode, episode + 1)
        rows = await self._store.read(
            lambda s: episodes(s, start_ns=start, end_ns=end, fingerprint=fp, limit=1_000)
        )
        found = [a for a in rows if episode in (None, a.episode)]
        if not found:
            which = "" if episode is None else f" with episode {episode}"
            raise NotFoundError(f"no alert with fingerprint {fp!r}{which}")
        return found[0]

    async def evidence(self, fp: str, *, episode: int | None = None) -> bytes:
        """The evidence bundle (zip) of an episode, active or ended."""
        alert = await self.find_episode(fp, episode=episode)
        rule = self.engine.rules.rule(alert.rule_id)
        if rule is None:
            raise NotFoundError(f"rule {alert.rule_id!r} of alert {fp!r} is no longer loaded")
        spec = evidence_spec(alert, rule, now_ns=self.data_now())
        return await self._store.read(lambda s: evidence_zip(s, spec))

    def stats_dict(self) -> dict[str, Any]:
        """For /health."""
        s = self.stats
        return {
            "enabled": self._settings.enabled,
            "steps": s.steps,
            "instants": s.instants,
            "saves": s.saves,
            "notifications": s.notifications,
            "errors": s.errors,
            "last_instant_ns": s.last_instant_ns,
            "last_step_ms": round(s.last_step_ms, 3),
            "active_alerts": len(self.engine.state.alerts),
            "disabled_rules": list(s.disabled_rules),
        }
