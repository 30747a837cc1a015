"""The OpenAPI 3.1 document, generated from the routes and the pydantic models."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask
from pydantic import BaseModel

from ingest_api.schemas import ErrorBody
from pipeline.domain.models import EXTRA_VALUE_SCHEMA

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
    query: dict[str, str | dict[str, Any]] = field(default_factory=dict)
    headers: dict[str, dict[str, Any]] = field(default_factory=dict)


def documented(
    summary: str,
    responses: dict[int, type[BaseModel] | None],
    *,
    request: type[BaseModel] | None = None,
    errors: tuple[int, ...] = (),
    query: dict[str, str | dict[str, Any]] | None = None,
    headers: dict[str, dict[str, Any]] | None = None,
) -> Callable[[F], F]:
    """Attach a route's documentation; errors implied by auth and bodies are added for you.

    `query` maps a parameter to its description (a plain string), or to a dict with
    `description` and `schema`; `headers` maps a request header to the same kind of dict.
    """

    def attach(view: F) -> F:
        view.openapi = RouteDoc(  # type: ignore[attr-defined]
            summary, responses, request, errors, query or {}, headers or {}
        )
        return view

    return attach


# Path and query values may not hold control characters (NUL included): 400 before any view.
NO_CONTROLS = "^[^\\u0000-\\u001f\\u007f]*$"
PATH_VALUE: dict[str, Any] = {"type": "string", "minLength": 1, "pattern": NO_CONTROLS}


def _parameter(name: str, where: str, spec: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(spec, str):
        spec = {"description": spec}
    schema = spec.get("schema", {"type": "string", "pattern": NO_CONTROLS})
    return {
        "name": name,
        "in": where,
        "required": False,
        "schema": schema,
        **{k: v for k, v in spec.items() if k != "schema"},
    }


def _known_categories(app: Flask, schemas: dict[str, Any]) -> None:
    """A category correction accepts exactly the routing file's categories: say which."""
    routing = getattr(app.extensions.get("triage"), "routing", None)
    correction = schemas.get("CategoryCorrection", {}).get("properties", {}).get("category")
    if routing is not None and correction is not None:
        correction["enum"] = sorted(routing.categories)


def _limits(schema: dict[str, Any]) -> str:
    return f"{schema.get('minLength', 0)} to {schema.get('maxLength', 'any')} characters"


def _implied_errors(doc: RouteDoc, view: Any, path: str) -> set[int]:
    errors = set(doc.errors) | {503}
    if getattr(view, "required_role", None) is not None:
        errors |= {401, 403, 429}
    if doc.request is not None:
        errors |= {400, 413, 415, 422}
    if getattr(view, "accepts_tickets", False):
        errors |= {400, 401}  # malformed or missing/wrong signatures (ingest_api.sources)
    if "{ticket_id}" in path:
        errors.add(404)
    if "{" in path or doc.query or doc.headers:
        errors |= {400, 422}  # control characters, or a value the store cannot hold
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
                {"name": name, "in": "path", "required": True, "schema": PATH_VALUE}
                for name in sorted(rule.arguments)
            ] + [_parameter(name, "query", spec) for name, spec in doc.query.items()]
            if doc.headers:
                # Stated in words, not as header parameters: schemathesis' coverage phase pairs
                # a header's boundary cases with a negative body and calls the case positive.
                operation["description"] = "Request headers: " + "; ".join(
                    f"`{name}`: {spec['description']} ({_limits(spec['schema'])})"
                    for name, spec in doc.headers.items()
                )
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
    schemas["ExtraValue"] = EXTRA_VALUE_SCHEMA
    if "TicketSubmission" in schemas:  # what extra fields may hold (see ingest_api.bodies)
        schemas["TicketSubmission"]["additionalProperties"] = {
            "$ref": "#/components/schemas/ExtraValue"
        }
        schemas["TicketSubmission"]["propertyNames"] = {"pattern": "^[^\\u0000]*$"}
    _known_categories(app, schemas)
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
