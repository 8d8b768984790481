"""Concept composition c_p ⊕ (c_q ⊖ c_p) of Domain Expansion and its similarity score, in a
linear world where the exact answer is known."""

import math

import numpy as np
import pytest
import torch

from orthomtl.metrics.functional import class_centres, compose, composition_similarity
from orthomtl.tasks import Task
from tests.metrics.test_latent_metrics import orthonormal

# --- composition ----------------------------------------------------------------------------------


World = tuple[
    np.ndarray,
    np.ndarray,
    np.ndarray,
    list[tuple[np.ndarray, np.ndarray]],
    dict[str, np.ndarray],
    list[Task],
]


def linear_world(noise: float, mean_scale: float, n: int = 201) -> World:
    """f = μ + Σ_m g_m(y_m) v_m + noise in the orthogonal complement, with decoders that exactly
    invert g_m along v_m.
    """
    rng = np.random.default_rng(8)
    dim = 12
    frame = orthonormal(dim, dim, seed=9)
    basis, complement = frame[:, :3], frame[:, 3:]
    mu = mean_scale * rng.normal(size=dim) / math.sqrt(dim)
    tasks = [
        Task("r", "regression"),
        Task("theta", "angle"),
        Task("c", "classification", num_classes=2),
    ]
    labels = {
        "r": rng.uniform(-2, 2, n),
        "theta": rng.uniform(0, math.pi / 2, n),  # within π of each other: no wrap-around
        "c": rng.integers(0, 2, n),
    }
    scales = (1.5, 0.8, 2.0)
    coords = np.stack(
        [scales[0] * labels["r"], scales[1] * labels["theta"], 2.0 * labels["c"] - 1.0], axis=1
    )
    latent = mu + coords @ basis.T + noise * rng.normal(size=(n, dim - 3)) @ complement.T
    v = basis.T
    decoders = [
        (v[0:1] / scales[0], -(v[0:1] @ mu) / scales[0]),
        (v[1:2] / scales[1], -(v[1:2] @ mu) / scales[1]),
        # Antisymmetric logits ∓s⟨v, f − μ⟩: swapping them maps class 0's coordinate to class 1's.
        (
            np.stack([-scales[2] * v[2], scales[2] * v[2]]),
            np.array([1.0, -1.0]) * scales[2] * (v[2] @ mu),
        ),
    ]
    return latent, mu, basis, decoders, labels, tasks


def centres_of(world: World) -> dict[str, np.ndarray]:
    latent, mu, basis, _, labels, tasks = world
    return class_centres(latent, labels, mu, basis, tasks)


@pytest.mark.parametrize(
    ("solve", "class_target"), [("per-task", "centre"), ("stacked", "swap"), ("stacked", "centre")]
)
def test_composition_is_exact_in_a_linear_world(solve: str, class_target: str) -> None:
    world = linear_world(noise=0.0, mean_scale=1.0)
    latent, mu, basis, decoders, labels, tasks = world
    options = {"solve": solve, "class_target": class_target, "centres": centres_of(world)}
    score = composition_similarity(latent, mu, basis, decoders, labels, tasks, **options)
    assert score.raw == pytest.approx(1.0, abs=1e-9)
    assert score.centred == pytest.approx(1.0, abs=1e-9)
    assert score.ceiling_centred == pytest.approx(1.0, abs=1e-9)
    assert score.floor_centred < 0.5  # not composing is far from q
    assert score.decoded["c/accuracy"] == 1.0
    assert score.decoded["r/mae"] == pytest.approx(0.0, abs=1e-9)
    assert score.decoded["theta/mae"] == pytest.approx(0.0, abs=1e-9)
    # compose itself lands on f_q, for a batch and for one pair.
    y_p = {name: y[:10] for name, y in labels.items()}
    y_q = {name: y[10:20] for name, y in labels.items()}
    composed = compose(latent[:10], y_p, y_q, mu, basis, decoders, tasks, **options)
    np.testing.assert_allclose(composed, latent[10:20], atol=1e-9)
    one = compose(
        torch.tensor(latent[0]),
        {name: float(y[0]) for name, y in labels.items()},
        {name: float(y[10]) for name, y in labels.items()},
        mu,
        basis,
        decoders,
        tasks,
        **options,
    )
    np.testing.assert_allclose(one, latent[10], atol=1e-9)


def test_composition_drops_with_noise_and_raw_hides_it_behind_a_large_mean() -> None:
    world = linear_world(noise=1.0, mean_scale=30.0)
    latent, mu, basis, decoders, labels, tasks = world
    centres = centres_of(world)
    score = composition_similarity(latent, mu, basis, decoders, labels, tasks, centres=centres)
    assert score.centred < 0.9
    assert score.raw > 0.95 > score.centred
    # The noise is off the task axes: p keeps its own, so the score is the ceiling's, above the
    # floor of not composing.
    assert score.centred == pytest.approx(score.ceiling_centred, abs=1e-9)
    assert score.floor_centred < score.centred - 0.1
    again = composition_similarity(latent, mu, basis, decoders, labels, tasks, centres=centres)
    assert again == score
    other = composition_similarity(
        latent, mu, basis, decoders, labels, tasks, centres=centres, seed=1
    )
    assert other != score


