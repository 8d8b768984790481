"""Single-task learning (STL): an independent encoder and head per task, trained side by side.

The parameters of different tasks never meet, and Adam's update is per parameter, so summing the
task losses trains each task exactly as alone. (A global ``trainer.grad_clip`` would couple them;
leave it unset for STL.)
"""

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from orthomtl.config import ModelConfig
from orthomtl.data import Batch
from orthomtl.engine import LinearReadouts, Method
from orthomtl.losses import task_loss
from orthomtl.methods.hps._hps import SharedEncoderNetwork, head_readouts
from orthomtl.registry import METHODS
from orthomtl.tasks import Task


class SingleTaskNetworks(nn.Module):
    """One ``SharedEncoderNetwork`` per task, each with a single head."""

    def __init__(
        self, tasks: Sequence[Task], input_shape: Sequence[int], model: ModelConfig
    ) -> None:
        super().__init__()
        self.nets = nn.ModuleDict(
            {t.name: SharedEncoderNetwork([t], input_shape, model) for t in tasks}
        )

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return {name: net(x)[1][name] for name, net in self.nets.items()}


@METHODS.register("stl")
class STL(Method):
    """Single-task learning: one model per task. Its metrics are the reference of Δm."""

    summary = "single-task learning: one encoder and head per task"
    MODEL_KEYS = Method.MODEL_KEYS | {"head", "head_options"}

    def __init__(
        self, tasks: Sequence[Task], input_shape: Sequence[int], model: ModelConfig
    ) -> None:
        super().__init__(tasks, input_shape, model)
        self.model = SingleTaskNetworks(tasks, input_shape, model)

    def training_step(self, batch: Batch) -> dict[str, Tensor]:
        outputs = self.model(batch.x)
        losses = {
            f"{t.name}/loss": task_loss(t, outputs[t.name], batch.targets[t.name])
            for t in self.tasks
        }
        total = torch.stack(list(losses.values())).sum()
        return {**{k: v.detach() for k, v in losses.items()}, "total": total}

    def outputs(self, x: Tensor) -> dict[str, Tensor]:
        return self.network(x)

    def encode(self, x: Tensor) -> Tensor:
        """The task encoders' latents side by side: (B, T × latent_dim), in task order."""
        return torch.cat([self.network.nets[t.name].encoder(x) for t in self.tasks], dim=1)

    def linear_readouts(self) -> LinearReadouts | None:
        """Each task's linear head on the concatenated latent of ``encode``: its (W, b), with zero
        weights on the other tasks' blocks."""
        nets = self.network.nets
        heads = nn.ModuleDict({t.name: nets[t.name].heads[t.name] for t in self.tasks})
        readouts = head_readouts(heads)
        if readouts is None:
            return None
        width = self.model_config.latent_dim
        padded = {}
        for i, task in enumerate(self.tasks):
            weight, bias = readouts[task.name]
            full = weight.new_zeros(weight.shape[0], width * len(self.tasks))
            full[:, i * width : (i + 1) * width] = weight
            padded[task.name] = (full, bias)
        return padded
