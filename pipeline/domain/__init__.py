"""pipeline/domain."""
