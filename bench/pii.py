"""`python -m bench.pii [--show]`: what PII masking catches on the bundled samples, and its cost."""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from collections import Counter

from pipeline.data.samples import load_sample_tickets
from pipeline.domain.pii import mask_pii

_TOKEN = re.compile(r"(\[(?:email|phone|card|iban|address|name)\])")


def _masked_spans(before: str, after: str) -> list[tuple[str, str]]:
    """(original text, token) for every token: the text between tokens is unchanged."""
    parts = _TOKEN.split(after)
    literals, tokens = parts[0::2], parts[1::2]
    pattern = "(.*?)".join(re.escape(literal) for literal in literals)
    match = re.fullmatch(pattern, before, re.DOTALL)
    if match is None:
        return [("?", token) for token in tokens]
    return list(zip(match.groups(), tokens, strict=True))


def measure(show: bool = False) -> dict[str, object]:
    """Kinds found per ticket, tokens per kind, and the cost per ticket in microseconds."""
    tickets = load_sample_tickets()
    started = time.perf_counter()
    mask_pii("warm-up: Regards, Tom Hollis, 12 Baker Street, London NW1 6XE")
    first_call_ms = (time.perf_counter() - started) * 1000
    tickets_with: Counter[str] = Counter()
    tokens: Counter[str] = Counter()
    costs: list[float] = []
    for ticket in tickets:
        text = f"{ticket.subject}\n{ticket.description}"
        started = time.perf_counter()
        masked, kinds = mask_pii(text)
        costs.append((time.perf_counter() - started) * 1e6)
        tickets_with.update(kinds)
        for original, token in _masked_spans(text, masked):
            tokens[token.strip()] += 1
            if show:
                print(f"{ticket.external_id}\t{token!r}\t{original!r}")
    costs.sort()
    return {
        "tickets": len(tickets),
        "tickets_with_kind": dict(sorted(tickets_with.items())),
        "tokens": dict(sorted(tokens.items())),
        "first_call_ms": round(first_call_ms, 1),
        "us_per_ticket": {
            "mean": round(statistics.fmean(costs)),
            "p50": round(costs[len(costs) // 2]),
            "p95": round(costs[int(len(costs) * 0.95)]),
            "max": round(costs[-1]),
        },
    }


def main() -> None:
    """Print the measurement as JSON (and, with --show, every masked span first)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--show", action="store_true", help="print every masked span")
    print(json.dumps(measure(show=parser.parse_args().show), indent=2))


if __name__ == "__main__":
    main()
