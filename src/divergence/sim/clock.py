"""The clock the simulated venues' feeds measure their health on (a FeedClock).

It is the simulated market's time **as received**: the latest ``ts_event`` any attached
feed has taken in. A venue the scenario silences falls behind the others on that clock,
so it goes stale after the same number of sim seconds at any ``sim.speed``, and its feed
events are dated in the market time they describe (the alert engine steps on data
time). Reading the time from what was received, not from the server's latest tick,
keeps a consumer that lags the server (a slow flush) from looking like a silent venue.
Its resolution is the simulator's tick step: a silence of a few ticks is not news at
240x.
"""

from __future__ import annotations

from typing import Protocol

from divergence.sim.server import SimServer


class _Stats(Protocol):
    last_event_ts: int | None


class _Feed(Protocol):
    @property
    def stats(self) -> _Stats: ...


class SimFeedClock:
    """:class:`~divergence.clock.FeedClock` of the feeds attached with :meth:`attach`."""

    def __init__(self, server: SimServer) -> None:
        self._server = server
        self._feeds: list[_Feed] = []

    def attach(self, feed: _Feed) -> None:
        self._feeds.append(feed)

    def now_ns(self) -> int:
        seen = [f.stats.last_event_ts for f in self._feeds if f.stats.last_event_ts]
        return max(seen) if seen else self._server.scenario.start_ns

    def rate(self) -> float:
        return self._server.rate()

    def resolution_s(self) -> float:
        return self._server.tick_step_s()
