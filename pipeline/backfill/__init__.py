"""Backfills: historical tickets from files (or the batch API), stored in bulk, resumable."""
