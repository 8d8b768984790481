"""Hard parameter sharing (HPS): one shared encoder, one head per task.

The baselines every other method is compared with:

- ``hps`` with ``loss_weighting`` in {equal, mean, weighted, uw, dwa, famo}: the task losses are
  combined by a ``torchjd.scalarization`` scalarizer;
- ``hps`` with ``aggregator`` in {pcgrad, imtlg, mgda, cagrad, upgrad, nashmtl}: the per-task
  gradients of the shared encoder are combined by a ``torchjd.aggregation`` aggregator;
- ``stl``: single-task learning, one encoder and head per task (``_stl``).
"""

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torchjd.scalarization import DWA, FAMO

from orthomtl.config import ModelConfig
from orthomtl.data import Batch
from orthomtl.engine import LinearReadouts, Method, SharedTaskLosses
from orthomtl.losses import RegressionLoss, task_loss
from orthomtl.methods.hps._aggregation import AggregatorName, aggregate_backward, build_aggregator
from orthomtl.methods.hps._weighting import (
    LossWeighting,
    build_scalarizer,
    globally_valued,
    load_weighting_state,
    trainable_by_optimizer,
    weighting_state,
)
from orthomtl.nn import LinearHead, build_encoder, build_head
from orthomtl.registry import METHODS
from orthomtl.tasks import Task


