"""Inbound webhook signatures: sources configured with secrets must sign every request."""

from __future__ import annotations

from flask import request

from ingest_api.auth import current_key
from ingest_api.context import api_context
from ingest_api.errors import ApiError
from pipeline.adapters.signatures import SignatureInvalid, SignatureMalformed, verify_webhook


def verify_source_signature(raw_body: bytes) -> bool:
    """True once verified; 401 for a missing or wrong signature, 400 for unparsable headers.

    False (nothing checked) when the key's source has no webhook secrets. Called only by
    ingest_api.sources, the one place that enforces a source's rules.
    """
    source = current_key().source
    secrets = api_context().settings.webhook_secrets.get(source)
    if not secrets:
        return False
    try:
        verify_webhook([s.get_secret_value() for s in secrets], raw_body, dict(request.headers))
    except SignatureMalformed as error:
        raise ApiError(400, "malformed_signature", str(error)) from None
    except SignatureInvalid as error:
        raise ApiError(
            401,
            "invalid_signature",
            str(error),
            {"source": source},
            {"WWW-Authenticate": "Bearer"},
        ) from None
    return True
