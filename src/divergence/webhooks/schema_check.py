"""A small JSON Schema checker for the subset our payload schemas use.

The payload schemas (:mod:`divergence.webhooks.payloads`) are standard JSON Schema
(draft 2020-12) that any receiver can feed to a full validator; the tests check them with
the ``jsonschema`` package. At enqueue time we only need the keywords those schemas
use, so this module checks ``type``, ``const``, ``enum``, ``required``, ``properties``,
``additionalProperties``, ``items``, ``minLength``, ``minItems``, ``minimum``,
``maximum``, ``pattern`` and the ``date-time`` format, and refuses a schema that uses
anything else (so it cannot silently pass).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

SUPPORTED = frozenset(
    {
        "$schema",
        "$id",
        "title",
        "description",
        "type",
        "const",
        "enum",
        "required",
        "properties",
        "additionalProperties",
        "items",
        "minLength",
        "minItems",
        "minimum",
        "maximum",
        "pattern",
        "format",
    }
)
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def check(schema: Mapping[str, Any], value: Any, *, path: str = "$") -> list[str]:
    """Every way ``value`` breaks ``schema``, as ``"<path>: <problem>"`` lines."""
    unknown = set(schema) - SUPPORTED
    if unknown:
        raise ValueError(f"schema at {path} uses unsupported keywords {sorted(unknown)}")
    problems = _check_type(schema, value, path)
    if problems:
        return problems
    if "const" in schema and not _same(value, schema["const"]):
        problems.append(f"{path}: expected {schema['const']!r}, found {value!r}")
    if "enum" in schema and not any(_same(value, v) for v in schema["enum"]):
        problems.append(f"{path}: expected one of {schema['enum']!r}, found {value!r}")
    if isinstance(value, str):
        problems += _check_string(schema, value, path)
    if isinstance(value, dict):
        problems += _check_object(schema, value, path)
    if isinstance(value, int | float) and not isinstance(value, bool):
        problems += _check_number(schema, value, path)
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            problems.append(f"{path}: expected at least {schema['minItems']} items")
        for i, item in enumerate(value):
            if "items" in schema:
                problems += check(schema["items"], item, path=f"{path}[{i}]")
    return problems


def _check_number(schema: Mapping[str, Any], value: float, path: str) -> list[str]:
    problems = []
    if "minimum" in schema and value < schema["minimum"]:
        problems.append(f"{path}: expected >= {schema['minimum']}, found {value}")
    if "maximum" in schema and value > schema["maximum"]:
        problems.append(f"{path}: expected <= {schema['maximum']}, found {value}")
    return problems


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and bool(a == b)


def _check_type(schema: Mapping[str, Any], value: Any, path: str) -> list[str]:
    if "type" not in schema:
        return []
    names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    for name in names:
        is_bool = isinstance(value, bool)
        if isinstance(value, _TYPES[name]) and (name == "boolean" or not is_bool):
            return []
    return [f"{path}: expected {' or '.join(names)}, found {type(value).__name__}"]


def _check_string(schema: Mapping[str, Any], value: str, path: str) -> list[str]:
    problems = []
    if len(value) < schema.get("minLength", 0):
        problems.append(f"{path}: expected at least {schema['minLength']} characters")
    if "pattern" in schema and re.search(schema["pattern"], value) is None:
        problems.append(f"{path}: {value!r} does not match {schema['pattern']!r}")
    if schema.get("format") == "date-time" and _DATE_TIME.match(value) is None:
        problems.append(f"{path}: expected an RFC 3339 date-time, found {value!r}")
    return problems


def _check_object(schema: Mapping[str, Any], value: dict[str, Any], path: str) -> list[str]:
    required = schema.get("required", ())
    problems = [f"{path}: missing {key!r}" for key in required if key not in value]
    properties: Mapping[str, Any] = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        if key in properties:
            problems += check(properties[key], item, path=f"{path}.{key}")
        elif extra is False:
            problems.append(f"{path}: unexpected key {key!r}")
        elif isinstance(extra, Mapping):
            problems += check(extra, item, path=f"{path}.{key}")
    return problems
