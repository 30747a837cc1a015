"""pipeline/telemetry."""
