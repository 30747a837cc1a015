"""The grouped call of an LLM classifier: one budgeted request over its transport for N tickets."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from pipeline.classifiers.group_prompt import (
    GROUP_PROMPT_VERSION,
    build_group_prompt,
    salvage_group_answer,
)
from pipeline.classifiers.prompt import estimate_tokens, mask_ticket
from pipeline.domain.classification import GroupCall, GroupResult, TicketText
from pipeline.domain.errors import LLMBudgetExhausted
from pipeline.ports import LLMBudget, LLMTransport


class GroupingLLM(Protocol):
    """What a grouped request needs of its LLM classifier (`LLMClassifier` has it all)."""

    name: str
    model: str
    group_schema: Any
    budget: LLMBudget
    transport: LLMTransport

    @property
    def categories(self) -> Mapping[str, str]:
        """Category name -> description, as the routing file has them."""
        ...


ANSWER_TOKENS_PER_TICKET = 60  # each ticket's entry in the answer list


def mask_group(group: Sequence[TicketText]) -> tuple[list[TicketText], set[str]]:
    """The group with PII masked in every subject and description, and the kinds found."""
    masked: list[TicketText] = []
    kinds: set[str] = set()
    for ticket in group:
        clean, found = mask_ticket(ticket)
        kinds |= found
        masked.append(clean)
    return masked, kinds


def group_estimate(system: str, contents: str, size: int) -> int:
    """Tokens to reserve for one grouped request of `size` tickets."""
    return estimate_tokens(system, contents) + ANSWER_TOKENS_PER_TICKET * size


def classify_group(llm: GroupingLLM, tickets: Sequence[TicketText], *, queue: str) -> GroupResult:
    """One budgeted request for the whole group; the valid answers and the call's details."""
    masked, kinds = mask_group(tickets)
    system, contents = build_group_prompt(masked, llm.categories)
    estimate = group_estimate(system, contents, len(tickets))
    meter = getattr(llm, "meter", None)  # set by wiring: cost and the monthly cap
    if meter is not None:
        meter.check_budget()
    wait = llm.budget.try_acquire(estimate, queue=queue)
    if wait > 0:
        raise LLMBudgetExhausted(f"LLM budget exhausted, wait {wait:.2f}s", retry_after=wait)
    started = time.perf_counter()
    answer = llm.transport.send(
        system=system, contents=contents, schema=llm.group_schema, model=llm.model
    )
    if answer.total_tokens:
        llm.budget.record_tokens(answer.total_tokens, estimated=estimate, queue=queue)
    cost = None
    if meter is not None:
        cost = meter.charge(
            provider=llm.name,
            model=llm.model,
            queue=queue,
            prompt_tokens=answer.prompt_tokens,
            output_tokens=answer.output_tokens,
        )
    answers = salvage_group_answer(
        answer.text,
        [t.id for t in tickets],
        llm.categories,
        f"{llm.model}/{GROUP_PROMPT_VERSION}",
        classifier=llm.name,
    )
    call = GroupCall(
        provider=llm.name,
        model=llm.model,
        prompt_version=GROUP_PROMPT_VERSION,
        group_size=len(tickets),
        answered=len(answers.decisions),
        pii_masked=tuple(sorted(kinds)),
        latency_ms=round((time.perf_counter() - started) * 1000, 1),
        prompt_tokens=answer.prompt_tokens,
        output_tokens=answer.output_tokens,
        cost_usd=cost,
        repaired=answers.repaired,
    )
    return GroupResult(answers.decisions, size=len(tickets), call=call)
