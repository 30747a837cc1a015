"""The lifecycle's contract: which state changes exist, and how a routed ticket ends."""

from __future__ import annotations

import pytest

from pipeline.domain.errors import PermanentError
from pipeline.domain.lifecycle import (
    ALLOWED_MOVES,
    FINAL_STATUSES,
    IllegalMove,
    Move,
    Stage,
    TicketStatus,
    check_move,
    final_status,
    is_final,
    stages_from,
)

S = TicketStatus


def test_the_happy_path_and_nothing_skips_a_stage() -> None:
    check_move(Move.classify, S.received, S.classified)
    check_move(Move.route, S.classified, S.routed)
    check_move(Move.close, S.routed, S.done)
    check_move(Move.close, S.routed, S.needs_review)
    for move, source, target in [
        (Move.classify, S.received, S.routed),
        (Move.route, S.received, S.routed),
        (Move.close, S.classified, S.done),
        (Move.retry, S.done, S.done),
        (Move.fail, S.done, S.failed),
        (Move.reopen, S.routed, S.classified),
        (Move.hold, S.classified, S.classified),
    ]:
        with pytest.raises(IllegalMove):
            check_move(move, source, target)


def test_an_illegal_move_says_which_and_is_permanent() -> None:
    with pytest.raises(IllegalMove, match=r"^route may not move a ticket from received to done$"):
        check_move(Move.route, "received", "done")
    with pytest.raises(IllegalMove, match=r"^no operation may move a ticket from failed to done$"):
        check_move(None, S.failed, S.done)
    assert issubclass(IllegalMove, PermanentError)
    check_move(None, "received", "classified")  # None: any operation


def test_retries_stay_put_and_failures_and_replays_cross_over() -> None:
    for status in (S.received, S.classified, S.routed):
        check_move(Move.retry, status, status)
        check_move(Move.requeue, status, status)
        check_move(Move.fail, status, S.failed)
    check_move(Move.hold, S.received, S.received)
    for final in FINAL_STATUSES:
        for back in (S.received, S.classified, S.routed):
            check_move(Move.reopen, final, back)
        check_move(Move.correct, final, final)
        check_move(Move.correct, final, S.classified)
    assert len(ALLOWED_MOVES[Move.reopen]) == 9


def test_the_final_states() -> None:
    assert {S.done, S.needs_review, S.failed} == FINAL_STATUSES
    assert is_final("done") and is_final(S.failed) and is_final("needs_review")
    assert not is_final("routed") and not is_final(S.received)


def test_a_review_reason_ends_in_review() -> None:
    assert final_status("confidence 0.20 below threshold 0.55") is S.needs_review
    assert final_status(None) is S.done
    assert final_status("") is S.done


def test_the_stages_left_to_run() -> None:
    assert stages_from(Stage.classify) == (Stage.classify, Stage.route, Stage.audit)
    assert stages_from(Stage.route) == (Stage.route, Stage.audit)
    assert stages_from(Stage.audit) == (Stage.audit,)
