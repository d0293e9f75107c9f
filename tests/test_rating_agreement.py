"""Agreement statistics against values computed by hand on small tables (and a published example)."""

import math

import pytest

from actionbench.agreement import cohen_kappa, krippendorff_alpha_nominal

N = None  # a missing label


def test_kappa_on_a_two_by_two_table():
    # 10 items: both yes 4, first yes / second no 2, first no / second yes 1, both no 3.
    # p_o = 7/10; p_e = (6/10)(5/10) + (4/10)(5/10) = 1/2; kappa = (0.7 - 0.5) / 0.5 = 0.4
    first = [1, 1, 1, 1, 1, 1, 0, 0, 0, 0]
    second = [1, 1, 1, 1, 0, 0, 1, 0, 0, 0]
    assert cohen_kappa(first, second) == pytest.approx(0.4)
    assert cohen_kappa(second, first) == pytest.approx(0.4)  # symmetric


def test_kappa_perfect_agreement_and_perfect_disagreement():
    assert cohen_kappa(["yes", "no", "yes"], ["yes", "no", "yes"]) == pytest.approx(1.0)
    # p_o = 0, p_e = 1/2: kappa = -1
    assert cohen_kappa([1, 0, 1, 0], [0, 1, 0, 1]) == pytest.approx(-1.0)


def test_kappa_with_three_classes():
    # a b c a b c vs a b c c a b: p_o = 3/6; each rater uses each class twice: p_e = 3 (2/6)^2 = 1/3
    # kappa = (1/2 - 1/3) / (2/3) = 1/4
    assert cohen_kappa(list("abcabc"), list("abccab")) == pytest.approx(0.25)


def test_kappa_when_one_rater_uses_one_class_only():
    # first always yes: p_e = 1 * p_second(yes) = 1/2, p_o = 1/2: kappa = 0 (no agreement beyond chance)
    assert cohen_kappa([1, 1, 1, 1], [1, 1, 0, 0]) == pytest.approx(0.0)


def test_kappa_is_undefined_when_both_use_one_and_the_same_class():
    assert math.isnan(cohen_kappa([1, 1, 1], [1, 1, 1]))  # p_e = 1: chance explains everything


def test_kappa_leaves_out_missing_labels_and_is_nan_on_nothing():
    assert cohen_kappa([1, 0, N, 1], [1, 0, 1, float("nan")]) == pytest.approx(1.0)
    assert math.isnan(cohen_kappa([], []))
    with pytest.raises(ValueError, match="different numbers of items: 2 vs 1"):
        cohen_kappa([1, 0], [1])


def test_alpha_on_a_two_rater_binary_table():
    # units (1,1) (0,0) (1,0) (1,1): o_11 = 4, o_00 = 2, o_01 = o_10 = 1; n_1 = 5, n_0 = 3, n = 8
    # D_o = 2/8; D_e = 2 * 5 * 3 / (8 * 7) = 30/56; alpha = 1 - (2/8) / (30/56) = 1 - 14/30 = 8/15
    assert krippendorff_alpha_nominal([(1, 1), (0, 0), (1, 0), (1, 1)]) == pytest.approx(8 / 15)


def test_alpha_reproduces_krippendorffs_published_example():
    # K. Krippendorff, "Computing Krippendorff's Alpha-Reliability" (2011), section C: 4 observers,
    # 12 units, missing values; nominal alpha = 0.743.
    a = [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N]
    b = [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3]
    c = [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N]
    d = [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N]
    assert krippendorff_alpha_nominal(zip(a, b, c, d)) == pytest.approx(0.743, abs=5e-4)


def test_alpha_with_three_raters_and_a_missing_label():
    # units (1,1,0) (0,0,N) (1,1,1):
    # unit 1 (m = 3): pairs 1-1: 2 ordered, 1-0 and 0-1: 2 each -> weight 1/2: o_11 += 1, o_10 += 1, o_01 += 1
    # unit 2 (m = 2): o_00 += 2; unit 3 (m = 3): o_11 += 6/2 = 3
    # o_11 = 4, o_00 = 2, o_10 = o_01 = 1: n_1 = 5, n_0 = 3, n = 8: alpha = 8/15 as above
    assert krippendorff_alpha_nominal([(1, 1, 0), (0, 0, N), (1, 1, 1)]) == pytest.approx(8 / 15)


def test_alpha_is_one_for_perfect_agreement_and_below_zero_for_systematic_disagreement():
    assert krippendorff_alpha_nominal([(1, 1), (0, 0), ("x", "x")]) == pytest.approx(1.0)
    # (1,0) (0,1): o_10 = o_01 = 2, n_0 = n_1 = 2, n = 4: D_o = 1, D_e = 8/12: alpha = 1 - 3/2
    assert krippendorff_alpha_nominal([(1, 0), (0, 1)]) == pytest.approx(-0.5)


def test_alpha_degenerate_cases_are_nan():
    assert math.isnan(krippendorff_alpha_nominal([(1,), (0,), (1,)]))  # one rater: no pairs
    assert math.isnan(krippendorff_alpha_nominal([(1, 1), (1, 1, 1)]))  # one class only: D_e = 0
    assert math.isnan(krippendorff_alpha_nominal([]))
    assert math.isnan(krippendorff_alpha_nominal([(1, N), (N, 0)]))  # missing labels leave single values
