"""The lifecycle's table of moves: what each operation may do to a ticket's status."""

from __future__ import annotations

import pytest

from pipeline.domain.lifecycle import (
    ALLOWED_MOVES,
    FINAL_STATUSES,
    IllegalMove,
    Move,
    TicketStatus,
    check_move,
    final_status,
)


def test_the_happy_path_is_allowed_step_by_step() -> None:
    check_move(Move.classify, TicketStatus.received, TicketStatus.classified)
    check_move(Move.route, TicketStatus.classified, TicketStatus.routed)
    check_move(Move.close, TicketStatus.routed, TicketStatus.done)
    check_move(Move.close, TicketStatus.routed, TicketStatus.needs_review)


@pytest.mark.parametrize(
    ("move", "source", "target"),
    [
        (Move.classify, TicketStatus.classified, TicketStatus.classified),
        (Move.route, TicketStatus.received, TicketStatus.routed),
        (Move.close, TicketStatus.classified, TicketStatus.done),
        (Move.fail, TicketStatus.done, TicketStatus.failed),
        (Move.reopen, TicketStatus.routed, TicketStatus.received),
        (Move.correct, TicketStatus.received, TicketStatus.classified),
        (Move.requeue, TicketStatus.failed, TicketStatus.failed),
    ],
)
def test_moves_outside_the_table_raise(
    move: Move, source: TicketStatus, target: TicketStatus
) -> None:
    with pytest.raises(IllegalMove):
        check_move(move, source, target)


def test_only_reopen_and_correct_leave_a_final_state() -> None:
    leaving = {
        move
        for move, steps in ALLOWED_MOVES.items()
        for source, target in steps
        if source in FINAL_STATUSES and source != target
    }
    assert leaving == {Move.reopen, Move.correct}


def test_any_operation_check_accepts_only_moves_in_the_table() -> None:
    check_move(None, TicketStatus.failed, TicketStatus.routed)  # a replay before audit
    with pytest.raises(IllegalMove):
        check_move(None, TicketStatus.received, TicketStatus.done)


def test_a_review_reason_sends_a_routed_ticket_to_review() -> None:
    assert final_status(None) is TicketStatus.done
    assert final_status("") is TicketStatus.done
    assert final_status("low confidence") is TicketStatus.needs_review
