"""Benchmarks of ticket-triage against bare and minimal baselines measured in the same run."""
