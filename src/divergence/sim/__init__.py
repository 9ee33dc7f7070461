"""The built-in simulator: a seeded, scripted market published as local websocket venues.

- :mod:`divergence.sim.scenario`: the timeline and speed schedule, as data;
- :mod:`divergence.sim.market`: the seeded price model, ticks as values;
- :mod:`divergence.sim.frames`: ticks to wire frames (the protocol);
- :mod:`divergence.sim.server`: the websocket server that paces and publishes them.

docs/simulator.md describes the scenario, the protocol and how to use it in tests.
"""
