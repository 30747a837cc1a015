"""Server URLs as a person may see them: passwords never leave the process."""

from __future__ import annotations

from urllib.parse import urlsplit


def redact_url(url: str) -> str:
    """`url` with any password replaced by `***` (database, broker and Redis URLs carry one)."""
    try:
        parts = urlsplit(url)
        password, port = parts.password, parts.port
    except ValueError:
        return "<unparsable URL>"
    if password is None:
        return url
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = f"{parts.username or ''}:***@{host}" + (f":{port}" if port else "")
    return parts._replace(netloc=netloc).geturl()
