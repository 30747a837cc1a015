"""Adapters: the real implementations of the ports on Redis, HTTP and outside libraries."""
