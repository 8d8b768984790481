"""Neural-collapse metrics on geometries with known values, and the streaming class statistics."""

import math

import numpy as np
import pytest
import torch

from orthomtl.metrics import ClassStatistics, neural_collapse_metrics
from orthomtl.metrics.functional import (
    cross_task_coherence,
    effective_rank,
    feature_sum_alignment,
    nc1,
    nc2,
    nc3,
    nc4_counts,
)
from orthomtl.tasks import Task

F64 = torch.float64


def simplex_etf(k: int, d: int, seed: int = 0) -> torch.Tensor:
    """K unit rows in R^d forming a simplex ETF (centred one-hots, rotated at random)."""
    rows = torch.eye(k, dtype=F64) - 1.0 / k
    rows = rows / torch.linalg.vector_norm(rows, dim=1, keepdim=True)
    basis, _ = torch.linalg.qr(
        torch.randn(d, k, generator=torch.Generator().manual_seed(seed), dtype=F64)
    )
    return rows @ basis.T


def test_a_simplex_etf_has_nc2_zero_and_random_rows_do_not() -> None:
    etf = simplex_etf(5, 12)
    assert nc2(etf) == pytest.approx(0, abs=1e-12)
    assert nc2(3.7 * etf) == pytest.approx(0, abs=1e-12)  # scale-free
    random = torch.randn(5, 12, generator=torch.Generator().manual_seed(1), dtype=F64)
    assert nc2(random) > 0.2
    with pytest.raises(ValueError, match="at least 2 rows"):
        nc2(etf[:1])


def test_a_head_aligned_with_the_means_has_nc3_zero() -> None:
    means = simplex_etf(4, 9)
    assert nc3(2.5 * means, means) == pytest.approx(0, abs=1e-12)
    other = simplex_etf(4, 9, seed=3)
    assert nc3(other, means) > 0.1
    with pytest.raises(ValueError, match=r"\(K, D\)"):
        nc3(other[:, :5], means)


