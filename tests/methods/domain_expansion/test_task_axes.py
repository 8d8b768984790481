"""Class tasks owning several Domain Expansion axes (``class_axes``): layout, scoring, decoders
initialised in the task's subspace, concept algebra on a block of axes."""

from pathlib import Path

import numpy as np
import pytest
import torch

import orthomtl
from orthomtl.metrics.functional import compose, score_on_axes, score_on_pca_axes
from orthomtl.pooling import axes_count, check_layout, task_axes
from orthomtl.tasks import Task
from tests.conftest import tiny_config

DIGIT, ANGLE = Task("digit", "classification", num_classes=10), Task("angle", "angle")


def test_layout_gives_class_tasks_consecutive_columns() -> None:
    layout = task_axes([DIGIT, ANGLE, Task("y", "regression")], class_axes=3)
    assert layout == [(0, 1, 2), (3,), (4,)]
    assert axes_count(layout) == 5
    assert task_axes([ANGLE, DIGIT]) == [(0,), (1,)]
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="class_axes must be an integer >= 1"):
            task_axes([DIGIT], bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="each column used once"):
        check_layout([(0, 1), (1,)], [DIGIT, ANGLE], 3)
    with pytest.raises(ValueError, match="one group of columns per task"):
        check_layout([(0,)], [DIGIT, ANGLE], 1)


