"""/api/charts reads the basis_1s twins of the chart queries for buckets of a second or more
(same figures as from basis), and basis itself below a second; over real HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from harness import at, make_runtime, running_server

from divergence.jobs.basis_rollup import refresh_range

PLANTED = -12345.0


def _ys(client: httpx.Client, **params: Any) -> dict[str, list[float]]:
    response = client.get("/api/charts/underlying", params={"underlying": "AAPL", **params})
    assert response.status_code == 200, response.text
    return {
        f"{panel['id']}/{trace['name']}": trace["y"]
        for panel in response.json()["panels"]
        if "figure" in panel
        for trace in panel["figure"]["data"]
        if "y" in trace
    }


def test_route_reads_the_rollup_for_whole_second_buckets(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path)  # basis rows written around the basis job: no rollup
    short = {"start": str(at(600)), "end": str(at(700)), "width": 1000}  # 0.1 s buckets
    with running_server(runtime) as server, httpx.Client(base_url=server.url) as client:
        raw_day, raw_short = _ys(client, width=10), _ys(client, **short)
        store = runtime.store.store
        with store.transaction():
            refresh_range(store, at(0), at(3_000))
        assert _ys(client, width=10) == raw_day  # through basis_1s: the same figures
        store.execute(f"UPDATE basis_1s SET px_lo = {PLANTED}, basis_lo = {PLANTED}")
        planted_day, planted_short = _ys(client, width=10), _ys(client, **short)
    assert PLANTED in planted_day["price/simx-a"] and PLANTED in planted_day["basis/simx-a"]
    assert planted_short == raw_short  # under a second per bucket: basis, never the rollup