def _labelled(means: torch.Tensor, per_class: int, noise: float, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(means.shape[0]).repeat_interleave(per_class)
    features = means[labels] + noise * torch.randn(
        labels.numel(), means.shape[1], generator=generator, dtype=F64
    )
    return features, labels


def test_collapsed_features_have_nc1_zero_and_noise_raises_it() -> None:
    task = Task("a", "classification", 4)
    means = 3 * simplex_etf(4, 6)
    values = []
    for noise in (0.0, 0.1, 1.0):
        stats = ClassStatistics([task], 6)
        features, labels = _labelled(means, 20, noise)
        stats.update(features, {"a": labels})
        moments = stats.compute("a")
        values.append(nc1(moments.within, moments.between, 4))
    assert values[0] == pytest.approx(0, abs=1e-12)  # up to the rounding of S − Σ n μμᵀ
    assert 0 < values[1] < values[2]


def test_streaming_statistics_equal_the_batch_computation_and_skip_missing_labels() -> None:
    tasks = [
        Task("a", "classification", 3),
        Task("b", "classification", 2),
        Task("r", "regression"),
    ]
    generator = torch.Generator().manual_seed(4)
    features = torch.randn(60, 5, generator=generator, dtype=F64)
    a = torch.randint(0, 3, (60,), generator=generator)
    b = torch.randint(0, 2, (60,), generator=generator)
    a[::7] = -1  # missing
    whole = ClassStatistics(tasks, 5)
    whole.update(features, {"a": a, "b": b})
    parts = ClassStatistics(tasks, 5)
    for chunk in torch.arange(60).split(17):
        parts.update(features[chunk], {"a": a[chunk], "b": b[chunk]})
    assert [t.name for t in parts.tasks] == ["a", "b"]  # regression tasks are not tracked
    for name in ("a", "b"):
        mine, ref = parts.compute(name), whole.compute(name)
        torch.testing.assert_close(mine.within, ref.within)
        torch.testing.assert_close(mine.means, ref.means)
    # against numpy on the labelled rows
    keep = (a >= 0).numpy()
    x, y = features.numpy()[keep], a.numpy()[keep]
    means = np.stack([x[y == k].mean(0) for k in range(3)])
    within = sum((x[y == k] - means[k]).T @ (x[y == k] - means[k]) for k in range(3)) / len(x)
    centred = means - means.mean(0)
    moments = whole.compute("a")
    np.testing.assert_allclose(moments.means.numpy(), means, atol=1e-12)
    np.testing.assert_allclose(moments.within.numpy(), within, atol=1e-12)
    np.testing.assert_allclose(moments.between.numpy(), centred.T @ centred / 3, atol=1e-12)
    # reduce: two "processes" holding halves sum to the whole
    half = [ClassStatistics(tasks, 5), ClassStatistics(tasks, 5)]
    for i, rows in enumerate((slice(0, 30), slice(30, 60))):
        half[i].update(features[rows], {"a": a[rows], "b": b[rows]})
    others = iter([half[1].counts, half[1].sums, half[1].squares])
    for state in (half[0].counts, half[0].sums, half[0].squares):
        theirs = next(others)
        for name in state:
            state[name] = state[name] + theirs[name]
    torch.testing.assert_close(half[0].compute("a").within, moments.within)


def test_orthogonal_heads_have_coherence_zero_and_random_heads_the_expected_value() -> None:
    d = 400
    a = torch.zeros(3, d, dtype=F64)
    a[:, :3] = simplex_etf(3, 3)
    b = torch.zeros(4, d, dtype=F64)
    b[:, 3:7] = simplex_etf(4, 4)
    coherence = cross_task_coherence({"a": a, "b": b})
    assert coherence.mean == pytest.approx(0, abs=1e-12) and coherence.max == pytest.approx(
        0, abs=1e-12
    )
    assert coherence.matrix.shape == (7, 7) and coherence.offsets == [0, 3]
    shared = torch.zeros(d, dtype=F64)
    shared[10] = 5.0  # a bias every row of both heads shares: centring per task removes it
    offset = cross_task_coherence({"a": a + shared, "b": b + shared})
    assert offset.max == pytest.approx(0, abs=1e-12)
    generator = torch.Generator().manual_seed(0)
    heads = {t: torch.randn(10, d, generator=generator, dtype=F64) for t in "abc"}
    random = cross_task_coherence(heads)
    # |cos| of two random directions in R^d: E = Γ(d/2)/(√π Γ((d+1)/2)) ≈ √(2/(πd))
    expected = math.exp(math.lgamma(d / 2) - math.lgamma((d + 1) / 2)) / math.sqrt(math.pi)
    assert random.mean == pytest.approx(expected, rel=0.1)
    with pytest.raises(ValueError, match="two tasks or more"):
        cross_task_coherence({"a": a})


def test_features_that_are_sums_of_the_heads_have_alignment_zero() -> None:
    generator = torch.Generator().manual_seed(5)
    heads = [
        torch.randn(3, 8, generator=generator, dtype=F64),
        torch.randn(2, 8, generator=generator, dtype=F64),
    ]
    joint = torch.tensor([[0, 0], [1, 1], [2, 0], [2, 1]])
    global_mean = torch.randn(8, generator=generator, dtype=F64)
    sums = heads[0][joint[:, 0]] + heads[1][joint[:, 1]]
    aligned = global_mean + 4.0 * sums / torch.linalg.vector_norm(sums, dim=1, keepdim=True)
    assert feature_sum_alignment(aligned, joint, global_mean, heads) == pytest.approx(0, abs=1e-20)
    assert feature_sum_alignment(
        -aligned + 2 * global_mean, joint, global_mean, heads
    ) == pytest.approx(4.0)
    with pytest.raises(ValueError, match=r"\(J, T\)"):
        feature_sum_alignment(aligned, joint[:, :1], global_mean, heads)


def test_nc4_counts_disagreements_between_the_head_and_the_nearest_mean() -> None:
    means = 2 * simplex_etf(4, 6)
    features, _ = _labelled(means, 10, 0.05)
    assert nc4_counts(features, means, None, means) == (0, 40)
    shifted = nc4_counts(features, means, torch.tensor([100.0, 0, 0, 0], dtype=F64), means)
    assert shifted == (30, 40)  # the bias sends every sample to class 0


def test_effective_rank_counts_the_directions_used() -> None:
    generator = torch.Generator().manual_seed(6)
    iso = torch.randn(20000, 5, generator=generator, dtype=F64)
    assert effective_rank(iso) == pytest.approx(5, rel=0.01)
    line = torch.randn(500, 1, generator=generator, dtype=F64) * torch.ones(1, 5, dtype=F64)
    assert effective_rank(line) == pytest.approx(1, abs=1e-6)
    cov = torch.diag(torch.tensor([4.0, 1.0, 0.0], dtype=F64))
    p = torch.tensor([2 / 3, 1 / 3])
    assert effective_rank(cov, covariance=True) == pytest.approx(
        float(torch.exp(-(p * p.log()).sum()))
    )


def test_neural_collapse_metrics_of_a_collapsed_two_task_model() -> None:
    tasks = [Task("a", "classification", 3), Task("b", "classification", 4)]
    d = 16
    head_a = torch.zeros(3, d, dtype=F64)
    head_a[:, :3] = simplex_etf(3, 3)
    head_b = torch.zeros(4, d, dtype=F64)
    head_b[:, 3:7] = simplex_etf(4, 4)
    a = torch.arange(12) % 3
    b = torch.arange(12) % 4
    features = head_a[a] + head_b[b]  # the features of joint label (a, b): the sum of its rows
    stats = ClassStatistics(tasks, d)
    stats.update(features, {"a": a, "b": b})
    metrics = neural_collapse_metrics(stats, {"a": head_a, "b": head_b})
    assert metrics["coherence_max"] == pytest.approx(0, abs=1e-12)
    for name in ("a", "b"):
        assert metrics[f"{name}/nc2_head"] == pytest.approx(0, abs=1e-9)
        assert metrics[f"{name}/nc2_means"] == pytest.approx(0, abs=1e-9)
        assert metrics[f"{name}/nc3"] == pytest.approx(0, abs=1e-9)
    assert metrics["a/nc1"] > 0  # task b's part varies within a's classes
    with pytest.raises(ValueError, match=r"\(B, 16\)"):
        stats.update(features[:, :3], {"a": a, "b": b})
