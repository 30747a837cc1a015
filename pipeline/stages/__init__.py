"""The pipeline's stages as plain functions: load by id, guard, decide, persist with audit."""
