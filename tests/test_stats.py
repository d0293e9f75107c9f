import numpy as np
import pytest

from actionbench.stats import bootstrap_ci, paired_difference


def test_constant_values_have_a_zero_width_interval():
    estimate = bootstrap_ci([0.7] * 20)
    assert (estimate.mean, estimate.low, estimate.high) == pytest.approx((0.7, 0.7, 0.7), abs=1e-12)
    assert estimate.n == 20


def test_nan_values_are_left_out_and_empty_is_nan():
    assert bootstrap_ci([1.0, float("nan"), 3.0]).mean == 2.0
    assert bootstrap_ci([1.0, float("nan"), 3.0]).n == 2
    assert np.isnan(bootstrap_ci([float("nan")]).mean)


def test_interval_matches_the_normal_approximation_for_a_large_sample():
    values = np.random.default_rng(1).normal(5.0, 2.0, size=2000)
    estimate = bootstrap_ci(values)
    half_width = 1.96 * values.std(ddof=1) / np.sqrt(values.size)
    assert abs((estimate.high - estimate.low) / 2 - half_width) < 0.1 * half_width
    assert estimate.low < values.mean() < estimate.high


def test_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(2)
    hits = 0
    for trial in range(200):
        estimate = bootstrap_ci(rng.normal(0.0, 1.0, size=60), n_resamples=400, seed=trial)
        hits += estimate.low <= 0.0 <= estimate.high
    assert 0.88 <= hits / 200 <= 0.99


def test_the_same_inputs_give_the_same_interval():
    values = np.arange(10.0)
    assert bootstrap_ci(values) == bootstrap_ci(values)


def test_paired_difference_finds_a_known_shift():
    rng = np.random.default_rng(3)
    b = rng.normal(0.5, 0.2, size=100)
    a = b + 0.1 + rng.normal(0.0, 0.01, size=100)
    result = paired_difference(a, b)
    assert abs(result.difference - 0.1) < 0.01
    assert result.low < 0.1 < result.high
    assert result.p_value < 0.01
    assert result.n == 100


def test_paired_difference_under_no_difference_is_not_significant():
    rng = np.random.default_rng(4)
    a = rng.normal(0.0, 1.0, size=80)
    b = a + rng.normal(0.0, 0.5, size=80)  # no systematic difference
    swapped = paired_difference(a, a)
    assert swapped.difference == 0.0 and swapped.p_value == 1.0
    assert paired_difference(a, b).p_value > 0.01
