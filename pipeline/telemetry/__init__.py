"""Telemetry: Prometheus metrics (multiprocess-safe) and structured logging."""
