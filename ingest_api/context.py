"""What the API's views share: settings, the store and the Celery app they publish through."""

from __future__ import annotations

from dataclasses import dataclass

from celery import Celery
from flask import current_app

from pipeline.domain.routing import RoutingTable
from pipeline.operations.api_keys import KeyVerifier
from pipeline.ports import CircuitBreaker, RateLimiter, SpendLedger
from pipeline.settings import Settings
from pipeline.store.group_commit import GroupCommitIntake
from pipeline.store.tickets import TicketStore
from pipeline.telemetry.metrics import PipelineStateCollector


@dataclass
class ApiContext:
    """Per-app dependencies, built by the app factory."""

    settings: Settings
    store: TicketStore
    intake: GroupCommitIntake
    celery: Celery
    keys: KeyVerifier
    rate_limiter: RateLimiter
    circuits: CircuitBreaker
    state_collector: PipelineStateCollector
    routing: RoutingTable
    spend: SpendLedger | None = None  # month-to-date LLM spend, for /readyz's budget check


def api_context() -> ApiContext:
    """The current app's dependencies."""
    context: ApiContext = current_app.extensions["triage"]
    return context
