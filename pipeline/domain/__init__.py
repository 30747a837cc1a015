"""The domain: pure rules and values (lifecycle, decisions, routing, errors, retries), no I/O."""
