from __future__ import annotations

from pathlib import Path

import pytest

from divergence.errors import ConfigError
from divergence.settings import load_settings


def test_settings_env_nested_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIVERGENCE_SIM__SPEED", "12.5")
    monkeypatch.setenv("DIVERGENCE_PORT", "8123")
    settings = load_settings()
    assert settings.sim.speed == 12.5
    assert settings.port == 8123


def test_settings_unknown_env_key_fails_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIVERGENCE_SIM__SPEEED", "3")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert err.value.key == "sim.speeed"
    assert "unknown key" in str(err.value)


def test_settings_bad_value_in_file_names_key_and_file(tmp_path: Path) -> None:
    config = tmp_path / "divergence.toml"
    config.write_text('port = 8000\n[writer]\nflush_rows = "lots"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(config)
    assert err.value.key == "writer.flush_rows"
    assert err.value.source == str(config)
    assert "'lots'" in str(err.value)


def test_settings_unknown_top_level_key_in_file(tmp_path: Path) -> None:
    config = tmp_path / "divergence.toml"
    config.write_text('db_pth = "x.duckdb"\n')
    with pytest.raises(ConfigError, match=r"db_pth: unknown key"):
        load_settings(config)


def test_settings_overrides_win_over_file(tmp_path: Path) -> None:
    config = tmp_path / "divergence.toml"
    config.write_text("[sim]\nspeed = 2.0\nseed = 11\n")
    settings = load_settings(config, overrides={"sim": {"speed": 9.0}})
    assert (settings.sim.speed, settings.sim.seed) == (9.0, 11)


def test_settings_missing_file_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.toml")
