"""Access control without a server: roles, the route policy, keys, settings and start-up
refusals, and ``divergence keys``."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from divergence.auth.checks import check_service_settings
from divergence.auth.config import ApiKeySpec, ServiceSettings
from divergence.auth.keys import EXAMPLE_KEY, KeyRing, Principal, key_hash, new_key
from divergence.auth.policy import ANALYST_ROUTES, OPEN_ROUTES, WEBSOCKET, required_role
from divergence.auth.roles import Role
from divergence.cli import app as cli_app
from divergence.errors import ConfigError
from divergence.service.app import create_app
from divergence.settings import Settings, VenueSettings, load_settings


def spec(name: str, role: str, key: str) -> ApiKeySpec:
    return ApiKeySpec.model_validate({"name": name, "role": role, "sha256": key_hash(key)})


def service(*specs: ApiKeySpec, dev: bool = False, cors: tuple[str, ...] = ()) -> Settings:
    return Settings(service=ServiceSettings(dev_mode=dev, api_keys=specs, cors_origins=cors))


# -- roles and the route policy --------------------------------------------------------------
def test_roles_are_ordered_viewer_analyst_admin() -> None:
    allowed = {(held, needed) for held in Role for needed in Role if held.allows(needed)}
    assert allowed == {
        (Role.VIEWER, Role.VIEWER),
        (Role.ANALYST, Role.VIEWER),
        (Role.ANALYST, Role.ANALYST),
        (Role.ADMIN, Role.VIEWER),
        (Role.ADMIN, Role.ANALYST),
        (Role.ADMIN, Role.ADMIN),
    }


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("GET", "/health", None),
        ("GET", "/login", None),
        ("POST", "/login", None),
        ("POST", "/logout", None),
        ("POST", "/health", Role.ADMIN),
        ("GET", "/api/basis", Role.VIEWER),
        ("head", "/api/basis", Role.VIEWER),
        ("GET", "/openapi.json", Role.VIEWER),
        ("GET", "/docs", Role.VIEWER),
        ("GET", "/static/{path:path}", Role.VIEWER),
        ("GET", "/metrics", Role.VIEWER),
        ("GET", "/api/queries/{name}", Role.VIEWER),
        (WEBSOCKET, "/ws/live", Role.VIEWER),
        ("POST", "/api/sql", Role.ANALYST),
        ("post", "/api/alerts/{fp}/acknowledge", Role.ANALYST),
        ("POST", "/api/alerts/{fp}/assign", Role.ANALYST),
        ("POST", "/api/alerts/{fp}/notes", Role.ANALYST),
        ("POST", "/api/alerts/silences", Role.ADMIN),
        ("DELETE", "/api/alerts/silences/{silence_id}", Role.ADMIN),
        ("POST", "/api/webhooks/endpoints", Role.ADMIN),
        ("PATCH", "/api/webhooks/endpoints/{endpoint_id}", Role.ADMIN),
        ("POST", "/api/webhooks/endpoints/{endpoint_id}/replay", Role.ADMIN),
        ("PUT", "/api/something-new", Role.ADMIN),
        ("OPTIONS", "/api/basis", Role.ADMIN),
        ("TRACE", "/health", Role.ADMIN),
        ("BREW", "/", Role.ADMIN),
        ("POST", "/api/sql/", Role.ADMIN),  # not the analyst route: a different template
    ],
)
def test_required_role(method: str, path: str, role: Role | None) -> None:
    assert required_role(method, path) == role


def test_policy_tables_only_name_known_methods() -> None:
    assert {m for m, _ in OPEN_ROUTES} == {"GET", "HEAD", "POST"}
    assert {m for m, _ in ANALYST_ROUTES} == {"POST"}
    assert {p for _, p in OPEN_ROUTES} == {"/health", "/login", "/logout"}


# -- keys ------------------------------------------------------------------------------------
def test_new_keys_are_random_256_bit_tokens() -> None:
    a, b = new_key(), new_key()
    assert a != b
    assert a.startswith("dvg_") and len(a) == 4 + 43
    assert key_hash(a) == hashlib.sha256(a.encode()).hexdigest()


def test_key_ring_finds_the_holder_by_hash_only() -> None:
    viewer, admin = new_key(), new_key()
    ring = KeyRing([spec("desk", "viewer", viewer), spec("ops", "admin", admin)])
    assert ring.lookup(viewer) == Principal("desk", Role.VIEWER)
    assert ring.lookup(admin) == Principal("ops", Role.ADMIN)
    assert ring.lookup(key_hash(admin)) is None  # the hash is not the key
    assert ring.lookup(admin + " ") is None
    assert ring.lookup("") is None
    assert ring.lookup("x" * 100_000) is None


def test_key_spec_normalises_the_hash_and_refuses_a_plain_key() -> None:
    key = new_key()
    upper = ApiKeySpec.model_validate(
        {"name": "ops", "role": "admin", "sha256": key_hash(key).upper()}
    )
    assert upper.sha256 == key_hash(key)
    with pytest.raises(ValueError, match="sha256"):
        ApiKeySpec.model_validate({"name": "ops", "role": "admin", "sha256": key})
    with pytest.raises(ValueError, match="role"):
        ApiKeySpec.model_validate({"name": "ops", "role": "root", "sha256": key_hash(key)})


def test_keys_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    key = new_key()
    entries = [{"name": "ops", "role": "admin", "sha256": key_hash(key)}]
    monkeypatch.setenv("DIVERGENCE_SERVICE__API_KEYS", orjson.dumps(entries).decode())
    settings = load_settings()
    assert settings.service.api_keys == (spec("ops", "admin", key),)
    assert key not in repr(settings)


def test_keys_from_a_toml_file(tmp_path: Path) -> None:
    key = new_key()
    config = tmp_path / "d.toml"
    config.write_text(
        f'[[service.api_keys]]\nname = "desk"\nrole = "analyst"\nsha256 = "{key_hash(key)}"\n'
    )
    assert load_settings(config).service.api_keys == (spec("desk", "analyst", key),)


# -- start-up refusals -----------------------------------------------------------------------
def test_no_keys_outside_dev_mode_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError) as err:
        create_app(Settings())
    assert err.value.key == "service.api_keys"
    assert "divergence keys new" in err.value.message
    assert "service.dev_mode = true" in err.value.message


@pytest.mark.parametrize(
    "word",
    ["changeme", "change-me", "password", "secret", "test", "dev", "", "Password", "CHANGEME"],
)
def test_placeholder_key_is_refused_outside_dev(word: str) -> None:
    settings = service(spec("ops", "admin", new_key()), spec("lazy", "viewer", word))
    with pytest.raises(ConfigError) as err:
        check_service_settings(settings)
    assert err.value.key == "service.api_keys[1].sha256"
    assert "'lazy' is a placeholder" in err.value.message
    check_service_settings(service(spec("lazy", "viewer", word), dev=True))  # dev: allowed


def test_the_documentation_example_key_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"api_keys\[0\]\.sha256"):
        check_service_settings(service(spec("copied", "admin", EXAMPLE_KEY)))


def test_placeholder_venue_credential_is_refused_outside_dev() -> None:
    venue = VenueSettings.model_validate({"api_key": "CHANGEME", "api_secret": "real-" + "x" * 30})
    settings = Settings(
        venues={"alpaca": venue},
        service=ServiceSettings(api_keys=(spec("ops", "admin", new_key()),)),
    )
    with pytest.raises(ConfigError) as err:
        check_service_settings(settings)
    assert err.value.key == "venues.alpaca.api_key"
    assert "CHANGEME" not in str(err.value)  # never echo a secret


def test_duplicate_names_and_hashes_are_refused_even_in_dev() -> None:
    key = new_key()
    with pytest.raises(ConfigError) as err:
        check_service_settings(
            service(spec("ops", "admin", new_key()), spec("ops", "viewer", new_key()), dev=True)
        )
    assert err.value.key == "service.api_keys[1].name"
    with pytest.raises(ConfigError) as err:
        check_service_settings(service(spec("a", "admin", key), spec("b", "viewer", key)))
    assert err.value.key == "service.api_keys[1].sha256"
    assert "api_keys[0]" in err.value.message


@pytest.mark.parametrize("origin", ["*", "https://desk.example.com/", "desk.example.com"])
def test_cors_origins_must_be_exact_origins(origin: str) -> None:
    with pytest.raises(ConfigError) as err:
        check_service_settings(
            service(spec("a", "admin", new_key()), cors=("https://ok.example.com", origin))
        )
    assert err.value.key == "service.cors_origins[1]"


def test_dev_mode_warns_at_start_up(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="divergence.auth")
    create_app(service(dev=True))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.name for r in warnings] == ["divergence.auth.install"]
    assert "DEV MODE: authentication is OFF" in warnings[0].getMessage()
    caplog.clear()
    create_app(service(spec("ops", "admin", new_key())))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# -- divergence keys ---------------------------------------------------------------------------
def test_keys_new_prints_a_key_once_and_its_settings_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli_app, ["keys", "new", "--name", "desk", "--role", "analyst"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    key = lines[1].strip()
    assert key.startswith("dvg_")
    assert result.output.count(key) == 1
    toml = "\n".join(line.strip() for line in lines if line.startswith("  [") or " = " in line)
    config = tmp_path / "k.toml"
    config.write_text(toml + "\n")
    assert load_settings(config).service.api_keys == (spec("desk", "analyst", key),)
    env_line = next(line for line in lines if "DIVERGENCE_SERVICE__API_KEYS=" in line)
    entries = orjson.loads(env_line.split("=", 1)[1].strip("'"))
    assert entries == [{"name": "desk", "role": "analyst", "sha256": key_hash(key)}]


def test_keys_new_refuses_a_bad_role_or_name() -> None:
    runner = CliRunner()
    bad_role = runner.invoke(cli_app, ["keys", "new", "--name", "desk", "--role", "root"])
    assert bad_role.exit_code == 2
    bad_name = runner.invoke(cli_app, ["keys", "new", "--name", "a b", "--role", "viewer"])
    assert bad_name.exit_code != 0
    assert "name" in str(bad_name.exception)


def test_keys_hash_reads_stdin() -> None:
    key = new_key()
    result = CliRunner().invoke(cli_app, ["keys", "hash"], input=key + "\n")
    assert result.exit_code == 0
    assert result.output == key_hash(key) + "\n"


def test_serve_without_keys_fails_before_binding(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIVERGENCE_")}
    result = subprocess.run(
        [sys.executable, "-m", "divergence", "serve", "--port", str(port), "--no-sim"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[-1].startswith("error: settings: service.api_keys: no API")
    assert not (tmp_path / "divergence.duckdb").exists()  # nothing started
