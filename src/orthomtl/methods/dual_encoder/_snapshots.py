"""Early stopping per task: the weights each task is served with, kept round by round.

With a shared encoder, tasks stop improving at different rounds. ``TaskSnapshots`` keeps, for
every configuration g and task r, a copy of what task r's prediction depends on (the shared
encoder, task r's encoder, its coefficients) from the round where task r's validation loss under
configuration g was lowest. Serving task r from configuration g uses that copy. The copies are
buffers, so checkpoints hold them and a resumed run continues with them.

The same class with a single loss per configuration (the mean over tasks, ``joint=True``) keeps
the whole model at its best mean round: the shared encoder a new task is transferred onto.
"""

import torch
from torch import Tensor, nn

from orthomtl.methods.dual_encoder._model import DualEncoderMTL
from orthomtl.nn import StackedLayers, apply_stacked


class TaskSnapshots(nn.Module):
    """Best-round copies of ``model``'s weights per configuration and task; see the module
    docstring.

    Buffers: ``best_loss`` and ``best_round`` (G, R) (inf and -1 before the first update), and
    the copies: ``shared_weight{i}`` (R, G, in, out), ``task_weight{i}`` (G·R, in, out), their
    biases, ``theta`` (G, R, K) and the centres of the copied round, ``centre`` (G, R, K − 1).
    """

    def __init__(self, model: DualEncoderMTL) -> None:
        super().__init__()
        G, R = model.num_configurations, model.num_tasks
        self.register_buffer("best_loss", torch.full((G, R), torch.inf))
        self.register_buffer("best_round", torch.full((G, R), -1, dtype=torch.long))
        self.register_buffer("theta", torch.zeros_like(model.theta))
        self.register_buffer("centre", torch.zeros(G, R, model.centre.shape[-1]))
        self.shared_layers = 0 if model.shared is None else len(model.shared.weights)
        self.task_layers = 0 if model.task is None else len(model.task.weights)
        if model.shared is not None:
            for i, (weight, bias) in enumerate(model.shared.layers()):
                self.register_buffer(f"shared_weight{i}", weight.detach().repeat(R, 1, 1, 1))
                self.register_buffer(f"shared_bias{i}", bias.detach().repeat(R, 1, 1))
        if model.task is not None:
            for i, (weight, bias) in enumerate(model.task.layers()):
                self.register_buffer(f"task_weight{i}", weight.detach().clone())
                self.register_buffer(f"task_bias{i}", bias.detach().clone())

    @torch.no_grad()
    def update(self, model: DualEncoderMTL, losses: Tensor, round_: int) -> Tensor:
        """Copy the weights of every (g, r) whose validation ``losses`` (G, R) beat its best so
        far; return that (G, R) mask."""
        improved = losses < self.best_loss
        if not improved.any():
            return improved
        G, R = improved.shape
        self.best_loss[improved] = losses[improved]
        self.best_round[improved] = round_
        self.theta[improved] = model.theta[improved]
        self.centre[improved] = model.centre[:, None].expand(G, R, -1)[improved]
        if model.shared is not None:
            by_task = improved.T  # (R, G): the shared copies are indexed task first
            for i, (weight, bias) in enumerate(model.shared.layers()):
                self.get_buffer(f"shared_weight{i}")[by_task] = weight.expand(R, *weight.shape)[
                    by_task
                ]
                self.get_buffer(f"shared_bias{i}")[by_task] = bias.expand(R, *bias.shape)[by_task]
        if model.task is not None:
            for i, (weight, bias) in enumerate(model.task.layers()):
                copy_w = self.get_buffer(f"task_weight{i}").view(G, R, *weight.shape[1:])
                copy_b = self.get_buffer(f"task_bias{i}").view(G, R, *bias.shape[1:])
                copy_w[improved] = weight.view(G, R, *weight.shape[1:])[improved]
                copy_b[improved] = bias.view(G, R, *bias.shape[1:])[improved]
        return improved

    def _shared(self, configs: Tensor) -> StackedLayers:
        tasks = torch.arange(configs.numel(), device=configs.device)
        return [
            (
                self.get_buffer(f"shared_weight{i}")[tasks, configs],
                self.get_buffer(f"shared_bias{i}")[tasks, configs],
            )
            for i in range(self.shared_layers)
        ]

    def _task(self, configs: Tensor, num_configs: int) -> StackedLayers:
        tasks = torch.arange(configs.numel(), device=configs.device)
        layers = []
        for i in range(self.task_layers):
            weight, bias = self.get_buffer(f"task_weight{i}"), self.get_buffer(f"task_bias{i}")
            R = configs.numel()
            weight = weight.view(num_configs, R, *weight.shape[1:])[configs, tasks]
            layers.append((weight, bias.view(num_configs, R, -1)[configs, tasks]))
        return layers

    def serve(self, model: DualEncoderMTL, block: Tensor, configs: Tensor) -> tuple[Tensor, Tensor]:
        """Task r's stored model of configuration ``configs[r]`` on its rows.

        Args:
            model: the live model (for its structure, masks and standardisation).
            block: (R, m, d) standardised rows, task r's in ``block[r]``.
            configs: (R,) the configuration each task is served from.

        Returns:
            The features [S, C, 1] (R, m, K) and the linear predictor η (R, m).
        """
        R = configs.numel()
        tasks = torch.arange(R, device=configs.device)
        parts = []
        if model.task is not None:
            parts.append(
                apply_stacked(
                    self._task(configs, model.num_configurations), block, model.task.activation
                )
            )
        if model.shared is not None:
            parts.append(apply_stacked(self._shared(configs), block, model.shared.activation))
        elif model.shared_kind == "identity":
            parts.append(block)
        parts.append(block.new_ones(*block.shape[:2], 1))
        features = torch.cat(parts, dim=-1) * model.feature_mask[configs][:, None, :]
        eta = (features * self.theta[configs, tasks][:, None, :]).sum(-1)
        return features, eta
