from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from divergence.catalog import Catalog, load_catalog
from divergence.clock import parse_rfc3339_ns
from divergence.content import default_catalog_path
from divergence.errors import ConfigError


def _write_variant(tmp_path: Path, old: str, new: str) -> Path:
    text = default_catalog_path().read_text()
    assert old in text, f"fixture text {old!r} not in catalog"
    path = tmp_path / "instruments.toml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_catalog_multiplier_history_is_effective_dated(catalog: Catalog) -> None:
    frame = catalog.multipliers_frame().filter(instrument_id="AAPLx@simx-b").sort("effective_from")
    assert frame["multiplier"].to_list() == [Decimal(1), Decimal("1.0033")]  # exact
    assert frame["effective_from"][1] == parse_rfc3339_ns("2025-08-11T00:00:00Z")


def test_catalog_real_bybit_multiplier_kept_exact(catalog: Catalog) -> None:
    token = next(t for t in catalog.token if t.id == "AAPLx@bybit")
    assert token.multipliers[-1].value == Decimal("1.0032690125398187")


def test_catalog_unknown_key_fails_naming_key_and_file(tmp_path: Path) -> None:
    path = _write_variant(tmp_path, 'venue_symbol = "TSLAXUSDT"', 'venue_sym = "TSLAXUSDT"')
    with pytest.raises(ConfigError) as err:
        load_catalog(path)
    assert err.value.source == str(path)
    assert err.value.key.startswith("token[") and err.value.key.endswith("].venue_sym")
    assert "unknown key" in str(err.value)


def test_catalog_unknown_underlying_fails(tmp_path: Path) -> None:
    path = _write_variant(
        tmp_path,
        'underlying = "TSLA"\nquote_currency = "USD"',
        'underlying = "TSLQ"\nquote_currency = "USD"',
    )
    with pytest.raises(ConfigError) as err:
        load_catalog(path)
    assert "unknown underlying 'TSLQ'" in str(err.value)
    assert err.value.key.endswith(".underlying")


def test_catalog_unknown_quote_currency_fails(tmp_path: Path) -> None:
    path = _write_variant(tmp_path, 'quote_currency = "USDT"', 'quote_currency = "USDX"')
    with pytest.raises(ConfigError, match="unknown currency 'USDX'"):
        load_catalog(path)


def test_catalog_multipliers_must_increase(tmp_path: Path) -> None:
    path = _write_variant(
        tmp_path, "effective_from = 2025-08-11T00:00:00Z", "effective_from = 2025-01-11T00:00:00Z"
    )
    with pytest.raises(ConfigError, match="effective_from must strictly increase"):
        load_catalog(path)


def test_catalog_token_on_reference_venue_fails(tmp_path: Path) -> None:
    path = _write_variant(
        tmp_path, 'id = "NVDAx@simdex"\nvenue = "simdex"', 'id = "NVDAx@simdex"\nvenue = "sim-sip"'
    )
    with pytest.raises(ConfigError, match="is a reference venue"):
        load_catalog(path)
