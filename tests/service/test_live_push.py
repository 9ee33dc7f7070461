"""/ws/live: a basis frame published on the bus reaches the browser as a delta."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import orjson
import pytest
from harness import MULTIPLIER, RunningServer, at, basis_frame, basis_row
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

NEW = 3_000  # seconds after T0, later than every seeded row


async def _recv(ws: object) -> dict[str, object]:
    message = await asyncio.wait_for(ws.recv(), timeout=10)  # type: ignore[attr-defined]
    decoded: dict[str, object] = orjson.loads(message)
    return decoded


async def _until(condition: Callable[[], bool]) -> None:
    """Await ``condition`` with a 10 s deadline."""
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


async def test_live_push_sends_delta_of_published_rows(server: RunningServer) -> None:
    async with connect(f"{server.ws_url}/ws/live?underlying=AAPL") as ws:
        hello = await _recv(ws)
        assert hello == {"type": "hello", "underlying": "AAPL", "status": None}
        frame = basis_frame(
            [
                basis_row("simx-a", NEW, 260.0),
                basis_row("simx-b", NEW + 1, 260.5, basis_bps=None, ref_state="stale"),
                {**basis_row("simx-a", NEW, 400.0), "underlying": "TSLA", "instrument_id": "T"},
            ]
        )
        await server.apublish("basis", frame)
        delta = await _recv(ws)
    assert delta["type"] == "delta" and delta["underlying"] == "AAPL"
    series = delta["series"]
    assert isinstance(series, dict)
    price, basis = series["price_per_share"], series["basis_bps"]
    ms = at(NEW) // 1_000_000
    assert price["reference"] == {"x": [ms, ms + 1000], "y": [260.0, 260.5]}
    assert price["simx-a"]["x"] == [ms]
    assert price["simx-a"]["y"] == pytest.approx([260.0 * 1.001])
    # the per-share price divides the USD mid by the multiplier k = 1.0033
    mid_b = MULTIPLIER["simx-b"] * 260.5 * (1 - 20 / 1e4)
    assert price["simx-b"]["y"] == pytest.approx([mid_b / MULTIPLIER["simx-b"]])
    assert basis == {"simx-a": {"x": [ms], "y": [10.0]}}  # simx-b has no basis (stale)
    assert delta["status"] == {"session": "post", "ref_state": "stale", "ts_ms": ms + 1000}


async def test_live_push_thins_large_deltas(server: RunningServer) -> None:
    rows = [basis_row("simx-a", NEW + i / 10, 260.0 + (i % 7)) for i in range(5_000)]
    async with connect(f"{server.ws_url}/ws/live?underlying=AAPL") as ws:
        await _recv(ws)
        await server.apublish("basis", basis_frame(rows))
        delta = await _recv(ws)
    xy = delta["series"]["price_per_share"]["simx-a"]  # type: ignore[index]
    hub_max = server.app.state.hub.max_points
    assert 2 <= len(xy["x"]) <= hub_max + 1
    assert xy["x"][-1] == at(NEW + 4_999 / 10) // 1_000_000  # the newest point is kept
    assert min(xy["y"]) == pytest.approx(260.0 * 1.001)
    assert max(xy["y"]) == pytest.approx(266.0 * 1.001)


async def test_live_push_client_disconnect_unsubscribes(server: RunningServer) -> None:
    async with connect(f"{server.ws_url}/ws/live?underlying=AAPL") as ws:
        await _recv(ws)
        assert server.hub_clients("AAPL") == 1
    await _until(lambda: server.hub_clients("AAPL") == 0)
    # publishing with nobody listening is harmless, and a new client still gets deltas
    await server.apublish("basis", basis_frame([basis_row("simx-a", NEW, 260.0)]))
    async with connect(f"{server.ws_url}/ws/live?underlying=AAPL") as ws:
        hello = await _recv(ws)
        assert hello["status"] == {
            "session": "post",
            "ref_state": "live",
            "ts_ms": at(NEW) // 10**6,
        }
        await server.apublish("basis", basis_frame([basis_row("simx-a", NEW + 5, 261.0)]))
        delta = await _recv(ws)
        assert delta["series"]["basis_bps"]["simx-a"]["x"] == [at(NEW + 5) // 10**6]  # type: ignore[index]


async def test_live_push_unknown_underlying_closes_with_4404(server: RunningServer) -> None:
    async with connect(f"{server.ws_url}/ws/live?underlying=NOPE") as ws:
        error = await _recv(ws)
        assert error["error"] == {"status": 404, "message": "unknown underlying 'NOPE'"}
        with pytest.raises(ConnectionClosed) as closed:
            await _recv(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404