def _ten_class_blobs(rng: np.random.Generator, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Ten classes at the corners-and-centres of a 2-D grid: separable in 2-D, not on one axis."""
    y = rng.integers(0, 10, n)
    centres = np.stack([np.arange(10) % 4, np.arange(10) // 4], axis=1) * 4.0
    return centres[y] + rng.normal(scale=0.3, size=(n, 2)), y


def test_score_on_axes_scores_a_class_task_on_its_block() -> None:
    rng = np.random.default_rng(0)
    blobs, y = _ten_class_blobs(rng)
    angle = rng.uniform(-1.5, 1.5, len(y))
    coefficients = np.column_stack([blobs, angle])
    labels = {"digit": y, "angle": angle}
    scores = score_on_axes(coefficients, labels, [DIGIT, ANGLE], axes=[(0, 1), (2,)])
    assert scores["digit"].axes == (0, 1) and scores["digit"].value > 0.95
    assert scores["angle"].axes == (2,) and scores["angle"].value > 0.99
    one_axis = score_on_axes(coefficients[:, [0, 2]], labels, [DIGIT, ANGLE])
    assert one_axis["digit"].value < 0.85  # one of the two grid directions alone mixes classes
    with pytest.raises(ValueError, match="pass axes= when a task owns several"):
        score_on_axes(coefficients, labels, [DIGIT, ANGLE])


def test_pca_scoring_gives_each_task_its_number_of_axes() -> None:
    rng = np.random.default_rng(1)
    blobs, y = _ten_class_blobs(rng)
    angle = rng.uniform(-1.5, 1.5, len(y))
    # the angle has the middle variance, so it is not simply the last PCA axis
    latent = np.column_stack([blobs[:, 0] * 1.5, 2.5 * angle, blobs[:, 1], rng.normal(size=len(y))])
    rotation, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    labels = {"digit": y, "angle": angle}
    scores = score_on_pca_axes(latent @ rotation, labels, [DIGIT, ANGLE], axes_per_task=[2, 1])
    assert len(scores["digit"].axes) == 2 and len(scores["angle"].axes) == 1
    assert set(scores["digit"].axes) | set(scores["angle"].axes) == {0, 1, 2}
    assert scores["digit"].value > 0.95 and scores["angle"].value > 0.95
    with pytest.raises(ValueError, match="a count >= 1 for each of the 2 tasks"):
        score_on_pca_axes(latent, labels, [DIGIT, ANGLE], axes_per_task=[2])
    many = [Task(f"t{i}", "regression") for i in range(3)]
    with pytest.raises(ValueError, match="11880 ways to give 12 PCA axes"):
        score_on_pca_axes(
            np.tile(latent, (1, 5)),
            {"digit": y, "angle": angle, **{t.name: angle for t in many}},
            [DIGIT, *many, ANGLE],
            axes_per_task=[8, 1, 1, 1, 1],
        )


def test_composition_moves_each_task_on_its_own_block_of_axes() -> None:
    rng = np.random.default_rng(2)
    basis, _ = np.linalg.qr(rng.normal(size=(6, 3)))
    mean = rng.normal(size=6)
    regression = basis[:, 2][None] + 0.3 * basis[:, 0][None]  # it reads the class block too
    decoders = [(rng.normal(size=(3, 6)), rng.normal(size=3)), (regression, np.zeros(1))]
    tasks = [Task("c", "classification", num_classes=3), Task("r", "regression")]
    centres = {"c": rng.normal(size=(3, 2))}
    f = mean + rng.normal(size=(5, 3)) @ basis.T + 0.1 * rng.normal(size=(5, 6))
    y_r = (f @ regression.T)[:, 0]
    out = compose(
        f,
        {"r": y_r},
        {"c": np.full(5, 2), "r": y_r + 1.0},
        mean,
        basis,
        decoders,
        tasks,
        axes=[(0, 1), (2,)],
        centres=centres,
    )
    # The class block lands on class 2's centre, the regression readout moves by exactly +1
    # although it reads the class block, and nothing moves off the axes.
    np.testing.assert_allclose((out - mean) @ basis[:, :2], np.tile(centres["c"][2], (5, 1)))
    np.testing.assert_allclose((out @ regression.T)[:, 0], y_r + 1.0)
    off = np.eye(6) - basis @ basis.T
    np.testing.assert_allclose(out @ off, f @ off, atol=1e-12)


@pytest.fixture(scope="module")
def block_model(tmp_path_factory: pytest.TempPathFactory) -> orthomtl.TrainedModel:
    """A short DE run with 3 axes for the digit; decoders kept at their initialisation."""
    method = {
        "name": "domain-expansion",
        "cov_fraction": 0.5,
        "readout_epochs": 1,
        "class_axes": 3,
        "readout_lr": 1e-12,
    }
    config = tiny_config(
        method=method, runs_dir=str(tmp_path_factory.mktemp("axes")), trainer={"max_epochs": 2}
    )
    return orthomtl.load(orthomtl.run(config).run_dirs[0])


def test_de_trains_a_class_subspace_and_initialises_its_decoder_in_it(
    block_model: orthomtl.TrainedModel,
) -> None:
    method = block_model.method
    assert method.axes == [(0, 1, 2), (3,)]
    basis = method.pooling.basis.double()
    assert basis.shape == (16, 4)
    assert torch.allclose(basis.T @ basis, torch.eye(4, dtype=torch.float64), atol=1e-6)
    weight = method.network.readouts["digit"].weight.detach().double()
    inside = weight @ basis[:, :3] @ basis[:, :3].T
    assert torch.allclose(inside, weight, atol=1e-6 * float(weight.abs().max()))
    angle = method.network.readouts["angle"].weight.detach().double()[0]
    assert abs(float(angle @ basis[:, 3] / angle.norm())) > 1 - 1e-6


def test_concept_algebra_moves_a_block_of_axes(block_model: orthomtl.TrainedModel) -> None:
    algebra = orthomtl.ConceptAlgebra(block_model)
    f = algebra.encode(torch.rand(6, 1, 28, 28))
    step = torch.tensor([0.5, -1.0, 2.0])
    edited = algebra.edit(f, "digit", step, units="coefficient")
    change = algebra.coefficients(edited) - algebra.coefficients(f)
    assert torch.allclose(change[:, :3], step.expand(6, 3), atol=1e-5)
    assert torch.allclose(change[:, 3], torch.zeros(6), atol=1e-5)
    with pytest.raises(ValueError, match="must have 3 entries per latent"):
        algebra.edit(f, "digit", 1.0, units="coefficient")
    # In label units a class task's block moves to the class's centre, all 3 coordinates.
    centres = block_model.method.class_centres()["digit"].float()
    to_four = algebra.coefficients(algebra.edit(f, "digit", 4))
    assert torch.allclose(to_four[:, :3], centres[4].expand(6, 3), atol=1e-5)
    moved = algebra.edit(f, "angle", torch.linspace(0, 1, 6), units="coefficient")
    assert torch.allclose(
        (algebra.coefficients(moved) - algebra.coefficients(f))[:, 3],
        torch.linspace(0, 1, 6),
        atol=1e-5,
    )


def test_too_many_axes_for_the_latent_is_refused(tmp_path: Path) -> None:
    method = {"name": "domain-expansion", "class_axes": 16}
    with pytest.raises(ValueError, match=r"needs 17 latent axes .* model.latent_dim is 16"):
        orthomtl.run(tiny_config(method=method, runs_dir=str(tmp_path)))
    assert not any(tmp_path.iterdir())
