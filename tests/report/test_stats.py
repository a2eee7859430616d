"""Noise-aware comparison statistics (pure, in memory)."""

from __future__ import annotations

import random

import pytest

from jetstream_qa.errors import UsageError
from jetstream_qa.report.stats import (
    Direction,
    Movement,
    compare_samples,
    mad,
    mann_whitney_u,
    median,
)


def test_median_and_mad() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 2.0, 3.0]) == 2.5
    assert mad([1.0, 2.0, 3.0, 4.0, 100.0]) == 1.0
    with pytest.raises(UsageError):
        median([])


def test_mann_whitney_exact_matches_reference_values() -> None:
    # Fully separated 4 vs 4: U = 0, exact two-sided p = 2 / C(8, 4) = 0.0286.
    u, p = mann_whitney_u([1, 2, 3, 4], [5, 6, 7, 8])
    assert u == 0.0 and p == pytest.approx(2 / 70)
    # Interleaved: U = 8 of 16, p = 1.
    u, p = mann_whitney_u([1, 3, 5, 7], [2, 4, 6, 8])
    assert u == 6.0 and p == pytest.approx(0.6857, abs=1e-3)


def test_mann_whitney_normal_approximation_with_ties() -> None:
    a = [1.0] * 10 + [2.0] * 10
    b = [2.0] * 10 + [3.0] * 10
    _, p = mann_whitney_u(a, b)
    assert p < 0.001
    _, p_same = mann_whitney_u(a, a)
    assert p_same > 0.9


def _draw(rng: random.Random, mean: float, n: int, rel_sd: float = 0.05) -> list[float]:
    return [rng.gauss(mean, mean * rel_sd) for _ in range(n)]


@pytest.mark.parametrize("n", [3, 5, 8])
def test_same_distribution_is_never_a_regression(n: int) -> None:
    rng = random.Random(42 + n)
    moved = [
        compare_samples(_draw(rng, 100e6, n), _draw(rng, 100e6, n), better=Direction.HIGHER,
                        rel_floor=0.15).movement
        for _ in range(300)
    ]
    assert moved.count(Movement.REGRESSION) == 0
    assert moved.count(Movement.IMPROVEMENT) == 0


def test_single_samples_rarely_alarm() -> None:
    """With one run per side only the floor protects: 15 % is ~2.1 sigma of the difference of
    two 5 %-noise samples, so a few percent false alarms are expected (docs/review.md advises
    --repeat 3 or more)."""
    rng = random.Random(42)
    moved = [
        compare_samples(_draw(rng, 100e6, 1), _draw(rng, 100e6, 1), better=Direction.HIGHER,
                        rel_floor=0.15).movement
        for _ in range(1000)
    ]
    assert moved.count(Movement.REGRESSION) <= 30


@pytest.mark.parametrize("n", [1, 3, 5, 8])
def test_thirty_percent_goodput_drop_is_a_regression(n: int) -> None:
    rng = random.Random(7 + n)
    for _ in range(300):
        result = compare_samples(_draw(rng, 100e6, n), _draw(rng, 70e6, n),
                                 better=Direction.HIGHER, rel_floor=0.15)
        assert result.movement is Movement.REGRESSION
        assert result.relative_change is not None and result.relative_change < -0.15


def test_noisy_baseline_widens_the_band() -> None:
    noisy = [60.0, 100.0, 140.0, 80.0, 120.0]
    result = compare_samples(noisy, [85.0], better=Direction.HIGHER, rel_floor=0.1)
    assert result.movement is Movement.UNCHANGED
    assert result.band is not None and result.band > 0.1 * 100


def test_lower_is_better_direction() -> None:
    slower = compare_samples([10.0, 11.0, 10.5], [20.0, 21.0, 19.0], better=Direction.LOWER,
                             rel_floor=0.2)
    faster = compare_samples([10.0, 11.0, 10.5], [5.0, 5.5, 4.9], better=Direction.LOWER,
                             rel_floor=0.2)
    assert slower.movement is Movement.REGRESSION
    assert faster.movement is Movement.IMPROVEMENT


def test_rank_test_vetoes_an_insignificant_move() -> None:
    # Medians differ by more than the floor, but the samples overlap: no significance.
    base = [100.0, 60.0, 101.0, 59.0, 100.5]
    cur = [58.0, 99.0, 57.0, 98.0, 56.0]
    result = compare_samples(base, cur, better=Direction.HIGHER, rel_floor=0.05, k=0.1)
    assert result.method == "band+mann-whitney"
    assert result.p_value is not None and result.p_value >= 0.05
    assert result.movement is Movement.UNCHANGED


def test_new_and_missing_metrics() -> None:
    assert compare_samples([], [1.0], better=Direction.HIGHER).movement is Movement.NEW
    assert compare_samples([1.0], [], better=Direction.HIGHER).movement is Movement.MISSING


def test_absolute_floor_for_ratios() -> None:
    result = compare_samples([0.0], [0.01], better=Direction.LOWER, rel_floor=0.0, abs_floor=0.02)
    assert result.movement is Movement.UNCHANGED
    result = compare_samples([0.0], [0.05], better=Direction.LOWER, rel_floor=0.0, abs_floor=0.02)
    assert result.movement is Movement.REGRESSION


def test_bad_parameters_are_rejected() -> None:
    with pytest.raises(UsageError):
        compare_samples([1.0], [1.0], better=Direction.HIGHER, alpha=1.5)


def test_new_median_inside_the_baseline_range_is_not_a_move() -> None:
    """Seen on a shared machine: one slow baseline run made the pooled MAD small and the same
    code's next three runs looked 17 % slower; their median lies inside the baseline's range."""
    baseline = [78.66e6, 51.90e6, 75.67e6]
    current = [78.64e6, 62.68e6, 62.89e6]
    result = compare_samples(baseline, current, better=Direction.HIGHER, rel_floor=0.15)
    assert result.movement is Movement.UNCHANGED
    assert result.method == "band+range"


def test_a_median_far_below_the_baseline_range_is_a_regression() -> None:
    baseline = [78.66e6, 51.90e6, 75.67e6]
    impaired = [16.1e6, 15.7e6, 16.4e6]
    result = compare_samples(baseline, impaired, better=Direction.HIGHER, rel_floor=0.15)
    assert result.movement is Movement.REGRESSION
