"""The ``detaux`` method: its options, its training step, and that every loss trains."""

import warnings

import pytest
import torch
from lightning_fabric import Fabric

from orthomtl.config import ModelConfig
from orthomtl.data import Batch
from orthomtl.methods.detaux import Detaux
from orthomtl.methods.detaux import _method as detaux_method
from orthomtl.tasks import Task

TASK = Task("column", "classification", 2)
MODEL = ModelConfig(encoder="product-space", decoder="product-space")


def make(**options: object) -> Detaux:
    torch.manual_seed(0)
    method = Detaux(
        [TASK], (1, 28, 28), MODEL, compile=False, subspaces=4, subspace_dim=6, **options
    )
    method.attach(Fabric(accelerator="cpu", devices=1), lambda fraction, epoch: [], 0, max_epochs=8)
    return method


def pair_batch(pairs: int = 8) -> Batch:
    generator = torch.Generator().manual_seed(1)
    labels = torch.arange(2 * pairs) % 2
    return Batch(
        x=torch.rand(2 * pairs, 1, 28, 28, generator=generator),
        targets={"column": labels},
        index=torch.arange(2 * pairs),
    )


def test_reg_gradient_reaches_the_projectors() -> None:
    method = make()
    batch = pair_batch()
    codes = method.network.codes(batch.x)
    differs = torch.zeros(8, dtype=torch.bool)  # same-label pairs: the soft choice is learnable
    terms = method.objective.pair_terms(codes[:8], codes[8:], differs)
    terms["reg"].backward()
    projectors = method.network.projectors
    assert projectors.weight2.grad is not None
    assert projectors.weight2.grad.abs().sum() > 0
    assert method.network.encoder.head[-1].weight.grad.abs().sum() > 0


def test_the_first_quarter_trains_reconstruction_only() -> None:
    method = make()
    method.epoch = 1  # of 8: before the warm-up ends
    losses = method.training_step(pair_batch())
    assert "cons" not in losses
    assert losses["total"].item() == pytest.approx(losses["rec"].item())


def test_at_full_weight_the_total_is_the_weighted_sum_of_the_five_terms() -> None:
    method = make(dist_weight=0.3, spar_weight=0.2, cons_weight=5.0, reg_weight=0.5)
    method.epoch = 7
    assert method.betas().dist == method.betas().cons == 1.0
    losses = method.training_step(pair_batch())
    expected = (
        losses["rec"]
        + 0.3 * losses["dist"]
        + 0.2 * losses["spar"]
        + 5.0 * losses["cons"]
        + 0.5 * losses["reg"]
    )
    assert losses["total"].item() == pytest.approx(expected.item(), rel=1e-6)
    losses["total"].backward()
    grads = [p.grad for p in method.network.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_evaluation_reports_every_term_and_the_principal_share() -> None:
    method = make()
    metrics = method.evaluate([pair_batch()], lambda t: t)
    assert set(metrics) == {"rec", "spar", "dist", "reg", "cons", "loss", "principal_share"}
    assert 0.0 <= metrics["principal_share"] <= 1.0
    assert method.network.training


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"principal": "row"}, "not a task"),
        ({"num_aux_tasks": 4}, "num_aux_tasks"),
        ({"share_different": 1.5}, "share_different"),
        ({"principal_subspace": 4}, "principal_subspace"),
        ({"margin": 0.0}, "margin"),
        ({"hinge": "squared"}, "hinge"),
        ({"discovery": {"clusterer_typo": 1}}, r"Unknown method\.discovery"),
        ({"mtl_trainer": {"max_epoch": 3}}, r"Unknown method\.mtl_trainer"),
        ({"principal_weight": 0.0}, "principal_weight"),
    ],
)
def test_bad_options_are_refused_before_training(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(**options)


def test_principal_must_be_the_only_task_and_a_class() -> None:
    with pytest.raises(ValueError, match=r"data\.tasks"):
        Detaux([TASK, Task("row", "classification", 3)], (1, 28, 28), MODEL, principal="column")
    with pytest.raises(ValueError, match="class task"):
        Detaux([Task("size", "regression")], (1, 28, 28), MODEL, compile=False)


def test_compile_falls_back_to_eager_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(detaux_method.torch, "compile", broken)
    with pytest.warns(UserWarning, match="runs eagerly"):
        method = Detaux([TASK], (1, 28, 28), MODEL, compile=True)
    assert method.network._compiled_call_impl is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Detaux([TASK], (1, 28, 28), MODEL, compile=False)
