"""pipeline/operations."""
