"""The Flask ingest API: validates, stores and enqueues tickets; serves their state and trail."""

from ingest_api.app import create_app

__all__ = ["create_app"]
