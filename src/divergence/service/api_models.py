"""Response models of the JSON API, for the OpenAPI document.

Large pages are rendered by orjson (:class:`~divergence.service.routes_api.JsonResponse`),
not through these models: they are attached as documentation (``responses={200: ...}``)
so the schema is described without validating every row on the way out.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_ERROR_TEXT = {
    400: "Bad request: a parameter is malformed or inconsistent (named in the message).",
    401: "No valid API key (see docs/operations.md, Security).",
    403: "The API key's role may not use this route.",
    404: "Not found: unknown route, underlying, venue or object.",
    408: "The query ran past its time limit.",
    409: "Conflict with the current state.",
    413: "The request asks for more than a limit allows (the limit is named).",
    422: "Validation failed; `params` names each offending parameter.",
    503: "The service is starting or stopping, or a part it needs is not running.",
}


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    status: int = Field(description="the HTTP status, repeated", examples=[400])
    message: str = Field(
        description="what was expected and what was found, naming the parameter",
        examples=["end: must be after start, found start='2025-10-10' end='2025-10-09'"],
    )


class ErrorResponse(BaseModel):
    """Every error the service answers: ``{"error": {"status": N, "message": "..."}}``."""

    error: ErrorBody


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for ``codes``, each the shared :class:`ErrorResponse`."""
    return {code: {"model": ErrorResponse, "description": _ERROR_TEXT[code]} for code in codes}


def json_error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Like :func:`error_responses`, for routes whose success is not JSON (a page, a CSV):
    the errors are still JSON, so their content type is stated explicitly."""
    ref = {"$ref": "#/components/schemas/ErrorResponse"}
    return {
        code: {"description": _ERROR_TEXT[code], "content": {"application/json": {"schema": ref}}}
        for code in codes
    }


COMMON_ERRORS = error_responses(401, 403, 422, 503)
"""What any route may answer (auth, validation, not ready)."""
READ_ERRORS = error_responses(400, 401, 403, 404, 413, 422, 503)
"""What a time-range read may answer."""
PAGE_ERRORS = json_error_responses(400, 401, 403, 404, 413, 422, 503)
"""What a page or a download may answer (JSON errors beside a non-JSON success)."""


class Page(BaseModel):
    """A page of rows in time order; pass ``next_start`` back as ``start`` for the next."""

    model_config = ConfigDict(extra="allow")
    rows: list[dict[str, Any]] = Field(
        description="the rows; times as ISO 8601 UTC (9 digits) and as `*_ns` epoch ints"
    )
    next_start: str | None = Field(
        description="epoch ns of the first time not returned; null on the last page",
        examples=["1760097660000000000", None],
    )


def page_response(description: str, example_row: dict[str, Any]) -> dict[int | str, Any]:
    """``responses`` for a paginated 200 plus the read errors, with one example row."""
    example = {"rows": [example_row], "next_start": None}
    return {
        200: {
            "model": Page,
            "description": description,
            "content": {"application/json": {"example": example}},
        },
        **READ_ERRORS,
    }


def body_doc(model: type[BaseModel], *, example: dict[str, Any] | None = None) -> dict[str, Any]:
    """``openapi_extra`` documenting a JSON request body that a route validates itself
    (so a bad body is answered by the route's own error, never echoing secrets)."""
    schema = _inline_refs(model.model_json_schema())
    media: dict[str, Any] = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"requestBody": {"required": True, "content": {"application/json": media}}}


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved
