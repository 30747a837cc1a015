"""Operating points of a review threshold: coverage, precision, the threshold for a target."""

from __future__ import annotations

import pytest

from pipeline.classifiers.local.evaluation import operating_point, threshold_for_precision


def test_operating_point_keeps_decisions_at_or_above_the_threshold() -> None:
    point = operating_point([0.9, 0.8, 0.5, 0.2], [True, False, True, False], 0.8)
    assert (point.coverage, point.precision) == (0.5, 0.5)
    assert operating_point([0.1], [True], 0.5).precision is None
    assert operating_point([], [], 0.5).coverage == 0.0


def test_threshold_for_precision_takes_the_most_coverage_that_reaches_the_target() -> None:
    confidence = [1.0 - i / 100 for i in range(100)]
    correct = [i < 60 or i % 2 == 0 for i in range(100)]  # the top 60 right, then half
    found = threshold_for_precision(confidence, correct, 0.9)
    assert found is not None
    assert found.precision is not None and found.precision >= 0.9
    kept = sum(c >= found.threshold for c in confidence)
    assert kept == round(found.coverage * 100)
    # One more ticket would fall under the target.
    hits = sum(ok for c, ok in zip(confidence, correct, strict=True) if c >= found.threshold)
    assert (hits) / (kept + 1) < 0.9 or kept == 100
    assert threshold_for_precision(confidence, [False] * 100, 0.5) is None


def test_ties_are_kept_or_dropped_together() -> None:
    confidence = [0.9] * 30 + [0.5] * 30
    correct = [True] * 30 + [False] * 30
    found = threshold_for_precision(confidence, correct, 0.9)
    assert found is not None and found.threshold == pytest.approx(0.9) and found.coverage == 0.5
