"""Latent-space metrics of Domain Expansion: pairwise-distance Spearman, V-score and PCA-axis
scoring (composition similarity is in ``test_composition``).
"""

import math
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

import orthomtl.metrics.functional._latent as latent_module
from orthomtl.metrics.functional import (
    AxisScore,
    pairwise_distance_spearman,
    score_on_axes,
    score_on_pca_axes,
    v_score,
)
from orthomtl.tasks import Task


@pytest.fixture(autouse=True)
def single_threaded_kmeans() -> Iterator[None]:
    """k-means on a few hundred points is fastest on one thread, and slow when oversubscribed."""
    with threadpool_limits(limits=1):
        yield


def orthonormal(dim: int, count: int, seed: int) -> np.ndarray:
    """``count`` random orthonormal columns in R^dim."""
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(dim, dim)))
    return q[:, :count]


# --- pairwise-distance Spearman -------------------------------------------------------------------


def test_spearman_is_one_for_an_affine_map_and_near_zero_for_noise() -> None:
    rng = np.random.default_rng(0)
    y = rng.uniform(-3, 3, 300)
    assert pairwise_distance_spearman(-2.5 * y + 7, y) == pytest.approx(1.0)
    # A monotone but non-affine map distorts the distances.
    assert pairwise_distance_spearman(np.exp(y), y) < 0.99
    assert abs(pairwise_distance_spearman(rng.normal(size=300), y)) < 0.05
    # k > 1: Euclidean distances of an isometric embedding.
    plane = np.stack([y, np.zeros_like(y)], axis=1) @ orthonormal(2, 2, 1)
    assert pairwise_distance_spearman(plane, y) == pytest.approx(1.0)


def test_circular_spearman_prefers_the_circle_embedding() -> None:
    y = np.random.default_rng(1).uniform(0, 2 * math.pi, 300)
    on_a_line = 0.5 * y + 1
    on_a_circle = np.stack([np.cos(y), np.sin(y)], axis=1)
    circle = pairwise_distance_spearman(on_a_circle, y, circular=True)
    line = pairwise_distance_spearman(on_a_line, y, circular=True)
    assert circle == pytest.approx(1.0)  # chord length is monotone in arc length
    assert line < 0.85
    # Linear label distances favour the line instead.
    assert pairwise_distance_spearman(on_a_line, y) == pytest.approx(1.0)
    # The period is honoured: degrees on a circle of 360.
    degrees = np.degrees(y)
    assert pairwise_distance_spearman(on_a_circle, degrees, circular=True, period=360.0) == (
        pytest.approx(1.0)
    )


def test_spearman_subsample_is_bounded_and_seeded(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(2)
    y = rng.normal(size=400)
    c = y + rng.normal(size=400)
    sizes: list[int] = []
    pdist = latent_module.pdist

    def recording_pdist(x: np.ndarray) -> np.ndarray:
        sizes.append(x.shape[0])
        return pdist(x)

    monkeypatch.setattr(latent_module, "pdist", recording_pdist)
    first = pairwise_distance_spearman(c, y, max_points=50, seed=3)
    assert sizes == [50, 50]  # labels, then coefficients
    assert pairwise_distance_spearman(c, y, max_points=50, seed=3) == first
    assert pairwise_distance_spearman(c, y, max_points=50, seed=4) != first
    # No subsampling when the points fit: the seed is irrelevant.
    sizes.clear()
    full = pairwise_distance_spearman(c, y, max_points=400, seed=0)
    assert sizes == [400, 400]
    assert pairwise_distance_spearman(c, y, max_points=400, seed=9) == full


def test_spearman_drops_nan_labels_and_accepts_tensors() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(size=100)
    c = y + 0.5 * rng.normal(size=100)
    labelled = pairwise_distance_spearman(c[:80], y[:80])
    y_missing = y.copy()
    y_missing[80:] = np.nan
    c_garbage = c.copy()
    c_garbage[80:] = 1e6  # would dominate the distances if NaN labels were kept
    assert pairwise_distance_spearman(c_garbage, y_missing) == pytest.approx(labelled)
    as_tensors = pairwise_distance_spearman(torch.tensor(c_garbage), torch.tensor(y_missing))
    assert as_tensors == pytest.approx(labelled)


def test_spearman_is_nan_for_constant_distances() -> None:
    y = np.arange(10.0)
    assert math.isnan(pairwise_distance_spearman(np.ones(10), y))


# --- V-score --------------------------------------------------------------------------------------


def test_v_score_separated_random_and_missing() -> None:
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 3, 300)
    separated = 10.0 * labels + rng.normal(scale=0.5, size=300)
    assert v_score(separated, labels, 3) == pytest.approx(1.0)
    assert v_score(separated[:, None], labels, 3) == pytest.approx(1.0)  # (N, 1) features
    assert v_score(rng.normal(size=300), labels, 3) < 0.05
    # Missing labels (-1) are dropped, whatever their features.
    with_missing = labels.copy()
    with_missing[:100] = -1
    shuffled = separated.copy()
    shuffled[:100] = rng.uniform(-100, 100, 100)
    assert v_score(shuffled, with_missing, 3) == pytest.approx(
        v_score(separated[100:], labels[100:], 3)
    )
    assert v_score(torch.tensor(separated), torch.tensor(labels), 3) == pytest.approx(1.0)


# --- scoring on axes ------------------------------------------------------------------------------


