"""Bundled data: sample tickets and the routing files a fresh install starts with."""
