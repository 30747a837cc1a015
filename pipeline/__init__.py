"""The triage domain: models, store, classifiers, routing and delivery (no Flask, no Celery)."""
