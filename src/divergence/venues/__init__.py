"""Venue adapters: one module per protocol, each a pure ``parse`` from wire frames to events.

Adapters register in the ``divergence.adapters`` entry point group and are found through
:func:`divergence.venues.registry.load_adapter`; the socket lives in
:mod:`divergence.feeds.session`.
"""
