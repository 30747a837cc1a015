"""`python -m triage_cli` runs the `triage` command."""

from triage_cli.main import main

main()
