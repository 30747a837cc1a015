"""The attack suite: every class of issue 19 against a real `triage api` process."""
