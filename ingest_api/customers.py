"""Right to erasure: remove a customer's ticket text and PII, keep an audit tombstone."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel, Field

from ingest_api.auth import current_key, requires
from ingest_api.context import api_context
from ingest_api.openapi import documented
from pipeline.domain.operator import Role
from pipeline.operations.retention import erase_customer

customers = Blueprint("customers", __name__)


class Erasure(BaseModel):
    """How many of the customer's tickets this call erased, and whether any are left."""

    customer_id: str
    tickets_erased: int
    complete: bool = Field(
        description="false (with 202): the per-request bound was reached; call again to go on"
    )


@customers.delete("/customers/<customer_id>/data")
@documented(
    "Erase a customer's ticket text and PII (bounded per call; 202: call again)",
    {200: Erasure, 202: Erasure},
)
@requires(Role.admin)
def erase_customer_data(customer_id: str) -> Response:
    """Erase the customer's tickets, at most TRIAGE_ERASE_REQUEST_LIMIT per call; idempotent."""
    context = api_context()
    erasure = erase_customer(
        context.store,
        customer_id,
        actor=f"key:{current_key().name}",
        budget=context.settings.erase_request_limit,
    )
    body = Erasure(
        customer_id=customer_id, tickets_erased=erasure.erased, complete=erasure.complete
    )
    response = jsonify(body.model_dump())
    if not erasure.complete:
        response.status_code = 202
        response.headers["Retry-After"] = "0"
    return response
