"""The trained family member as it is served: the live model, its snapshots, and which
configuration serves each task.

Training moves the live ``DualEncoderMTL``; every prediction outside training (validation
metrics, test metrics, ``orthomtl.load(...).predict``) comes from the per-task snapshots
(``_snapshots``) of the configuration chosen for each task (``_selection``), and ``encode`` from
the joint snapshot of the selected configuration.
"""

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import torch
from torch import Tensor, nn

from orthomtl.methods.dual_encoder._model import Configuration, DualEncoderMTL
from orthomtl.methods.dual_encoder._snapshots import TaskSnapshots
from orthomtl.nn import RowGroups


class DualEncoderNetwork(nn.Module):
    """The model, its per-task and joint snapshots, and which configuration serves each task."""

    def __init__(self, net: DualEncoderMTL, per_task_stopping: bool = True) -> None:
        super().__init__()
        self.net, self.per_task_stopping = net, per_task_stopping
        self.per_task = TaskSnapshots(net)
        self.joint = TaskSnapshots(net)
        R = net.num_tasks
        self.register_buffer("served", torch.zeros(R, dtype=torch.long))
        self.register_buffer("selected", torch.zeros(R, dtype=torch.long))
        self.register_buffer("gain", torch.full((3, R), torch.nan))
        """Per task: the sharing gain, its standard error and its validation rows (NaN: no
        single-task fits)."""

    def forward(self, x: Tensor, source: Tensor) -> tuple[Tensor, Tensor]:
        return self.net(x, source)

    @property
    def serving(self) -> TaskSnapshots:
        """The snapshots predictions come from: per task, or of the best mean round."""
        return self.per_task if self.per_task_stopping else self.joint

    def serve_rows(
        self, x: Tensor, source: Tensor, configs: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Each row's prediction under its own task's snapshot of ``configs`` (R,) (the served
        ones by default): features [S, C, 1] (N, K) and η (N,), for raw rows ``x`` (N, d)."""
        groups = RowGroups.of(source.long(), self.net.num_tasks)
        block = groups.pack(self.net.standardise(x))
        configs = self.served if configs is None else configs
        features, eta = self.serving.serve(self.net, block, configs)
        return groups.unpack(features), groups.unpack(eta[..., None])[..., 0]

    def serve_all(self, x: Tensor) -> Tensor:
        """Every task's served prediction on every row of ``x`` (N, d): η (R, N)."""
        block = self.net.standardise(x).expand(self.net.num_tasks, -1, -1)
        return self.serving.serve(self.net, block, self.served)[1]

    def shared_latent(self, x: Tensor) -> Tensor:
        """C(x) (N, p) of the selected configuration's joint snapshot; without a shared block,
        every task's S_r(x) side by side (N, R·q)."""
        net = self.net
        configs = self.selected[:1].expand(net.num_tasks)
        block = net.standardise(x).expand(net.num_tasks, -1, -1)
        features, _ = self.joint.serve(net, block, configs)
        if net.p:
            return features[0, :, net.q : net.q + net.p]
        return features[..., : net.q].transpose(0, 1).reshape(x.shape[0], -1)

    def shared_readouts(self, binary: Sequence[bool]) -> list[tuple[Tensor, Tensor]] | None:
        """Per task, the linear map from ``shared_latent``'s C(x) to the raw output: β_r and the
        intercept b_r of the selected configuration's joint snapshot (α_rᵀS_r(x) left out), as
        ``(W, b)`` shaped like the raw outputs: one value, or the logits [0, η] of a ``binary``
        task. ``None`` without a shared block."""
        net = self.net
        if not net.p:
            return None
        theta = self.joint.theta[int(self.selected[0])]  # (R, q + p + 1)
        out = []
        for r, two_logits in enumerate(binary):
            beta, intercept = theta[r, net.q : net.q + net.p], theta[r, -1:]
            if two_logits:
                zero = torch.zeros_like(beta)
                out.append((torch.stack([zero, beta]), torch.cat([zero[:1], intercept])))
            else:
                out.append((beta[None], intercept))
        return out

    def record(
        self, configurations: Sequence[Configuration], tasks: Sequence[str], fallback: str
    ) -> dict[str, Any]:
        """The configurations, the selected one, what serves each task, every configuration's
        best validation loss and round per task, and the per-task gain of sharing (its
        standard error and rows) when single-task fits were trained."""
        record: dict[str, Any] = {
            "configurations": [asdict(c) for c in configurations],
            "tasks": list(tasks),
            "selected": self.selected.tolist(),
            "served": self.served.tolist(),
            "fallback": fallback,
            "best_val_loss": self.serving.best_loss.tolist(),
            "best_round": self.serving.best_round.tolist(),
        }
        if not bool(self.gain.isnan().all()):
            gain, se, rows = self.gain.tolist()
            record["sharing_gain"] = {"gain": gain, "standard_error": se, "rows": rows}
        return record
