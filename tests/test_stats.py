"""Paired one-sided Wilcoxon tests, corrections, bootstrap CIs and win/tie/loss counts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from harness.errors import HarnessError
from harness.stats import (TestSettings, adjust_pvalues, apply_correction, bootstrap_ci, paired_test,
                           wilcoxon_greater)


@pytest.mark.parametrize("n", [8, 25, 50, 51, 300])
@pytest.mark.parametrize("zero_method", ["wilcox", "pratt", "zsplit"])
def test_p_values_equal_scipy_on_random_vectors(n, zero_method):
    rng = np.random.default_rng(n)
    a = rng.random(n)
    b = a + rng.normal(0.03, 0.1, n)
    b[: n // 5] = a[: n // 5]  # some exact ties (zero differences)
    _, p, _ = wilcoxon_greater(a, b, zero_method=zero_method)
    expected = sps.wilcoxon(np.round(b - a, 10), zero_method=zero_method, alternative="greater").pvalue
    assert abs(p - expected) <= 1e-12
    if zero_method == "wilcox":  # rounding only removes float noise: same as scipy on the raw vectors here
        assert abs(p - sps.wilcoxon(b, a, alternative="greater").pvalue) <= 1e-12


def test_direction_is_b_greater_than_a():
    rng = np.random.default_rng(1)
    a = rng.random(200)
    b = a + 0.05 + rng.normal(0, 0.02, 200)
    assert paired_test(a, b).p_value < 1e-10
    assert paired_test(b, a).p_value > 0.99


def test_float_noise_counts_as_a_tie():
    a = np.array([0.1 + 0.2, 0.5, 0.7, 0.2])
    b = np.array([0.3, 0.6, 0.8, 0.1])  # 0.1 + 0.2 != 0.3 in floating point
    t = paired_test(a, b, TestSettings(n_boot=100))
    assert (t.wins, t.ties, t.losses) == (2, 1, 1)


def test_binary_metric_reduces_to_sign_test():
    """Success@k differences are -1/0/+1: the test is McNemar's z = (W - L) / sqrt(W + L) (no continuity)."""
    rng = np.random.default_rng(5)
    for n in (30, 120, 900):
        a = (rng.random(n) < 0.55).astype(float)
        b = np.where(rng.random(n) < 0.15, 1.0, a)
        t = paired_test(a, b, TestSettings(n_boot=200))
        w, l = t.wins, t.losses
        assert w + l + t.ties == n
        assert t.p_value == pytest.approx(sps.norm.sf((w - l) / math.sqrt(w + l)), abs=1e-12)


def test_identical_systems_give_p_one_with_a_note():
    a = np.linspace(0, 1, 20)
    t = paired_test(a, a.copy(), TestSettings(n_boot=50))
    assert t.p_value == 1.0 and t.note == "all differences are zero" and not t.significant
    assert (t.wins, t.ties, t.losses) == (0, 20, 0) and t.delta == 0.0


def test_bootstrap_ci_covers_mean_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small, large = rng.normal(0.05, 0.2, 50), rng.normal(0.05, 0.2, 5000)
    lo_s, hi_s = bootstrap_ci(small, 2000)
    lo_l, hi_l = bootstrap_ci(large, 2000)
    assert lo_s < small.mean() < hi_s and lo_l < large.mean() < hi_l
    assert (hi_l - lo_l) < (hi_s - lo_s) / 5
    # normal-theory interval as a sanity reference for the large sample
    se = large.std(ddof=1) / math.sqrt(large.size)
    assert lo_l == pytest.approx(large.mean() - 1.96 * se, abs=se * 0.2)
    assert bootstrap_ci(small, 2000, seed=3) == bootstrap_ci(small, 2000, seed=3)


def test_strata_give_macro_means_and_pooled_test():
    rng = np.random.default_rng(2)
    a1, a2 = rng.random(10), rng.random(90)
    b1, b2 = a1 + 0.5 + rng.normal(0, 0.05, 10), a2 - 0.01 + rng.normal(0, 0.05, 90)
    a, b = np.concatenate([a1, a2]), np.concatenate([b1, b2])
    t = paired_test(a, b, TestSettings(n_boot=500), strata=[10, 90])
    assert t.delta == pytest.approx(np.mean([(b1 - a1).mean(), (b2 - a2).mean()]))
    assert t.delta > 0.2 > float((b - a).mean())  # the macro average, not the pooled mean
    assert t.mean_a == pytest.approx(np.mean([a1.mean(), a2.mean()]))
    assert t.p_value == pytest.approx(sps.wilcoxon(np.round(b - a, 10), alternative="greater").pvalue, abs=1e-12)
    assert t.ci_low < t.delta < t.ci_high
    with pytest.raises(HarnessError):
        paired_test(a, b, strata=[10, 10])


def test_holm_and_bh_corrections():
    p = [0.01, 0.04, 0.03, 0.005, float("nan")]
    holm = adjust_pvalues(p, "holm")
    # Holm by hand: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1, then running maximum
    assert holm[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert math.isnan(holm[4])
    rng = np.random.default_rng(0)
    q = rng.random(14) ** 3
    assert np.allclose(adjust_pvalues(q, "bh"), sps.false_discovery_control(q, method="bh"), atol=1e-15)
    assert adjust_pvalues(q, "none") == pytest.approx(q.tolist())
    tests = [paired_test(np.zeros(30), np.full(30, 0.1) + np.linspace(0, 0.01, 30), TestSettings(n_boot=10))
             for _ in range(3)]
    apply_correction(tests, "holm")
    assert all(t.p_adjusted == pytest.approx(min(1.0, 3 * tests[0].p_value)) for t in tests)
    with pytest.raises(HarnessError):
        adjust_pvalues(p, "bonferroni-ish")


def test_settings_are_validated_and_described():
    with pytest.raises(HarnessError, match="zero_method"):
        TestSettings(zero_method="drop")
    text = TestSettings(correction="holm").describe("NDCG@10")
    assert "one-sided Wilcoxon signed-rank" in text and "NDCG@10" in text and "Holm" in text and "wilcox" in text
