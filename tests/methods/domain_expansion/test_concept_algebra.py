"""Concept algebra on trained readouts: compose and edit through readouts that have left their
axes, the readouts' optimiser, and readouts kept in the span of their axes."""

from pathlib import Path

import pytest
import torch

import orthomtl
from orthomtl.tasks import circular_distance
from tests.conftest import tiny_config

# tiny_config's optimiser: Adam at lr 0.01, no weight decay; the readouts get their own below.
DE = {"name": "domain-expansion", "cov_fraction": 0.5, "readout_epochs": 2}


def _run(runs: Path, **method: object) -> Path:
    config = tiny_config(
        method={**DE, **method},
        optim={"weight_decay": 1e-2},
        runs_dir=str(runs),
        trainer={"max_epochs": 2},
    )
    return orthomtl.run(config).run_dirs[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run(tmp_path_factory.mktemp("algebra"))


@pytest.fixture(scope="module")
def algebra(trained: Path) -> orthomtl.ConceptAlgebra:
    return orthomtl.ConceptAlgebra(orthomtl.load(trained))


@pytest.fixture(scope="module")
def latents(algebra: orthomtl.ConceptAlgebra) -> torch.Tensor:
    test = orthomtl.DATASETS.get("rotated-digits").loader(seed=0).test
    return algebra.encode(test.__getitems__(list(range(80))).x)


def test_the_readouts_have_left_their_axes(algebra: orthomtl.ConceptAlgebra) -> None:
    # They start along their axes to 1e-6 (test_readout_initialisation_is_exactly_along_the_axes);
    # at 0.1 × the encoder's learning rate they stay close.
    weight, _ = algebra.method.linear_readouts()["angle"]
    axis = algebra.method.pooling.basis[:, 1]
    assert abs(float(weight[0] @ axis / weight[0].norm())) < 1 - 1e-5


def test_composing_nothing_returns_f_p(
    algebra: orthomtl.ConceptAlgebra, latents: torch.Tensor
) -> None:
    f_p, f_q = latents[:40], latents[40:]
    assert (algebra.compose(f_p, f_q, []) - f_p).abs().max() < 1e-5


def test_composing_the_angle_decodes_to_q_and_keeps_the_digit_axis(
    algebra: orthomtl.ConceptAlgebra, latents: torch.Tensor
) -> None:
    f_p, f_q = latents[:40], latents[40:]
    mixed = algebra.compose(f_p, f_q, ["angle"])
    decoded, target = algebra.decode(mixed), algebra.decode(f_q)
    assert circular_distance(decoded["angle"] - target["angle"]).max() < 1e-4
    change = algebra.coefficients(mixed) - algebra.coefficients(f_p)
    assert change[:, 0].abs().max() < 1e-5  # the digit's axis did not move
    # The digit's decoding is kept as far as its trained readout ignores the angle axis;
    # readout_span makes it exact (test_readouts_can_be_kept_in_the_span_of_their_axes).


def test_composing_the_digit_moves_to_q_class_centre_and_keeps_the_angle(
    algebra: orthomtl.ConceptAlgebra, latents: torch.Tensor
) -> None:
    f_p, f_q = latents[:40], latents[40:]
    mixed = algebra.compose(f_p, f_q, ["digit"])
    centres = algebra.method.class_centres()["digit"].float()
    q_digit = algebra.decode(f_q)["digit"]
    assert torch.allclose(algebra.coefficients(mixed)[:, :1], centres[q_digit], atol=1e-4)
    kept = circular_distance(algebra.decode(mixed)["angle"] - algebra.decode(f_p)["angle"])
    assert kept.max() < 1e-4
    # The paper's logit swap through the stacked pseudo-inverse keeps neither.
    paper = algebra.compose(f_p, f_q, ["digit"], solve="stacked", class_target="swap")
    drift = circular_distance(algebra.decode(paper)["angle"] - algebra.decode(f_p)["angle"])
    assert drift.max() > 1e-3


def test_edit_moves_the_decoded_angle_by_delta(
    algebra: orthomtl.ConceptAlgebra, latents: torch.Tensor
) -> None:
    before = algebra.decode(latents)
    for delta in (0.3, torch.linspace(-1.0, 1.0, 80)):
        edited = algebra.edit(latents, "angle", delta)
        after = algebra.decode(edited)
        assert circular_distance(after["angle"] - before["angle"] - delta).max() < 1e-4
        change = algebra.coefficients(edited) - algebra.coefficients(latents)
        assert change[:, 0].abs().max() < 1e-5
    # In coefficient units the coefficient moves by delta, whatever the readout makes of it.
    moved = algebra.edit(latents, "angle", 0.3, units="coefficient")
    change = algebra.coefficients(moved) - algebra.coefficients(latents)
    assert torch.allclose(change[:, 1], torch.full((80,), 0.3), atol=1e-5)


def test_edit_moves_a_class_task_to_the_class_centre(
    algebra: orthomtl.ConceptAlgebra, latents: torch.Tensor
) -> None:
    centres = algebra.method.class_centres()["digit"].float()
    edited = algebra.edit(latents, "digit", 7)
    assert torch.allclose(algebra.coefficients(edited)[:, 0], centres[7, 0].expand(80), atol=1e-4)
    per_latent = algebra.edit(latents, "digit", torch.arange(80) % 10)
    assert torch.allclose(
        algebra.coefficients(per_latent)[:, 0], centres[torch.arange(80) % 10, 0], atol=1e-4
    )


def test_edit_and_compose_validation(
    algebra: orthomtl.ConceptAlgebra, latents: torch.Tensor
) -> None:
    with pytest.raises(ValueError, match="units must be 'label' or 'coefficient'"):
        algebra.edit(latents, "angle", 0.1, units="radians")
    with pytest.raises(ValueError, match="is a class index"):
        algebra.edit(latents, "digit", 2.5)
    with pytest.raises(ValueError, match=r"one entry per latent \(80,\)"):
        algebra.edit(latents, "angle", torch.zeros(3))
    with pytest.raises(KeyError, match="No task 'colour'"):
        algebra.edit(latents, "colour", 1.0)
    with pytest.raises(ValueError, match="solve must be one of"):
        algebra.compose(latents, latents, solve="joint")


def test_readouts_train_at_a_tenth_of_the_encoder_lr_and_decay(trained: Path) -> None:
    state = torch.load(trained / "readouts" / "checkpoints" / "last.ckpt", weights_only=True)
    group = state["optimizer"]["param_groups"][0]
    assert group["initial_lr"] == pytest.approx(1e-3)  # 0.1 × optim.lr
    assert group["weight_decay"] == pytest.approx(1e-3)  # 0.1 × optim.weight_decay


def test_readouts_can_be_kept_in_the_span_of_their_axes(tmp_path: Path) -> None:
    run = _run(tmp_path, readout_lr=1e-2, readout_span=True)
    algebra = orthomtl.ConceptAlgebra(orthomtl.load(run))
    method = algebra.method
    basis = method.pooling.basis.double()
    for m, task in enumerate(algebra.tasks):
        weight = method.linear_readouts()[task.name][0].double()
        axes = basis[:, list(method.axes[m])]
        assert torch.allclose(weight @ axes @ axes.T, weight, atol=1e-6 * float(weight.abs().max()))
    state = torch.load(run / "readouts" / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["optimizer"]["param_groups"][0]["initial_lr"] == pytest.approx(1e-2)
    # Each readout reads only its own axes, so composing or editing one task keeps the others.
    test = orthomtl.DATASETS.get("rotated-digits").loader(seed=0).test
    f = algebra.encode(test.__getitems__(list(range(80))).x)
    mixed = algebra.decode(algebra.compose(f[:40], f[40:], ["angle"]))
    assert torch.equal(mixed["digit"], algebra.decode(f[:40])["digit"])
    edited = algebra.decode(algebra.edit(f, "angle", 0.7))
    assert torch.equal(edited["digit"], algebra.decode(f)["digit"])


def test_bad_composition_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"Unknown method.composition option\(s\) \['mode'\]"):
        _run(tmp_path, composition={"mode": "stacked"})
    with pytest.raises(ValueError, match=r"method\.composition: solve must be one of"):
        _run(tmp_path, composition={"solve": "joint"})
