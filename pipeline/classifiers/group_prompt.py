"""The grouped prompt: many tickets in one request, answered as a list keyed by ticket id (pure).

One request carries the instructions once for the whole group, cutting requests and repeated
instruction tokens about N-fold (the backfill's economics). A ticket missing or invalid in the
answer is left to the caller, which classifies it alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from pipeline.classifiers.prompt import ModelAnswer, build_prompt, neutralise
from pipeline.classifiers.prompt import response_schema as single_schema
from pipeline.domain.classification import Classification, TicketText, Urgency
from pipeline.domain.errors import LLMBadAnswer

GROUP_PROMPT_VERSION = "triage-group-v1"


def group_schema(categories: Sequence[str]) -> dict[str, Any]:
    """`{"results": [{"id", category, urgency, language, confidence, reason}, ...]}`."""
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


def parse_group_answer(
    text: str | None,
    ids: Sequence[str],
    categories: Mapping[str, str],
    model: str,
    *,
    classifier: str = "gemini",
) -> dict[str, Classification]:
    """The valid answers keyed by ticket id; anything missing, unknown or invalid is left out."""
    try:
        results = json.loads(text or "")["results"]
    except (ValueError, KeyError, TypeError):
        raise LLMBadAnswer("the grouped answer is not the expected JSON") from None
    wanted = set(ids)
    answers: dict[str, Classification] = {}
    for entry in results if isinstance(results, list) else []:
        if not isinstance(entry, dict) or entry.get("id") not in wanted:
            continue
        fields = {k: v for k, v in entry.items() if k != "id"}
        try:
            answer = ModelAnswer.model_validate(fields, context={"categories": set(categories)})
        except ValidationError:
            continue
        answers.setdefault(
            str(entry["id"]),
            Classification(
                category=answer.category,
                urgency=Urgency(answer.urgency),
                language=answer.language,
                confidence=answer.confidence,
                reason=answer.reason,
                classifier=classifier,
                model=model,
            ),
        )
    return answers
