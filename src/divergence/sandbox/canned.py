"""Canned queries: the files in ``sql/queries/`` whose header has a ``-- params:`` line.

In the manner of Datasette's canned queries, each becomes a form (``/queries/<name>``) and
a JSON endpoint (``/api/queries/<name>``), and runs through the same sandbox as ad hoc
SQL. The header, parsed strictly at start-up (a bad one is a ConfigError naming the file
and the key)::

    -- weekend_gap: what the tokens said over the weekend against Friday's close
    -- title: Weekend gap at reopen
    -- description: One row per underlying and venue ... (several lines may follow, each
    --   starting with "--" and two more spaces)
    -- params: underlying (text, optional), days (integer, default 30)
    -- Grain: one row per (underlying, venue).

``params`` lists ``name (type[, default VALUE | , optional])``; several ``-- params:``
lines add up. Types: ``text``, ``integer``, ``number``, ``boolean``, ``date``,
``timestamp`` (ISO 8601 or epoch ns; bound as a UTC timestamp). A parameter with neither
default nor ``optional`` is required; ``optional`` binds NULL when it is left out, and the
query decides what NULL means (e.g. the latest week of data). Every declared parameter
must appear as ``$name`` in the statement and every ``$name`` must be declared. Other
query files (no ``-- params:`` line) are the service's own and stay internal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from divergence.clock import parse_time_param
from divergence.content import content_dir
from divergence.errors import BadRequestError, ConfigError, NotFoundError

ParamType = Literal["text", "integer", "number", "boolean", "date", "timestamp"]
PARAM_TYPES: tuple[str, ...] = ("text", "integer", "number", "boolean", "date", "timestamp")
MAX_TEXT = 200
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_DECL = re.compile(r"^([a-z][a-z0-9_]*)\s*\(([^()]*)\)$")
_PLACEHOLDER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_KEY_LINE = re.compile(r"^-- (title|description|params):(.*)$")


@dataclass(frozen=True)
class Param:
    name: str
    type: ParamType
    default: Any = None
    required: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "default": _show(self.default),
        }


@dataclass(frozen=True)
class CannedQuery:
    name: str
    title: str
    description: str
    purpose: str
    grain: str
    params: tuple[Param, ...]
    sql: str

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "grain": self.grain,
            "params": [p.describe() for p in self.params],
            "url": f"/api/queries/{self.name}",
            "form": f"/queries/{self.name}",
        }

    def bind(self, given: dict[str, str]) -> dict[str, Any]:
        """Query-string values -> typed, bound parameters; 400 naming a bad or unknown one."""
        known = {p.name for p in self.params}
        unknown = sorted(set(given) - known)
        if unknown:
            names = ", ".join(sorted(known)) or "none"
            raise BadRequestError(f"unknown parameter {unknown[0]!r} (this query takes: {names})")
        bound: dict[str, Any] = {}
        for param in self.params:
            text = given.get(param.name)
            if text is None or text == "":
                if param.required:
                    raise BadRequestError(f"{param.name}: required ({param.type})")
                bound[param.name] = param.default
            else:
                bound[param.name] = convert(param.type, text, name=param.name)
        return bound


def convert(kind: str, text: str, *, name: str) -> Any:
    """``text`` as a value of ``kind``; BadRequestError naming ``name`` if it is not one."""
    text = text.strip()
    try:
        if kind == "text":
            if len(text) > MAX_TEXT:
                raise ValueError(f"longer than {MAX_TEXT} characters")
            return text
        if kind == "integer":
            return int(text)
        if kind == "number":
            value = float(text)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError("not a finite number")
            return value
        if kind == "boolean":
            lowered = text.lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            raise ValueError("expected true or false")
        if kind == "date":
            return date.fromisoformat(text)
        if kind == "timestamp":
            ns = parse_time_param(text, name=name)
            seconds, rest = divmod(ns, 1_000_000_000)
            moment = datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=rest // 1_000)
            return moment.replace(tzinfo=None)
    except BadRequestError:
        raise
    except ValueError as exc:
        raise BadRequestError(f"{name}: expected {kind}, found {text!r} ({exc})") from exc
    raise BadRequestError(f"{name}: unknown type {kind!r}")


def load_canned_queries(folder: Path | None = None) -> dict[str, CannedQuery]:
    """Every canned query in ``folder`` (default: the installed ``sql/queries``), by name."""
    folder = folder or content_dir("sql") / "queries"
    found: dict[str, CannedQuery] = {}
    for path in sorted(folder.glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        if any(line.startswith("-- params:") for line in _header(text)):
            query = parse_canned(path.stem, text, source=str(path))
            found[query.name] = query
    return found


def find_query(queries: dict[str, CannedQuery], name: str) -> CannedQuery:
    if name not in queries:
        known = ", ".join(sorted(queries))
        raise NotFoundError(f"no canned query {name!r} (known: {known})")
    return queries[name]


def parse_canned(name: str, text: str, *, source: str) -> CannedQuery:
    """One canned query file; ConfigError naming ``source`` and the key when it is bad."""
    header = _header(text)
    if not _NAME.match(name):
        raise ConfigError(f"file name must match {_NAME.pattern}", key="name", source=source)
    first = header[0] if header else ""
    if not first.startswith(f"-- {name}: "):
        raise ConfigError(
            f"first line must be '-- {name}: <purpose>', found {first!r}", key="name", source=source
        )
    values: dict[str, list[str]] = {"title": [], "description": [], "params": []}
    current: str | None = None
    grain = ""
    for line in header[1:]:
        match = _KEY_LINE.match(line)
        if match:
            current = match.group(1)
            values[current].append(match.group(2).strip())
        elif current == "description" and line.startswith("--   "):
            values["description"].append(line[5:].strip())
        else:
            current = None
            if line.lower().startswith("-- grain:"):
                grain = line[len("-- grain:") :].strip()
    title = " ".join(values["title"]).strip()
    if not title or len(values["title"]) != 1:
        raise ConfigError("exactly one non-empty '-- title:' line", key="title", source=source)
    if not grain:
        raise ConfigError("a '-- Grain:' line", key="grain", source=source)
    params = _parse_params(", ".join(p for p in values["params"] if p), source=source)
    body = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    used = set(_PLACEHOLDER.findall(body))
    declared = {p.name for p in params}
    if used - declared:
        missing = sorted(used - declared)[0]
        raise ConfigError(f"${missing} is used but not declared", key="params", source=source)
    if declared - used:
        unused = sorted(declared - used)[0]
        raise ConfigError(f"{unused} is declared but never used", key="params", source=source)
    return CannedQuery(
        name=name,
        title=title,
        description=" ".join(values["description"]).strip(),
        purpose=first[len(f"-- {name}: ") :].strip(),
        grain=grain,
        params=params,
        sql=text,
    )


def _parse_params(text: str, *, source: str) -> tuple[Param, ...]:
    params: list[Param] = []
    for item in _split_top(text):
        key = f"params.{item.split('(')[0].strip() or '?'}"
        match = _DECL.match(item)
        if not match:
            raise ConfigError(
                f"expected 'name (type[, default VALUE | , optional])', found {item!r}",
                key=key,
                source=source,
            )
        name, spec = match.group(1), [part.strip() for part in match.group(2).split(",", 1)]
        kind = spec[0]
        if kind not in PARAM_TYPES:
            raise ConfigError(
                f"type must be one of {', '.join(PARAM_TYPES)}, found {kind!r}",
                key=key,
                source=source,
            )
        if any(p.name == name for p in params):
            raise ConfigError("declared twice", key=key, source=source)
        option = spec[1] if len(spec) > 1 else ""
        if option == "":
            params.append(Param(name, kind, required=True))  # type: ignore[arg-type]
        elif option == "optional":
            params.append(Param(name, kind))  # type: ignore[arg-type]
        elif option.startswith("default "):
            try:
                default = convert(kind, option[len("default ") :], name=name)
            except BadRequestError as exc:
                raise ConfigError(exc.message, key=key, source=source) from exc
            params.append(Param(name, kind, default=default))  # type: ignore[arg-type]
        else:
            raise ConfigError(
                f"expected 'default VALUE' or 'optional', found {option!r}", key=key, source=source
            )
    return tuple(params)


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses; empty items dropped."""
    items: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    items.append("".join(current).strip())
    return [item for item in items if item]


def _header(text: str) -> list[str]:
    lines = []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        lines.append(line.rstrip())
    return lines


def _show(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat() + "Z"
    if isinstance(value, date):
        return value.isoformat()
    return value
