"""The stale-stream threshold: learned cadence between a floor and a ceiling, per session."""

from __future__ import annotations

from divergence.feeds.health import StreamStats
from divergence.settings import VenueSettings


def test_stale_threshold_uses_the_adapter_floor_until_a_slow_cadence_is_learned() -> None:
    settings = VenueSettings(stale_factor=20, stale_max_s=900)
    stream = StreamStats()
    assert stream.threshold_s(settings, "regular", 300.0) == 300.0  # nothing learned yet
    stream.gap_ewma_s = 0.1  # a book ticking ten times a second
    assert stream.threshold_s(settings, "regular", 10.0) == 10.0
    stream.gap_ewma_s = 30.0  # an illiquid symbol trading twice a minute
    assert stream.threshold_s(settings, "regular", 300.0) == 600.0
    stream.gap_ewma_s = 3_600.0  # never longer than the ceiling
    assert stream.threshold_s(settings, "regular", 300.0) == 900.0


def test_stale_threshold_settings_override_the_adapter_and_vary_by_session() -> None:
    stream = StreamStats(gap_ewma_s=0.01)
    explicit = VenueSettings(stale_min_s=2.0)
    assert explicit.stale_min_s is not None
    assert stream.threshold_s(explicit, "regular", 300.0) == 2.0
    per_session = VenueSettings(stale_after_s={"regular": 3.0, "closed": 120.0})
    assert stream.threshold_s(per_session, "regular", 10.0) == 3.0
    assert stream.threshold_s(per_session, "closed", 10.0) == 120.0
    assert stream.threshold_s(per_session, "post", 10.0) == 10.0  # no entry: adapter floor
