"""Issue #3 acceptance, run the way a user runs it.

Three ``divergence venue-server`` processes speak Kraken v2, Bybit v5 and Ethereum
JSON-RPC on 127.0.0.1; ``divergence serve`` is configured to stream all three. Then:

1. all three ingest into DuckDB and ``/api/feeds`` shows them healthy;
2. one server is killed: its feed shows ``down``; the server comes back on the same
   port and the feed recovers by itself;
3. after a clean stop, ``feed_events`` holds the outage (disconnect, then a connect
   whose value is the seconds down) and ``venue_listings`` the discovered instruments.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from divergence.content import recordings_dir

VENUES = {"kraken": "kraken", "bybit": "bybit", "uniswap-eth": "uniswap_v3"}
ENV = {**os.environ, "DIVERGENCE_LOG_LEVEL": "WARNING", "DIVERGENCE_SERVICE__DEV_MODE": "true"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _start_server(adapter: str, port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "divergence", "venue-server", adapter, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=ENV,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # printed once the socket is bound
    assert f"127.0.0.1:{port}" in line, line
    return proc


def _until(what: str, check: Callable[[], Any], deadline_s: float = 45.0) -> Any:
    """Poll the API (what a user or a monitor sees) until ``check()`` returns a value."""
    deadline = time.monotonic() + deadline_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except OSError:
            last = None  # the service is still starting
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached within {deadline_s} s")


@pytest.fixture
def servers() -> Iterator[dict[str, tuple[int, subprocess.Popen[str]]]]:
    running = {v: (_free_port(), a) for v, a in VENUES.items()}
    procs = {v: (port, _start_server(a, port)) for v, (port, a) in running.items()}
    yield procs
    for _, proc in procs.values():
        proc.kill()
        proc.wait()


@pytest.mark.slow
def test_serve_three_venues_recovers_from_a_killed_server(
    servers: dict[str, tuple[int, subprocess.Popen[str]]], tmp_path: Path
) -> None:
    http = _free_port()
    lines = [
        f'db_path = "{tmp_path / "venues.duckdb"}"',
        f'archive_dir = "{tmp_path / "archive"}"',
        f'catalog_path = "{recordings_dir() / "catalog.toml"}"',
        f"port = {http}",
        'feeds = ["kraken", "bybit", "uniswap-eth"]',
    ]
    for venue, (port, _) in servers.items():
        lines += [
            f'[venues."{venue}"]',
            f'url = "ws://127.0.0.1:{port}/"',
            f'rest_url = "http://127.0.0.1:{port}"',
            "backoff_initial_s = 0.1",
            "backoff_max_s = 0.5",
        ]
    config = tmp_path / "venues.toml"
    config.write_text("\n".join(lines) + "\n")
    serve = subprocess.Popen(
        [sys.executable, "-m", "divergence", "serve", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    api = f"http://127.0.0.1:{http}"
    try:
        feeds = _until(
            "three healthy feeds with data",
            lambda: (
                (r := _get(f"{api}/api/feeds"))["healthy"]
                and all(any(s["messages"] > 0 for s in f["streams"]) for f in r["feeds"])
                and len(r["feeds"]) == 3
                and r
            ),
        )
        by_venue = {f["venue"]: f for f in feeds["feeds"]}
        assert set(by_venue) == set(VENUES)
        assert {f["state"] for f in feeds["feeds"]} == {"up"}
        assert by_venue["kraken"]["gaps"] == 0 and by_venue["bybit"]["checksum_mismatches"] == 0
        books = {
            s["stream"]: s["book"]
            for f in feeds["feeds"]
            for s in f["streams"]
            if s["stream"].startswith("book:")
        }
        assert books and set(books.values()) == {"valid"}

        # kill the Bybit server: its feed goes down, the others stay up
        port, proc = servers["bybit"]
        proc.kill()
        proc.wait()
        down = _until(
            "bybit down",
            lambda: (
                next(f for f in _get(f"{api}/api/feeds")["feeds"] if f["venue"] == "bybit")["state"]
                == "down"
            ),
        )
        assert down
        servers["bybit"] = (port, _start_server("bybit", port))
        recovered = _until(
            "bybit recovered",
            lambda: (
                (f := next(f for f in _get(f"{api}/api/feeds")["feeds"] if f["venue"] == "bybit"))[
                    "state"
                ]
                == "up"
                and f["connects"] >= 2
                and all(s["book"] == "valid" for s in f["streams"] if s["book"] is not None)
                and f
            ),
        )
        assert recovered["disconnects"] >= 1
    finally:
        serve.send_signal(signal.SIGINT)
        _, err = serve.communicate(timeout=60)
    assert serve.returncode in (0, 130), err[-2000:]

    with duckdb.connect(str(tmp_path / "venues.duckdb"), read_only=True) as con:
        counts = dict(con.sql("SELECT venue, count(*) FROM book_levels GROUP BY venue").fetchall())
        pools = con.sql("SELECT count(*) FROM pool_states WHERE venue = 'uniswap-eth'").fetchall()[
            0
        ]
        outage = con.sql(
            "SELECT event, detail, value FROM feed_events WHERE venue = 'bybit'"
            " AND event IN ('connect', 'disconnect') ORDER BY ingest_seq"
        ).fetchall()
        listings = con.sql(
            "SELECT venue, venue_symbol, CAST(multiplier AS VARCHAR) FROM venue_listings"
            " WHERE in_catalog ORDER BY venue, venue_symbol"
        ).fetchall()
        history = con.sql(
            "SELECT source, CAST(multiplier AS VARCHAR) FROM multiplier_history"
            " WHERE instrument_id = 'AAPLx@bybit' AND source LIKE 'venue:%'"
        ).fetchall()
    assert counts["kraken"] > 0 and counts["bybit"] > 0
    assert pools is not None and pools[0] > 0
    kinds = [row[0] for row in outage]
    assert kinds[:3] == ["connect", "disconnect", "connect"]
    assert outage[2][2] > 0 and "down" in outage[2][1]  # seconds down, stated in the detail
    assert ("bybit", "AAPLXUSDT", "1.003269012539818700") in listings
    assert history == [("venue:bybit", "1.003269012539818700")]
    assert any(v == "kraken" and s == "AAPLx/USD" for v, s, _ in listings)
