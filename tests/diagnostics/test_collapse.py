"""``collapse_diagnostics`` and ``JointLabelStatistics`` on geometries whose answers are known."""

import itertools
import math

import pytest
import torch

from orthomtl.diagnostics._collapse import EncodedSample, collapse_diagnostics, principal_angles
from orthomtl.metrics import JointLabelStatistics
from orthomtl.tasks import Task

TASKS = [Task("a", "classification", 3), Task("b", "classification", 4), Task("r", "regression")]


def _etf(k: int, dim: int, offset: int) -> torch.Tensor:
    """A simplex ETF of k rows in coordinates offset … offset + k − 1 of R^dim."""
    rows = torch.zeros(k, dim, dtype=torch.float64)
    rows[:, offset : offset + k] = torch.eye(k, dtype=torch.float64) - 1.0 / k
    return rows


def _sample(heads: dict[str, torch.Tensor], repeats: int = 3) -> EncodedSample:
    """Every joint label (k_a, k_b) ``repeats`` times, its feature exactly w^a_{k_a} + w^b_{k_b}."""
    joint = list(itertools.product(range(3), range(4))) * repeats
    a = torch.tensor([j[0] for j in joint])
    b = torch.tensor([j[1] for j in joint])
    latents = heads["a"][a] + heads["b"][b]
    return EncodedSample(latents, {"a": a, "b": b, "r": torch.randn(len(joint))})


def _readouts(heads: dict[str, torch.Tensor]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    out = {name: (w, torch.zeros(w.shape[0], dtype=w.dtype)) for name, w in heads.items()}
    return out | {"r": (torch.ones(1, 10, dtype=torch.float64), torch.zeros(1))}


def test_features_that_are_sums_of_orthogonal_etf_heads_are_the_theory_s_optimum() -> None:
    heads = {"a": _etf(3, 10, 0), "b": _etf(4, 10, 3)}
    metrics, record = collapse_diagnostics(_sample(heads), TASKS, _readouts(heads), lambda t: t)
    assert metrics["feature_sum_alignment"] == pytest.approx(0.0, abs=1e-12)
    assert metrics["a/nc4"] == metrics["b/nc4"] == 0.0
    assert metrics["coherence_max"] == pytest.approx(0.0, abs=1e-12)
    for task in ("a", "b"):
        assert metrics[f"{task}/nc2_head"] == pytest.approx(0.0, abs=1e-12)
        assert metrics[f"{task}/nc2_means"] == pytest.approx(0.0, abs=1e-12)
    assert record["principal_angles"]["a~b"] == pytest.approx([90.0, 90.0], abs=1e-6)
    assert record["latent_dim"] == 10 and len(record["spectrum"]) == 10
    assert record["spectrum"] == sorted(record["spectrum"], reverse=True)
    assert record["coherence"]["tasks"] == ["a", "b"] and record["coherence"]["offsets"] == [0, 3]
    assert "r/nc1" not in metrics  # regression tasks have no classes


def test_shared_directions_show_in_the_angles_the_alignment_and_the_coherence() -> None:
    heads = {"a": _etf(3, 10, 0), "b": _etf(4, 10, 1)}  # b reuses two of a's coordinates
    metrics, record = collapse_diagnostics(_sample(heads), TASKS, _readouts(heads), lambda t: t)
    assert min(record["principal_angles"]["a~b"]) < 45
    assert metrics["coherence_max"] > 0.3


def test_nc4_counts_the_rows_whose_head_disagrees_with_the_nearest_mean() -> None:
    heads = {"a": _etf(3, 10, 0), "b": _etf(4, 10, 3)}
    wrong = {"a": heads["a"][[1, 2, 0]], "b": heads["b"]}  # a's head predicts the next class
    metrics, _ = collapse_diagnostics(_sample(heads), TASKS, _readouts(wrong), lambda t: t)
    assert metrics["a/nc4"] == 1.0 and metrics["b/nc4"] == 0.0


def test_a_task_with_fewer_than_two_classes_present_is_skipped() -> None:
    heads = {"a": _etf(3, 10, 0), "b": _etf(4, 10, 3)}
    sample = _sample(heads)
    sample.targets["b"] = torch.zeros_like(sample.targets["b"])
    metrics, record = collapse_diagnostics(sample, TASKS, _readouts(heads), lambda t: t)
    assert "a/nc1" in metrics and not any(k.startswith("b/") for k in metrics)
    assert "coherence" not in record and "principal_angles" not in record


def test_principal_angles_of_a_rotated_plane() -> None:
    angle = math.radians(30)
    first = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    second = torch.tensor(
        [[1.0, 0.0, 0.0], [0.0, math.cos(angle), math.sin(angle)]], dtype=torch.float64
    )
    assert principal_angles({"p": first, "q": second})["p~q"] == pytest.approx([0.0, 30.0])


def test_joint_statistics_match_the_batch_means_and_sum_across_chunks() -> None:
    torch.manual_seed(0)
    tasks = TASKS[:2]
    h = torch.randn(200, 5, dtype=torch.float64)
    targets = {"a": torch.randint(0, 3, (200,)), "b": torch.randint(0, 4, (200,))}
    targets["b"][:10] = -1  # rows missing a label do not count
    whole = JointLabelStatistics(tasks, 5)
    whole.update(h, targets)
    chunks = [JointLabelStatistics(tasks, 5) for _ in range(2)]
    for part, stats in zip((slice(0, 77), slice(77, 200)), chunks, strict=True):
        stats.update(h[part], {k: v[part] for k, v in targets.items()})
    chunks[0].reduce(lambda t: t + chunks[1].counts if t.ndim == 1 else t + chunks[1].sums)
    labels, means = whole.means()
    torch.testing.assert_close(chunks[0].means()[1], means)
    for (ka, kb), mean in zip(labels.tolist(), means, strict=True):
        rows = (targets["a"] == ka) & (targets["b"] == kb)
        torch.testing.assert_close(mean, h[rows].mean(0))
    assert whole.counts.sum() == 190
    assert not JointLabelStatistics.supports([Task("big", "classification", 100)] * 2)
    with pytest.raises(ValueError, match="two class tasks"):
        JointLabelStatistics(TASKS[:1], 5)


def test_without_class_tasks_the_latent_s_spectrum_and_rank_are_still_measured() -> None:
    torch.manual_seed(0)
    h = torch.randn(300, 6, dtype=torch.float64) * torch.tensor([3.0, 2, 1, 1, 0, 0])
    sample = EncodedSample(h, {"r": torch.randn(300)})
    metrics, record = collapse_diagnostics(sample, TASKS[2:], None, lambda t: t)
    assert set(metrics) == {"effective_rank"} and set(record) == {
        "metrics",
        "latent_dim",
        "spectrum",
    }
    expected = torch.linalg.eigvalsh(torch.cov(h.T, correction=0)).flip(0)
    torch.testing.assert_close(
        torch.tensor(record["spectrum"], dtype=torch.float64), expected.clamp(min=0)
    )
    assert 2 < metrics["effective_rank"] < 4  # four dimensions used, unevenly; two empty
