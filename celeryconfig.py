"""The Celery-facing view of ticket-triage's settings (`TRIAGE_*`), for `config_from_object`.

Celery imports this module lazily, when an app first needs its configuration, so the
environment is read when the worker (or beat, or Flower) is created, never earlier.
"""

from pipeline.settings import Settings
from workers.config import celery_config

globals().update(celery_config(Settings()))
