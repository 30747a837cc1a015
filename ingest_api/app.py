"""The Flask application factory."""

from __future__ import annotations

import logging

from celery import Celery
from flask import Flask
from flask_swagger_ui import get_swaggerui_blueprint

from ingest_api.batch import batch
from ingest_api.console import install_console
from ingest_api.context import ApiContext
from ingest_api.customers import customers
from ingest_api.errors import register_error_handlers
from ingest_api.health import health
from ingest_api.inputs import install_input_guards
from ingest_api.instrumentation import register_ingest_metrics
from ingest_api.openapi import build_openapi
from ingest_api.sources import install_source_rules
from ingest_api.tickets import tickets
from ingest_api.webhooks import webhooks
from pipeline.domain.errors import ConfigurationError
from pipeline.settings import Settings
from pipeline.store.tickets import TicketStore
from pipeline.wiring import Services
from workers.celery_app import create_celery_app

log = logging.getLogger("triage.api")


def create_app(
    settings: Settings | None = None,
    *,
    store: TicketStore | None = None,
    celery_app: Celery | None = None,
    services: Services | None = None,
) -> Flask:
    """Build the ingest API from settings (read now, not at import).

    Its adapters come from the composition root (`services`, or one built from `settings`
    with `store`); `celery_app` is the app it publishes through.
    """
    settings = settings or (services.settings if services is not None else Settings())
    if settings.api_key_pepper is None:
        raise ConfigurationError(
            "TRIAGE_API_KEY_PEPPER is not set: API keys are checked as HMAC-SHA256 with this "
            "server secret (generate one with `openssl rand -hex 32` and keep it out of the repo)"
        )
    services = services or Services(settings, store=store)
    app = Flask("ticket_triage")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_ticket_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["triage"] = ApiContext(
        settings=settings,
        store=services.store,
        intake=services.intake,
        celery=celery_app or create_celery_app(settings),
        keys=services.key_verifier,
        rate_limiter=services.rate_limiter,
        circuits=services.circuit_breaker,
        state_collector=services.state_collector,
        routing=services.routing,
        spend=services.spend_ledger if settings.llm_monthly_budget is not None else None,
    )
    register_ingest_metrics(app)
    register_error_handlers(app)
    install_input_guards(app)
    app.register_blueprint(health)
    app.register_blueprint(tickets)
    app.register_blueprint(customers)
    app.register_blueprint(batch)
    app.register_blueprint(webhooks)
    app.register_blueprint(get_swaggerui_blueprint("/docs", "/openapi.json"))
    install_console(app, settings.api_key_pepper.get_secret_value().encode())
    install_source_rules(app)  # fail at start if a write route does not declare its tickets
    build_openapi(app)  # fail at start, not at the first /openapi.json, if a route is undocumented
    return app
