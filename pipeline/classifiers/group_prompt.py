"""The grouped prompt: many tickets in one request, answered as a list keyed by ticket id (pure).

One request carries the instructions once for the whole group, cutting requests and repeated
instruction tokens about N-fold (the backfill's economics). A ticket missing or invalid in the
answer (no usable category) is left to the caller, which classifies it alone; other bad
fields are repaired as for a single answer (`pipeline.classifiers.salvage`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.classifiers.prompt import build_prompt, neutralise
from pipeline.classifiers.prompt import response_schema as single_schema
from pipeline.classifiers.salvage import salvage
from pipeline.domain.classification import Classification, TicketText
from pipeline.domain.errors import LLMBadAnswer

GROUP_PROMPT_VERSION = "triage-group-v2"


def group_schema(categories: Sequence[str]) -> dict[str, Any]:
    """`{"results": [{"id", category, urgency, language, sentiment, confidences, reason}, ...]}`."""
    item = single_schema(categories)
    item["properties"] = {"id": {"type": "string"}, **item["properties"]}
    item["required"] = ["id", *item.get("required", [])]
    return {
        "type": "object",
        "properties": {"results": {"type": "array", "items": item}},
        "required": ["results"],
    }


def build_group_prompt(
    tickets: Sequence[TicketText], categories: Mapping[str, str]
) -> tuple[str, str]:
    """(system, contents): the single-ticket rules once, then every ticket as delimited data."""
    system, _ = build_prompt(TicketText(description="-"), categories)
    system = system.replace(
        "Decide for the ticket:", "Decide for EACH ticket (answer once per ticket id):"
    ).replace(
        "The ticket arrives between <ticket> and </ticket>.",
        'Each ticket arrives between <ticket id="..."> and </ticket>; echo its id.',
    )
    contents = "\n".join(
        f'<ticket id="{neutralise(t.id)}">\n<subject>{neutralise(t.subject)}</subject>\n'
        f"<description>{neutralise(t.description)}</description>\n</ticket>"
        for t in tickets
    )
    return system, contents


@dataclass(frozen=True)
class GroupAnswers:
    """The usable answers by ticket id, and the fields repaired in each (only when any were)."""

    decisions: dict[str, Classification] = field(default_factory=dict)
    repaired: dict[str, tuple[str, ...]] = field(default_factory=dict)


def salvage_group_answer(
    text: str | None,
    ids: Sequence[str],
    categories: Mapping[str, str],
    model: str,
    *,
    classifier: str = "gemini",
) -> GroupAnswers:
    """The answers with a usable category, repaired; anything missing or unknown is left out."""
    try:
        results = json.loads(text or "")["results"]
    except (ValueError, KeyError, TypeError):
        raise LLMBadAnswer("the grouped answer is not the expected JSON") from None
    wanted = set(ids)
    answers = GroupAnswers()
    for entry in results if isinstance(results, list) else []:
        if not isinstance(entry, dict) or entry.get("id") not in wanted:
            continue
        ticket_id = str(entry["id"])
        if ticket_id in answers.decisions:
            continue
        try:
            found = salvage(
                entry, set(categories), classifier=classifier, model=model, expected=("id",)
            )
        except LLMBadAnswer:
            continue
        answers.decisions[ticket_id] = found.decision
        if found.repaired:
            answers.repaired[ticket_id] = found.repaired
    return answers


def parse_group_answer(
    text: str | None,
    ids: Sequence[str],
    categories: Mapping[str, str],
    model: str,
    *,
    classifier: str = "gemini",
) -> dict[str, Classification]:
    """The usable answers keyed by ticket id (see `salvage_group_answer`)."""
    return salvage_group_answer(text, ids, categories, model, classifier=classifier).decisions
