"""The per-task and the stacked solve of concept composition on readouts that are not the exact
inverses of the latent: large, off-axis and ill-conditioned, as trained readouts are."""

import numpy as np
import pytest

from orthomtl.metrics.functional import class_centres, compose, composition_similarity
from orthomtl.tasks import Task, wrap_angle
from tests.metrics.test_latent_metrics import orthonormal

TASKS = [Task("digit", "classification", num_classes=3), Task("angle", "angle")]
AXES = [(0, 1), (2,)]


def trained_like_world(n: int = 120) -> dict:
    """D = 8, the digit on axes 0-1 with a readout of norm ~100 that also reads off its axes, the
    angle on axis 2 with a readout that reads the digit's axes and one direction off the axes a
    little."""
    rng = np.random.default_rng(3)
    frame = orthonormal(8, 8, seed=4)
    basis = frame[:, :3]
    mu = rng.normal(size=8)
    digit = rng.integers(0, 3, n)
    angle = rng.uniform(-1.0, 1.0, n)
    centres = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    coords = np.concatenate([centres[digit] + 0.2 * rng.normal(size=(n, 2)), angle[:, None]], 1)
    latent = mu + coords @ basis.T + 0.3 * rng.normal(size=(n, 5)) @ frame[:, 3:].T
    digit_weight = 50.0 * centres @ basis[:, :2].T + 5.0 * rng.normal(size=(3, 8))
    angle_weight = 0.3 * basis[:, 2][None] + 0.05 * basis[:, 0][None] + 0.1 * frame[:, 3][None]
    readouts = [
        (digit_weight, -digit_weight @ mu - 50.0 * (centres**2).sum(1) / 2),
        (angle_weight / 0.3, -(angle_weight / 0.3) @ mu),
    ]
    return {
        "latent": latent,
        "mean": mu,
        "basis": basis,
        "readouts": readouts,
        "labels": {"digit": digit, "angle": angle},
    }


def coefficients(world: dict, f: np.ndarray) -> np.ndarray:
    return (f - world["mean"]) @ world["basis"]


def decode_angle(world: dict, f: np.ndarray) -> np.ndarray:
    weight, bias = world["readouts"][1]
    return wrap_angle((f @ weight.T + bias)[:, 0])


def compose_digit(world: dict, solve: str, class_target: str) -> np.ndarray:
    labels = world["labels"]
    centres = class_centres(
        world["latent"], labels, world["mean"], world["basis"], TASKS, axes=AXES
    )
    return compose(
        world["latent"][:60],
        {"digit": labels["digit"][:60]},
        {"digit": labels["digit"][60:]},
        world["mean"],
        world["basis"],
        world["readouts"],
        TASKS,
        axes=AXES,
        centres=centres,
        concepts=["digit"],
        solve=solve,
        class_target=class_target,
    )


def test_per_task_solve_changes_only_the_composed_task() -> None:
    world = trained_like_world()
    f_p = world["latent"][:60]
    composed = compose_digit(world, "per-task", "centre")
    # The angle readout reads the digit's axes a little: the angle's own axis makes up for it.
    np.testing.assert_allclose(decode_angle(world, composed), decode_angle(world, f_p), atol=1e-9)
    # Off the axes, p's latent is untouched.
    off = np.eye(8) - world["basis"] @ world["basis"].T
    np.testing.assert_allclose(composed @ off, f_p @ off, atol=1e-12)
    # The digit coefficients sit on q's class centres.
    centres = class_centres(
        world["latent"], world["labels"], world["mean"], world["basis"], TASKS, axes=AXES
    )["digit"]
    np.testing.assert_allclose(
        coefficients(world, composed)[:, :2], centres[world["labels"]["digit"][60:]], atol=1e-12
    )


def test_stacked_solve_disturbs_the_angle_when_composing_the_digit() -> None:
    world = trained_like_world()
    before = decode_angle(world, world["latent"][:60])
    stacked = decode_angle(world, compose_digit(world, "stacked", "swap"))
    per_task = decode_angle(world, compose_digit(world, "per-task", "swap"))
    # The stacked solution lies in the readouts' row space, off the axes, and its re-projection on
    # the axes moves the decoded angle; the per-task solve leaves the angle's axis alone.
    assert np.abs(wrap_angle(stacked - before)).mean() > 0.05
    np.testing.assert_allclose(per_task, before, atol=1e-9)


def test_composing_nothing_returns_f_p() -> None:
    world = trained_like_world()
    f_p = world["latent"][:10]
    same = compose(
        f_p,
        {},
        {},
        world["mean"],
        world["basis"],
        world["readouts"],
        TASKS,
        axes=AXES,
        concepts=[],
    )
    np.testing.assert_array_equal(same, f_p)


def test_a_readout_that_hardly_reads_its_axis_is_not_inverted_there() -> None:
    basis = np.eye(4)[:, :1]
    tasks = [Task("r", "regression")]
    readout = [(np.array([[1e-4, 1.0, 0.0, 0.0]]), np.zeros(1))]  # reads axis 0 at 1e-4 of ‖w‖
    f_p = np.zeros((1, 4))
    args = (f_p, {"r": [0.0]}, {"r": [1.0]}, np.zeros(4), basis, readout, tasks)
    np.testing.assert_array_equal(compose(*args), f_p)  # truncated: no step of 1e4
    exact = compose(*args, rcond=0.0)
    np.testing.assert_allclose(exact, [[1e4, 0.0, 0.0, 0.0]])


def test_per_task_centre_composition_reaches_the_ceiling_and_decodes_to_q() -> None:
    world = trained_like_world()
    scores = {
        options: composition_similarity(
            **world,
            tasks=TASKS,
            axes=AXES,
            centres=class_centres(
                world["latent"], world["labels"], world["mean"], world["basis"], TASKS, axes=AXES
            ),
            solve=options[0],
            class_target=options[1],
        )
        for options in [("per-task", "centre"), ("stacked", "swap")]
    }
    best, paper = scores[("per-task", "centre")], scores[("stacked", "swap")]
    assert best.decoded["digit/accuracy"] > 0.95
    assert best.decoded["angle/mae"] < paper.decoded["angle/mae"] - 0.05
    assert best.floor_centred < best.centred
    assert best.centred == pytest.approx(best.ceiling_centred, abs=0.02)


@pytest.mark.parametrize("solve", ["per-task", "stacked"])
def test_class_centres_are_class_means_of_the_coefficients(solve: str) -> None:
    world = trained_like_world()
    centres = class_centres(
        world["latent"], world["labels"], world["mean"], world["basis"], TASKS, axes=AXES
    )
    c = coefficients(world, world["latent"])[:, :2]
    for k in range(3):
        np.testing.assert_allclose(centres["digit"][k], c[world["labels"]["digit"] == k].mean(0))
    assert set(centres) == {"digit"}
