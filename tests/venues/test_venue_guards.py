"""Guards for venues: every built-in adapter has a recording, a protocol server, a replay
test and a section in docs/venues.md; adapters keep the declarative contract."""

from __future__ import annotations

import ast
import importlib
import inspect
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from pydantic import SecretStr

from divergence.catalog import load_catalog
from divergence.content import recordings_dir
from divergence.feeds import books, pipeline, session
from divergence.settings import VenueSettings
from divergence.venue_servers import SERVER_GROUP
from divergence.venue_servers.recording import load_recording
from divergence.venues.contract import stream_of
from divergence.venues.registry import ADAPTER_GROUP, load_adapter

ROOT = Path(__file__).resolve().parents[2]
BUILT_IN = sorted(
    ep.name
    for ep in entry_points(group=ADAPTER_GROUP)
    if ep.value.startswith("divergence.") and ep.name != "sim"
)
TEST_DIRS = {
    "kraken": "kraken",
    "bybit": "bybit",
    "uniswap_v3": "uniswap",
    "alpaca": "alpaca",
    "massive": "massive",
}


def test_venue_guards_built_in_adapters_are_registered() -> None:
    assert BUILT_IN == ["alpaca", "bybit", "kraken", "massive", "uniswap_v3"]


@pytest.mark.parametrize("name", BUILT_IN)
def test_venue_guards_recording_server_and_replay_test(name: str) -> None:
    servers = {ep.name: ep for ep in entry_points(group=SERVER_GROUP)}
    assert name in servers, f"no protocol server registered for {name}"
    module = importlib.import_module(servers[name].load().__module__)
    recording = recordings_dir() / module.RECORDING
    frames = load_recording(recording)
    assert frames, f"{recording} is empty"
    assert any(f.at_ms > 0 for f in frames), "a recording streams after its initial state"
    folder = ROOT / "tests" / "venues" / TEST_DIRS[name]
    replay_tests = [
        line
        for path in sorted(folder.glob("test_*.py"))
        for line in path.read_text().splitlines()
        if line.startswith(("def test_", "async def test_")) and "replay" in line
    ]
    assert replay_tests, f"{folder} has no replay test"
    assert f"`{name}`" in (ROOT / "docs" / "venues.md").read_text()


def _imported_modules(source: str) -> set[str]:
    """Every module named by an import statement of ``source``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_venue_guards_import_check_sees_a_socket_import() -> None:
    assert _imported_modules("import socket\nfrom urllib.request import urlopen\n") == {
        "socket",
        "urllib.request",
    }
    assert _imported_modules('URL = "wss://socket.example"\n') == set()


@pytest.mark.parametrize("name", BUILT_IN)
def test_venue_guards_adapter_contract(name: str) -> None:
    catalog = load_catalog(recordings_dir() / "catalog.toml")
    venue = next(v for v in catalog.venue if v.adapter == name)
    adapter = load_adapter(name)(venue, catalog)
    configure = getattr(adapter, "configure", None)
    if configure is not None:  # venues that authenticate take credentials from settings
        configure(VenueSettings(api_key=SecretStr("k"), api_secret=SecretStr("s")))
    streams = adapter.streams()
    assert streams and len(set(streams)) == len(streams)
    for stream in streams:
        assert adapter.resync_messages(stream), f"{name} cannot resync {stream}"
    assert adapter.subscribe_messages()
    # parse is declared pure: it does no I/O, so its module imports no network library
    module = importlib.import_module(type(adapter).__module__)
    imported = _imported_modules(inspect.getsource(module))
    network = {"websockets", "urllib", "socket", "http", "httpx", "aiohttp", "requests", "ssl"}
    assert not {m.split(".")[0] for m in imported} & network, sorted(imported)


def test_venue_guards_runtime_never_names_a_venue() -> None:
    source = "".join(inspect.getsource(m) for m in (books, pipeline, session))
    for name in [*BUILT_IN, "Kraken", "Bybit", "Uniswap", "Alpaca", "Massive"]:
        assert name not in source, f"the generic runtime mentions {name}"
    assert stream_of  # the runtime attributes events to streams through the contract only
