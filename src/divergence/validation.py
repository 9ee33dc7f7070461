"""Turn a pydantic ValidationError into the key and message a person can act on.

A typo produces two problems (the unknown key, and the real key now missing); the
unknown key is the cause, so it is reported first.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from divergence.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def describe_validation_error(exc: ValidationError) -> tuple[str, str]:
    """``(key, message)`` for the most telling problem, e.g. ``("token[4].venue_sym", ...)``."""
    problems = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    first = problems[0]
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    elif first["type"] == "missing":
        message = "required key is missing"
    else:
        message = f"{first['msg']} (found {first['input']!r})"
    if len(problems) > 1:
        rest = len(problems) - 1
        message += f" (and {rest} more problem{'s' if rest > 1 else ''})"
    return format_loc(first["loc"]), message


def format_loc(parts: tuple[int | str, ...]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "<root>"


def load_toml(path: Path, *, missing_key: str = "<file>") -> dict[str, Any]:
    """Read a TOML file; a missing or malformed file is a ConfigError naming it."""
    source = str(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError("file not found", key=missing_key, source=source) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML ({exc})", key="<file>", source=source) from exc


def validate_model(model: type[M], data: dict[str, Any], *, source: str) -> M:
    """Build ``model`` from ``data``; the first problem becomes a ConfigError naming the key."""
    try:
        return model(**data)
    except ValidationError as exc:
        key, message = describe_validation_error(exc)
        raise ConfigError(message, key=key, source=source) from exc
