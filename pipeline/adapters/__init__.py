"""pipeline/adapters."""