def two_task_latent() -> tuple[np.ndarray, dict[str, np.ndarray], list[Task]]:
    """Task A (regression) along one direction, task B (3 classes) along an orthogonal one with
    more variance, plus small noise in all 10 dimensions.
    """
    rng = np.random.default_rng(5)
    n = 400
    directions = orthonormal(10, 2, seed=6)
    y_a = rng.uniform(-1, 1, n)
    y_b = rng.integers(0, 3, n)
    latent = (
        np.outer(2.0 * y_a, directions[:, 0])
        + np.outer(4.0 * (y_b - 1), directions[:, 1])
        + 0.05 * rng.normal(size=(n, 10))
        + 3.0  # an offset, removed by the centring
    )
    tasks = [Task("a", "regression"), Task("b", "classification", num_classes=3)]
    return latent, {"a": y_a, "b": y_b}, tasks


def test_pca_scoring_recovers_the_task_axes() -> None:
    latent, labels, tasks = two_task_latent()
    scores = score_on_pca_axes(latent, labels, tasks, max_points=300)
    # B has the most variance, so it owns PCA axis 0 although it is listed second.
    assert scores["b"].axes == (0,) and scores["a"].axes == (1,)
    assert scores["b"].metric == "v_score" and scores["b"].value > 0.95
    assert scores["a"].metric == "spearman" and scores["a"].value > 0.95
    assert score_on_pca_axes(latent, labels, tasks[::-1], max_points=300) == scores


def test_pca_axes_can_be_fitted_on_other_latents() -> None:
    latent, labels, tasks = two_task_latent()
    half = latent.shape[0] // 2
    test = {k: v[half:] for k, v in labels.items()}
    fitted = score_on_pca_axes(latent[half:], test, tasks, fit_latent=latent[:half], max_points=300)
    assert fitted["b"].axes == (0,) and fitted["b"].value > 0.95
    # Axes fitted on latents that vary only off the task directions miss the tasks.
    directions = orthonormal(10, 2, seed=6)
    noise = np.random.default_rng(0).normal(size=latent[:half].shape)
    blind_fit = noise - noise @ directions @ directions.T
    blind = score_on_pca_axes(latent[half:], test, tasks, fit_latent=blind_fit, max_points=300)
    assert blind["a"].value < 0.5 < fitted["a"].value
    with pytest.raises(ValueError, match="fit_latent must have"):
        score_on_pca_axes(latent, labels, tasks, fit_latent=latent[:, :1])


def test_score_on_axes_uses_column_m_for_task_m() -> None:
    rng = np.random.default_rng(7)
    y_angle = rng.uniform(0, 2 * math.pi, 200)
    y_class = rng.integers(0, 2, 200)
    coefficients = np.stack([np.cos(y_angle), 6.0 * y_class + rng.normal(size=200)], axis=1)
    tasks = [Task("angle", "angle"), Task("c", "classification", num_classes=2)]
    scores = score_on_axes(coefficients, {"angle": y_angle, "c": y_class}, tasks)
    assert scores["c"] == AxisScore("v_score", pytest.approx(1.0), (1,))
    # cos of the angle is neither affine in it nor injective: high but not perfect, circularly.
    assert scores["angle"].axes == (0,) and 0.5 < scores["angle"].value < 1.0
    swapped = score_on_axes(coefficients[:, ::-1], {"angle": y_angle, "c": y_class}, tasks)
    assert swapped["c"].value < 0.2


# --- validation -----------------------------------------------------------------------------------


def test_validation_messages() -> None:
    y = np.arange(10.0)
    with pytest.raises(ValueError, match="at least 3 labelled points"):
        pairwise_distance_spearman(np.arange(4.0), np.array([0.0, 1.0, np.nan, np.nan]))
    with pytest.raises(ValueError, match="10 rows but there are 9 labels"):
        pairwise_distance_spearman(y, y[:9])
    with pytest.raises(ValueError, match="coefficients must be finite"):
        pairwise_distance_spearman(np.where(y > 5, np.inf, y), y)
    with pytest.raises(ValueError, match="max_points must be an integer >= 3"):
        pairwise_distance_spearman(y, y, max_points=2)
    with pytest.raises(ValueError, match="period must be positive"):
        pairwise_distance_spearman(y, y, circular=True, period=0.0)
    with pytest.raises(ValueError, match="holds inf"):
        pairwise_distance_spearman(y, np.where(y > 5, np.inf, y))

    with pytest.raises(ValueError, match=r"integers in \[0, 3\), or -1"):
        v_score(y, np.full(10, 3), 3)
    with pytest.raises(ValueError, match="at least num_classes = 3 labelled points"):
        v_score(y, np.array([0, 1] + [-1] * 8), 3)
    with pytest.raises(ValueError, match="num_classes must be >= 2"):
        v_score(y, np.zeros(10), 1)

    tasks = [Task("a", "regression"), Task("b", "classification", num_classes=2)]
    labels = {"a": y, "b": (y > 4).astype(int)}
    with pytest.raises(ValueError, match="one column per task"):
        score_on_axes(np.zeros((10, 3)), labels, tasks)
    with pytest.raises(ValueError, match=r"No labels for tasks \['b'\]"):
        score_on_axes(np.zeros((10, 2)), {"a": y}, tasks)
    with pytest.raises(ValueError, match="names must be unique"):
        score_on_axes(np.zeros((10, 2)), labels, [tasks[0], tasks[0]])
    with pytest.raises(ValueError, match="fewer than 2 principal axes"):
        score_on_pca_axes(np.zeros((10, 1)), labels, tasks)
    with pytest.raises(ValueError, match="has 9 entries but the latent has 10 rows"):
        score_on_pca_axes(np.zeros((10, 4)), {"a": y[:9], "b": labels["b"]}, tasks)
