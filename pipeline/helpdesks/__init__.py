"""Helpdesk write-back adapters: one writer per helpdesk, each the only code calling its API."""