def test_composition_skips_samples_with_missing_labels() -> None:
    world = linear_world(noise=0.0, mean_scale=1.0)
    latent, mu, basis, decoders, labels, tasks = world
    centres = centres_of(world)
    labels["r"] = labels["r"].copy()
    labels["r"][::3] = np.nan
    labels["c"] = labels["c"].copy()
    labels["c"][1::7] = -1
    score = composition_similarity(latent, mu, basis, decoders, labels, tasks, centres=centres)
    assert score.centred == pytest.approx(1.0, abs=1e-9)


def test_compose_wraps_angle_differences_and_swaps_logits() -> None:
    basis = np.eye(3)[:, :2]
    mu = np.zeros(3)
    tasks = [Task("theta", "angle"), Task("c", "classification", num_classes=3)]
    class_weight = np.array([[0.0, 1.0, 0.0], [0.0, 2.0, 0.0], [0.0, -1.0, 0.0]])
    decoders = [(np.array([[1.0, 0.0, 0.0]]), np.zeros(1)), (class_weight, np.zeros(3))]
    f_p = np.array([3.0, 1.0, 5.0])  # the third coordinate lies outside the task span
    for solve, kept in (("stacked", 0.0), ("per-task", 5.0)):
        composed = compose(
            f_p,
            {"theta": 3.0, "c": 1},
            {"theta": -3.0, "c": 1},
            mu,
            basis,
            decoders,
            tasks,
            solve=solve,
            class_target="swap",
        )
        # -3 − 3 = -6 wraps to 2π − 6: the short way round, not back across the circle. The
        # stacked solve re-projects on the task span; the per-task one keeps p's off-axis part.
        np.testing.assert_allclose(composed, [3.0 + 2 * math.pi - 6.0, 1.0, kept])
        # Swapping logits (1, 2, -1) at classes 0 and 1 gives (2, 1, -1); the least-squares
        # coordinate x minimises (x − 2)² + (2x − 1)² + (−x + 1)², so x = 5/6.
        swapped = compose(
            f_p,
            {"theta": 3.0, "c": 0},
            {"theta": 3.0, "c": 1},
            mu,
            basis,
            decoders,
            tasks,
            solve=solve,
            class_target="swap",
        )
        np.testing.assert_allclose(swapped, [3.0, 5.0 / 6.0, kept])


def test_composition_validation_messages() -> None:
    world = linear_world(noise=0.0, mean_scale=1.0, n=20)
    latent, mu, basis, decoders, labels, tasks = world
    centres = centres_of(world)

    def score(**changes: object) -> None:
        args = {
            "latent": latent,
            "mean": mu,
            "basis": basis,
            "readouts": decoders,
            "labels": labels,
            "tasks": tasks,
            "centres": centres,
        }
        composition_similarity(**{**args, **changes})

    with pytest.raises(ValueError, match="must be orthonormal"):
        score(basis=2.0 * basis)
    with pytest.raises(ValueError, match=r"basis must have shape \(D, M\)"):
        score(basis=basis[:, :2])
    with pytest.raises(ValueError, match="one readout per task"):
        score(readouts=decoders[:2])
    bad = [*decoders[:2], (decoders[2][0][:1], decoders[2][1][:1])]
    with pytest.raises(
        ValueError, match=r"Readout of task 'c' \(classification\) must have weight"
    ):
        score(readouts=bad)
    with pytest.raises(ValueError, match="latent has 11 columns but mean has 12"):
        score(latent=latent[:, :11])
    sparse = {**labels, "r": np.full(20, np.nan)}
    sparse["r"][0] = 1.0
    with pytest.raises(ValueError, match="at least 2 fully labelled samples"):
        score(labels=sparse)
    with pytest.raises(ValueError, match=r"centres of task 'c'.*class_target='swap'"):
        score(centres=None)
    with pytest.raises(ValueError, match=r"centres\['c'\] must have shape \(2, 1\)"):
        score(centres={"c": np.zeros((3, 1))})
    with pytest.raises(ValueError, match="solve must be one of"):
        score(solve="joint")
    with pytest.raises(ValueError, match="class_target must be one of"):
        score(class_target="mean")
    with pytest.raises(ValueError, match=r"basis has 4 columns for 3 tasks, so pass axes"):
        score(basis=np.linalg.qr(np.random.default_rng(0).normal(size=(12, 4)))[0])
    with pytest.raises(ValueError, match="each column used once"):
        score(axes=[(0,), (0,), (2,)])
    with pytest.raises(ValueError, match=r"y_q\['c'\] has a missing one"):
        compose(
            latent[0],
            {"r": 0.0, "theta": 0.0, "c": 0},
            {"r": 0.0, "theta": 0.0, "c": -1},
            mu,
            basis,
            decoders,
            tasks,
            centres=centres,
        )
    with pytest.raises(ValueError, match=r"concepts \['colour'\] are not tasks"):
        compose(latent[0], {}, {}, mu, basis, decoders, tasks, concepts=["colour"])
