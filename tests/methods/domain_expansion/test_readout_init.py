"""Domain Expansion's readout initialisation on a tiny frozen encoder and basis: the class
readouts start at the class means of the coefficients computed on the whole sample at once, though
they are streamed batch by batch (``ClassStatistics``) and summed over ranks."""

import pytest
import torch
from lightning_fabric import Fabric
from torch import Tensor, nn

from orthomtl.config import ModelConfig
from orthomtl.data import Batch
from orthomtl.methods.domain_expansion import DomainExpansionReadouts
from orthomtl.pooling import OrthogonalPooling
from orthomtl.tasks import Task

TASKS = [
    Task("shape", "classification", num_classes=4),
    Task("colour", "classification", num_classes=3),
    Task("size", "regression"),
]
AXES = [(0, 1), (2,), (3,)]
D, M, INPUTS = 6, 4, 5


def _batches() -> list[Batch]:
    """Three non-empty batches and an empty one; shape never has class 3, and some rows have no
    shape or colour label (-1)."""
    generator = torch.Generator().manual_seed(0)
    batches = []
    for size in (7, 0, 5, 9):
        shape = torch.randint(0, 3, (size,), generator=generator)
        shape[::4] = -1
        colour = torch.randint(0, 3, (size,), generator=generator)
        colour[1::3] = -1
        x = torch.randn(size, INPUTS, generator=generator) + shape[:, None].clamp(min=0)
        targets = {"shape": shape, "colour": colour, "size": x[:, 0] + 0.1 * x[:, 1]}
        batches.append(Batch(x, targets, torch.arange(size)))
    return batches


class _Rank:
    """A stand-in for Fabric on one of two ranks: ``all_reduce`` records what this rank sends and
    adds, call by call, what the other rank sent (both ranks reduce in the same order)."""

    def __init__(self, other: "_Rank | None" = None) -> None:
        self.sent: list[Tensor] = []
        self.other = other

    def all_reduce(self, tensor: Tensor, reduce_op: str) -> Tensor:
        assert reduce_op == "sum"
        self.sent.append(tensor.clone())
        if self.other is None:
            return tensor
        return tensor + self.other.sent[len(self.sent) - 1]


def _initialised(batches: list[Batch], span: bool, fabric: object) -> DomainExpansionReadouts:
    torch.manual_seed(0)
    encoder = nn.Linear(INPUTS, D)
    pooling = OrthogonalPooling(D, M)
    pooling.mean.copy_(torch.randn(D))
    pooling.basis.copy_(torch.linalg.qr(torch.randn(D, M)).Q)
    pooling.initialized.fill_(True)
    method = DomainExpansionReadouts(
        TASKS,
        (INPUTS,),
        ModelConfig(),
        encoder=encoder,
        pooling=pooling,
        axes=AXES,
        cov_fraction=1.0,
        span=span,
    )
    method.attach(fabric, lambda fraction, epoch: batches, 0)  # type: ignore[arg-type]
    method.on_epoch_start(0)
    assert bool(method.network.initialized)
    return method


@pytest.mark.parametrize("span", [False, True])
def test_class_readouts_start_at_the_class_means_of_the_whole_sample(span: bool) -> None:
    batches = _batches()
    method = _initialised(batches, span, Fabric(accelerator="cpu", devices=1))
    pooling = method.pooling
    # encoded batch by batch as in training (float32 matmuls round by batch shape), then
    # the moments at once
    latents = [method.encode(b.x) for b in batches]
    f = torch.cat(latents).double()
    c = torch.cat([pooling(latent) for latent in latents]).double()
    mu, basis = pooling.mean.double(), pooling.basis.double()
    readouts = method.linear_readouts()
    for task, columns in zip(TASKS, AXES, strict=True):
        y = torch.cat([b.targets[task.name] for b in batches])
        weight, bias = (t.double() for t in readouts[task.name])
        v = basis[:, list(columns)]
        if task.kind != "classification":
            cm, y = c[:, columns[0]], y.double()
            covariance = ((cm - cm.mean()) * (y - y.mean())).mean()
            scale = y.std(correction=0) / cm.std(correction=0) * torch.sign(covariance)
            assert torch.allclose(weight, scale * v.T, rtol=1e-5, atol=1e-7)
            continue
        keep = y >= 0
        cm, labels = c[keep][:, list(columns)], y[keep]
        centres = torch.stack(
            [
                cm[labels == k].mean(0) if (labels == k).any() else cm.mean(0)
                for k in range(task.num_classes or 0)
            ]
        )
        assert torch.allclose(method.class_centres()[task.name], centres, rtol=1e-10, atol=1e-12)
        alpha = 1 / ((cm - centres[labels]) ** 2).mean()
        assert torch.allclose(weight, alpha * centres @ v.T, rtol=1e-5, atol=1e-6), task.name
        expected_bias = -alpha * centres @ (v.T @ mu) - alpha * (centres**2).sum(1) / 2
        assert torch.allclose(bias, expected_bias, rtol=1e-5, atol=1e-5), task.name
        logits = alpha * (cm @ centres.T - (centres**2).sum(1) / 2)
        assert torch.allclose(f[keep] @ weight.T + bias, logits, rtol=1e-5, atol=1e-4), task.name


def test_two_ranks_give_the_initialisation_of_their_data_together() -> None:
    """Each rank streams its own batches; the reduced counts, sums and scatter give the
    initialisation of one process on all the batches."""
    batches = _batches()
    one = _initialised(batches, False, Fabric(accelerator="cpu", devices=1))
    second = _Rank()
    _initialised(batches[2:], False, second)
    first = _initialised(batches[:2], False, _Rank(other=second))
    for name, centres in one.class_centres().items():
        assert torch.allclose(first.class_centres()[name], centres, rtol=1e-10, atol=1e-12), name
    for name, (weight, bias) in one.linear_readouts().items():
        first_weight, first_bias = first.linear_readouts()[name]
        assert torch.allclose(first_weight, weight, rtol=1e-5, atol=1e-7), name
        assert torch.allclose(first_bias, bias, rtol=1e-5, atol=1e-6), name
