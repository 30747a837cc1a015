"""Right to erasure: remove a customer's ticket text and PII, keep an audit tombstone."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from pydantic import BaseModel

from ingest_api.auth import current_key, requires
from ingest_api.context import api_context
from ingest_api.openapi import documented
from pipeline.domain.operator import Role
from pipeline.operations.retention import erase_customer

customers = Blueprint("customers", __name__)


class Erasure(BaseModel):
    """How many of the customer's tickets were erased."""

    customer_id: str
    tickets_erased: int


@customers.delete("/customers/<customer_id>/data")
@documented("Erase a customer's ticket text and PII", {200: Erasure})
@requires(Role.admin)
def erase_customer_data(customer_id: str) -> Response:
    """Erase every ticket's text of this customer; idempotent."""
    count = erase_customer(api_context().store, customer_id, actor=f"key:{current_key().name}")
    return jsonify(Erasure(customer_id=customer_id, tickets_erased=count).model_dump())