class SharedEncoderNetwork(nn.Module):
    """Encoder then one head per task; ``forward`` returns the latent and the heads' outputs."""

    def __init__(
        self, tasks: Sequence[Task], input_shape: Sequence[int], model: ModelConfig
    ) -> None:
        super().__init__()
        self.encoder = build_encoder(
            model.encoder, input_shape, model.latent_dim, model.encoder_options
        )
        self.heads = nn.ModuleDict(
            {
                t.name: build_head(model.head, model.latent_dim, t.output_dim, model.head_options)
                for t in tasks
            }
        )

    def forward(self, x: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        features = self.encoder(x)
        return features, {name: head(features) for name, head in self.heads.items()}


@METHODS.register("hps")
class HPS(Method):
    """Hard parameter sharing with a loss weighting or a gradient aggregator (from TorchJD).

    Args:
        loss_weighting: how losses are combined when no aggregator is set. ``equal`` is the sum
            (LibMTL's EW), ``weighted`` a fixed weighted sum with ``weights``.
        weights: one weight per task, for ``weighted``.
        aggregator: a Jacobian-descent aggregator; replaces the loss weighting.
        weighting_options: keyword options of the scalarizer (e.g. FAMO's ``lr``).
        aggregator_options: keyword options of the aggregator (e.g. CAGrad's ``c``).
        regression_loss: the loss of regression tasks: ``l1`` or ``squared``.
    """

    summary = "hard parameter sharing with TorchJD loss weighting or gradient aggregation"
    MODEL_KEYS = Method.MODEL_KEYS | {"head", "head_options"}

    def __init__(
        self,
        tasks: Sequence[Task],
        input_shape: Sequence[int],
        model: ModelConfig,
        *,
        loss_weighting: LossWeighting = "equal",
        weights: list[float] | None = None,
        aggregator: AggregatorName | None = None,
        weighting_options: dict[str, Any] | None = None,
        aggregator_options: dict[str, Any] | None = None,
        regression_loss: RegressionLoss = "l1",
    ) -> None:
        super().__init__(tasks, input_shape, model)
        self.regression_loss = regression_loss
        if aggregator is not None and loss_weighting != "equal":
            raise ValueError(
                "method: set either aggregator or loss_weighting, not both "
                f"(got aggregator={aggregator!r}, loss_weighting={loss_weighting!r})."
            )
        self.model = SharedEncoderNetwork(tasks, input_shape, model)
        self.aggregator = (
            None
            if aggregator is None
            else build_aggregator(aggregator, len(self.tasks), aggregator_options or {})
        )
        self.scalarizer = build_scalarizer(
            loss_weighting, len(self.tasks), weights, weighting_options or {}
        )
        self.syncs_own_gradients = self.aggregator is not None
        self._features: Tensor | None = None
        self._per_task: list[Tensor] = []

    def parameter_groups(self) -> list[Tensor]:
        return [*self.model.parameters(), *trainable_by_optimizer(self.scalarizer)]

    def _task_losses(self, outputs: dict[str, Tensor], targets: dict[str, Tensor]) -> list[Tensor]:
        losses = [
            task_loss(t, outputs[t.name], targets[t.name], self.regression_loss) for t in self.tasks
        ]
        return self._global_means(losses, targets) if self.fabric.world_size > 1 else losses

    def _global_means(self, losses: list[Tensor], targets: dict[str, Tensor]) -> list[Tensor]:
        """Each rank's masked task means scaled by (its labelled rows × world size / all ranks'
        labelled rows), so that DDP's average over ranks is the mean over the global batch's
        labelled rows. The factor is 1 when every rank holds as many labels of the task (all
        single-source data); with multi-source data the ranks' counts differ."""
        counts = torch.stack([(~t.missing(targets[t.name])).sum() for t in self.tasks]).double()
        total = self.fabric.all_reduce(counts.clone(), reduce_op="sum").clamp(min=1)  # in place
        scale = counts * self.fabric.world_size / total
        return [loss * s.to(loss.dtype) for loss, s in zip(losses, scale, strict=True)]

    def _all_reduce_mean(self, tensor: Tensor) -> Tensor:
        return self.fabric.all_reduce(tensor, reduce_op="mean")

    def training_step(self, batch: Batch) -> dict[str, Tensor]:
        features, outputs = self.model(batch.x)
        task_losses = self._task_losses(outputs, batch.targets)
        named = {
            f"{t.name}/loss": loss.detach() for t, loss in zip(self.tasks, task_losses, strict=True)
        }
        if self.aggregator is not None:
            # mtl_backward differentiates each task's loss separately: keep them as separate graphs.
            self._features, self._per_task = features, task_losses
            return {**named, "total": sum(loss.detach() for loss in task_losses)}
        losses = torch.stack(task_losses)
        if self.fabric.world_size > 1:
            losses = globally_valued(losses, self._all_reduce_mean)
        return {**named, "total": self.scalarizer.to(losses.device)(losses)}

    def shared_task_losses(self, batch: Batch) -> SharedTaskLosses:
        """The task losses before weighting or aggregation, and the shared encoder's parameters."""
        network = self.network
        _, outputs = network(batch.x)
        losses = self._task_losses(outputs, batch.targets)
        named = {t.name: loss for t, loss in zip(self.tasks, losses, strict=True)}
        return named, list(network.encoder.parameters())

    def backward(self, losses: dict[str, Tensor]) -> None:
        if self.aggregator is None:
            super().backward(losses)
            return
        assert self._features is not None
        network = self.network
        aggregate_backward(
            self._per_task,
            self._features,
            shared_params=list(network.encoder.parameters()),
            task_params=[list(network.heads[t.name].parameters()) for t in self.tasks],
            aggregator=self.aggregator,
            all_reduce_mean=self._all_reduce_mean if self.fabric.world_size > 1 else None,
        )
        self._features, self._per_task = None, []

    def on_after_optimizer_step(self, batch: Batch, losses: dict[str, Tensor]) -> None:
        if isinstance(self.scalarizer, FAMO):
            self.scalarizer.update(self._losses_after_step(batch))

    @torch.no_grad()
    def _losses_after_step(self, batch: Batch) -> Tensor:
        """FAMO's losses of ``batch`` re-evaluated after the step, in training mode like the losses
        before it (as TorchJD's FAMO and the paper do), but with every buffer of the network (the
        BatchNorm running statistics) put back afterwards: they move once per step, as with any
        other weighting."""
        network = self.network
        buffers = [(buffer, buffer.clone()) for buffer in network.buffers()]
        _, outputs = network(batch.x)
        for buffer, saved in buffers:
            buffer.copy_(saved)
        after = torch.stack(self._task_losses(outputs, batch.targets))
        return self._all_reduce_mean(after) if self.fabric.world_size > 1 else after

    def on_epoch_end(self, epoch: int) -> dict[str, float]:
        if isinstance(self.scalarizer, DWA):
            self.scalarizer.step()
        return {}

    def outputs(self, x: Tensor) -> dict[str, Tensor]:
        return self.network(x)[1]

    def encode(self, x: Tensor) -> Tensor:
        return self.network.encoder(x)

    def linear_readouts(self) -> LinearReadouts | None:
        """The heads' (W, b) if every head is ``linear``; an angle head's rows give cos, sin."""
        return head_readouts(self.network.heads)

    def extra_state(self) -> dict[str, Any]:
        return {"weighting": weighting_state(self.scalarizer)}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        load_weighting_state(self.scalarizer, state["weighting"])


def head_readouts(heads: nn.ModuleDict) -> LinearReadouts | None:
    """Per task the (W, b) of its head, if every head is a ``LinearHead``; else None."""
    if not all(isinstance(head, LinearHead) for head in heads.values()):
        return None
    return {
        name: (head.linear.weight.detach(), head.linear.bias.detach())
        for name, head in heads.items()
    }
