"""The `triage` command line: api, worker, beat, demo, db, sweep, train, eval."""
