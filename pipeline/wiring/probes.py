"""HealthProbes on the configured servers: what `triage doctor` and start-up checks read."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.domain.errors import ConfigurationError
from pipeline.ports import HealthProbes, SchemaState
from pipeline.wiring.classifiers import llm_key_problem

if TYPE_CHECKING:
    from pipeline.wiring.services import Services


class ServerProbes:
    """HealthProbes on the configured servers; the classifier is the one `services` holds."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def store_schema(self) -> SchemaState:
        """The store's schema state, read-only."""
        from pipeline.store.health import read_schema_state

        return read_schema_state(self.services.settings.database_url)

    def reach(self, url: str) -> str | None:
        """None when the server at `url` answers, else why not."""
        from pipeline.adapters.probes import reach

        return reach(url)

    def classifier(self) -> str:
        """Build (load) the configured classifier and name it."""
        problem = llm_key_problem(self.services.settings)
        if problem is not None:  # said before loading the local model, which takes a moment
            raise ConfigurationError(problem)
        classifier = self.services.classifier
        chain = self.services.fallback_chain  # every fallback provider builds too
        after = f"; then {', '.join(chain.providers)}" if chain and chain.providers else ""
        return f"{classifier.name} ({classifier.model_version}){after}"

    def llm_month_spend(self) -> float:
        """USD the LLM cost this month so far."""
        return self.services.spend_ledger.month_to_date()


def build_health_probes(services: Services) -> HealthProbes:
    """What `triage doctor` and the start-up checks look through."""
    return ServerProbes(services)
