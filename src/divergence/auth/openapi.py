"""The access policy in the OpenAPI description: security schemes, and per operation the
role it needs (``x-required-role``), its 401/403 answers, or ``security: []`` when open."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from divergence.auth.policy import required_role

SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "an API key"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    "cookie": {"type": "apiKey", "in": "cookie", "name": "divergence_key"},
}
_METHODS = {"get", "head", "post", "put", "patch", "delete", "options", "trace"}
_REFUSALS = {
    "401": {"description": "no API key, or an unknown one"},
    "403": {"description": "the key's role is below the one this operation needs"},
}


def document_security(app: FastAPI) -> None:
    """Make ``app.openapi()`` describe the policy (the schema is still built once, lazily)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            add_security(build())
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way


def add_security(schema: dict[str, Any]) -> dict[str, Any]:
    schema.setdefault("components", {})["securitySchemes"] = SCHEMES
    schema["security"] = [{name: []} for name in SCHEMES]
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            role = required_role(method.upper(), path)
            if role is None:
                operation["security"] = []
                continue
            operation["x-required-role"] = str(role)
            responses = operation.setdefault("responses", {})
            for status, answer in _REFUSALS.items():
                responses.setdefault(status, answer)
    return schema
