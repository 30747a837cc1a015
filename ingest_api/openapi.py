"""The OpenAPI 3.1 document, generated from the routes and the pydantic models."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask
from pydantic import BaseModel

from ingest_api.schemas import ErrorBody

F = TypeVar("F", bound=Callable[..., Any])

ERROR_TEXT = {
    400: "Malformed request (bad JSON or signature headers)",
    401: "Missing, invalid or revoked API key, or a missing/wrong webhook signature",
    403: "The key's role may not do this",
    404: "No such ticket",
    409: "Conflict",
    413: "Body too large",
    415: "Body is not JSON",
    422: "Validation failed (field-level details)",
    429: "Rate limit exceeded (see Retry-After)",
    503: "Store unavailable (see Retry-After); retry",
}
# Routes that are not part of the API contract (the docs page itself).
UNDOCUMENTED_ENDPOINTS = ("static", "swagger_ui.", "console.")  # console: HTML pages


@dataclass(frozen=True)
class RouteDoc:
    """What the document says about one route."""

    summary: str
    responses: dict[int, type[BaseModel] | None]
    request: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    query: dict[str, str] = field(default_factory=dict)


def documented(
    summary: str,
    responses: dict[int, type[BaseModel] | None],
    *,
    request: type[BaseModel] | None = None,
    errors: tuple[int, ...] = (),
    query: dict[str, str] | None = None,
) -> Callable[[F], F]:
    """Attach a route's documentation; errors implied by auth and bodies are added for you."""

    def attach(view: F) -> F:
        view.openapi = RouteDoc(summary, responses, request, errors, query or {})  # type: ignore[attr-defined]
        return view

    return attach


def _implied_errors(doc: RouteDoc, view: Any, path: str) -> set[int]:
    errors = set(doc.errors) | {503}
    if getattr(view, "required_role", None) is not None:
        errors |= {401, 403, 429}
    if doc.request is not None:
        errors |= {400, 413, 415, 422}
    if "{ticket_id}" in path:
        errors.add(404)
    return errors


def build_openapi(app: Flask) -> dict[str, Any]:
    """The whole document; raises if a route has no documentation."""
    schemas: dict[str, Any] = {}

    def ref(model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    paths: dict[str, dict[str, Any]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(UNDOCUMENTED_ENDPOINTS):
            continue
        view: Any = app.view_functions[rule.endpoint]
        doc: RouteDoc | None = getattr(view, "openapi", None)
        if doc is None:
            raise LookupError(f"route {rule.rule} ({rule.endpoint}) is not documented")
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation: dict[str, Any] = {
                "operationId": rule.endpoint.replace(".", "_"),
                "summary": doc.summary,
                "responses": {},
            }
            parameters = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in rule.arguments
            ] + [
                {
                    "name": name,
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": text,
                }
                for name, text in doc.query.items()
            ]
            if parameters:
                operation["parameters"] = parameters
            if doc.request is not None:
                operation["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": ref(doc.request)}},
                }
            for status, model in sorted(doc.responses.items()):
                response: dict[str, Any] = {"description": model.__doc__ or "OK" if model else "OK"}
                if model is not None:
                    response["content"] = {"application/json": {"schema": ref(model)}}
                operation["responses"][str(status)] = response
            for status in sorted(_implied_errors(doc, view, path)):
                operation["responses"][str(status)] = {
                    "description": ERROR_TEXT[status],
                    "content": {"application/json": {"schema": ref(ErrorBody)}},
                }
            if getattr(view, "required_role", None) is not None:
                operation["security"] = [{"ApiKeyHeader": []}, {"BearerKey": []}]
                operation["x-required-role"] = view.required_role.value
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ticket-triage",
            "version": "1",
            "description": "Ingest and read "
            'support tickets; errors are {"error": {"code", "message", "details"}}.',
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "BearerKey": {"type": "http", "scheme": "bearer"},
            },
        },
    }
