"""Serialise events for the bus and for fixtures: JSON with decimals as strings."""

from __future__ import annotations

import msgspec

from divergence.events import Event

_encoder = msgspec.json.Encoder(decimal_format="string")
_decoder = msgspec.json.Decoder(Event)
_list_decoder = msgspec.json.Decoder(list[Event])


def encode_event(event: Event) -> bytes:
    """One event as JSON bytes; decimals keep their exact digits."""
    return _encoder.encode(event)


def decode_event(data: bytes) -> Event:
    """The inverse of :func:`encode_event`."""
    event: Event = _decoder.decode(data)
    return event


def encode_events(events: list[Event]) -> bytes:
    return _encoder.encode(events)


def decode_events(data: bytes) -> list[Event]:
    events: list[Event] = _list_decoder.decode(data)
    return events
