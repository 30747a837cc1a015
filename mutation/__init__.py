"""Mutation testing of the core: the fast-test selection, the runner, the report and the CI gate."""
