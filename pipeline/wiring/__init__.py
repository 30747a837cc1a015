"""The one composition root: every adapter the API, the workers and the CLI use, from settings.

Each process builds one `Services` from its settings (read when the process starts) and
asks it for what it needs; a test passes its own adapters to the constructor instead. Split by
concern: `services` (the root itself), `classifiers` (provider choice and keys), `probes`
(health checks through the same services).
"""

from pipeline.wiring.classifiers import build_classifier, build_llm_classifier, llm_key_problem
from pipeline.wiring.probes import ServerProbes, build_health_probes
from pipeline.wiring.services import Services, build_queue_depths, build_services, open_store

__all__ = [
    "ServerProbes",
    "Services",
    "build_classifier",
    "build_health_probes",
    "build_llm_classifier",
    "build_queue_depths",
    "build_services",
    "llm_key_problem",
    "open_store",
]
