"""HPS with FAMO: the re-evaluation after each step leaves BatchNorm's running statistics alone."""

import copy

import pytest
import torch
from lightning_fabric import Fabric
from torch import Tensor

from orthomtl.config import ModelConfig
from orthomtl.data import Batch
from orthomtl.losses import task_loss
from orthomtl.methods import HPS
from orthomtl.tasks import Task

TASKS = [Task("digit", "classification", 3), Task("value", "regression")]
MODEL = ModelConfig(
    encoder="convnet", latent_dim=8, encoder_options={"channels": [4, 8], "batch_norm": True}
)


@pytest.fixture
def batch() -> Batch:
    generator = torch.Generator().manual_seed(0)
    targets = {
        "digit": torch.randint(0, 3, (16,), generator=generator),
        "value": torch.randn(16, generator=generator),
    }
    return Batch(torch.rand(16, 1, 28, 28, generator=generator), targets, torch.arange(16))


def _stepped(loss_weighting: str, batch: Batch) -> tuple[HPS, dict[str, Tensor]]:
    """``hps`` after one training step, backward and SGD step on ``batch``, as the engine drives
    them, before the ``on_after_optimizer_step`` hook."""
    torch.manual_seed(0)
    method = HPS(TASKS, (1, 28, 28), MODEL, loss_weighting=loss_weighting)
    fabric = Fabric(accelerator="cpu", devices=1)
    optimizer = torch.optim.SGD(method.parameter_groups(), lr=0.1)
    method.model, optimizer = fabric.setup(method.model, optimizer)
    method.attach(fabric, lambda fraction, epoch: [], seed=0)
    losses = method.training_step(batch)
    optimizer.zero_grad()
    method.backward(losses)
    optimizer.step()
    return method, losses


def _batchnorm_buffers(method: HPS) -> dict[str, Tensor]:
    buffers = dict(method.network.named_buffers())
    assert any(name.endswith("running_mean") for name in buffers)  # the encoder has BatchNorm
    return buffers


def test_famo_step_moves_batchnorm_statistics_once(batch: Batch) -> None:
    famo, losses = _stepped("famo", batch)
    famo.on_after_optimizer_step(batch, losses)
    equal, losses = _stepped("equal", batch)
    equal.on_after_optimizer_step(batch, losses)
    after_famo, after_equal = _batchnorm_buffers(famo), _batchnorm_buffers(equal)
    for name, value in after_equal.items():
        assert torch.equal(after_famo[name], value), name
        if name.endswith("num_batches_tracked"):
            assert int(value) == 1


def test_famo_update_gets_the_training_mode_losses_after_the_step(
    batch: Batch, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TorchJD's recipe: the losses recomputed on the same batch by the stepped model, in
    training mode (BatchNorm normalises by the batch, as for the losses before the step)."""
    method, losses = _stepped("famo", batch)
    with torch.no_grad():
        _, outputs = copy.deepcopy(method.network)(batch.x)
    expected = torch.stack([task_loss(t, outputs[t.name], batch.targets[t.name]) for t in TASKS])
    received: list[Tensor] = []
    update = method.scalarizer.update

    def recording_update(values: Tensor) -> None:
        received.append(values)
        update(values)

    monkeypatch.setattr(method.scalarizer, "update", recording_update)
    method.on_after_optimizer_step(batch, losses)
    assert torch.equal(received[0], expected)
