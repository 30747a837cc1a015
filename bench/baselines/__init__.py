"""Baselines measured beside us in every run: tiny WSGI apps and Celery chains on the same stack."""
