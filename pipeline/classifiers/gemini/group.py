"""Grouped classification: up to N tickets in one Gemini request, answered as a keyed list.

One request carries the instructions once for the whole group, cutting requests and repeated
instruction tokens about N-fold (the backfill's economics). A ticket missing or invalid in the
answer is left to the caller, which classifies it alone.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from google.genai import errors as genai_errors
from google.genai import types
from pydantic import ValidationError

from pipeline.classifiers.gemini.classifier import GeminiClassifier, estimate_tokens, map_api_error
from pipeline.classifiers.prompt import LLMBadAnswer, ModelAnswer, build_prompt, neutralise
from pipeline.classifiers.prompt import response_schema as single_schema
from pipeline.domain.classification import Classification, TicketText, Urgency
from pipeline.domain.errors import LLMBudgetExhausted, LLMRejected, LLMUnavailable
from pipeline.domain.pii import mask_pii

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


@functools.lru_cache(maxsize=16)
def _group_schema(categories: tuple[str, ...]) -> types.Schema:
    # Once per category table; a Schema, which the SDK copies (a dict it would edit in place).
    return types.Schema.model_validate(group_schema(categories))


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
    text: str | None, ids: Sequence[str], categories: Mapping[str, str], model: str
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
                classifier="gemini",
                model=model,
            ),
        )
    return answers


def classify_group(
    gemini: GeminiClassifier, tickets: Sequence[TicketText], *, queue: str
) -> tuple[dict[str, Classification], dict[str, Any]]:
    """One budgeted request for the whole group; returns the valid answers and call details."""
    masked: list[TicketText] = []
    kinds: set[str] = set()
    for ticket in tickets:
        subject, k1 = mask_pii(ticket.subject)
        description, k2 = mask_pii(ticket.description)
        kinds |= k1 | k2
        masked.append(TicketText(id=ticket.id, subject=subject, description=description))
    system, contents = build_group_prompt(masked, gemini.categories)
    estimate = estimate_tokens(system, contents) + 60 * len(tickets)
    wait = gemini.budget.try_acquire(estimate, queue=queue)
    if wait > 0:
        raise LLMBudgetExhausted(f"LLM budget exhausted, wait {wait:.2f}s", retry_after=wait)
    model = f"{gemini.model}/{GROUP_PROMPT_VERSION}"
    config = types.GenerateContentConfig(
        system_instruction=system,
        response_mime_type="application/json",
        response_schema=_group_schema(tuple(gemini.categories)),
        temperature=0,
    )
    started = time.perf_counter()
    try:
        response = gemini.client.models.generate_content(
            model=gemini.model, contents=contents, config=config
        )
    except genai_errors.APIError as exc:
        raise map_api_error(exc, contents, None) from None
    except Exception as exc:  # transport errors of httpx or httpx2
        if isinstance(exc, LLMRejected | LLMUnavailable):
            raise
        raise LLMUnavailable(f"Gemini unreachable: {type(exc).__name__}") from None
    usage = response.usage_metadata
    if usage and usage.total_token_count:
        gemini.budget.record_tokens(usage.total_token_count, estimated=estimate, queue=queue)
    answers = parse_group_answer(response.text, [t.id for t in tickets], gemini.categories, model)
    details = {
        "provider": "gemini",
        "model": gemini.model,
        "prompt_version": GROUP_PROMPT_VERSION,
        "group_size": len(tickets),
        "answered": len(answers),
        "cache_hit": False,
        "latency_ms": round((time.perf_counter() - started) * 1000, 1),
        "prompt_tokens": usage.prompt_token_count if usage else None,
        "output_tokens": usage.candidates_token_count if usage else None,
        "pii_masked": sorted(kinds),
    }
    return answers, details
