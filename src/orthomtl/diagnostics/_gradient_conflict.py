"""``GradientConflictCallback``: how much the tasks' gradients on the shared parameters disagree.

Every ``every_n_steps`` optimiser steps it takes the step's batch, asks the method for each task's
loss and the shared parameters (``Method.shared_task_losses``: HPS and its aggregators, Detaux's MTL
stage, Domain Expansion's axis losses), and differentiates each loss separately. The gradients
(T × P) are averaged over processes, so N processes measure the global batch's gradients (exactly
for HPS, whose task losses are means over the global batch; for Domain Expansion each rank's
contrastive loss sees its own rows). It logs the pairwise cosines ``grad/cos/<a>~<b>``, the share
of pairs of tasks whose cosine is negative ``grad/negative_share`` (Yu et al. 2020 call these
conflicting gradients), and each gradient's norm ``grad/norm/<task>``; the matrices go to
``diagnostics.json`` under ``gradient_conflict``.

The measurement leaves training as it was: the network's buffers (BatchNorm statistics) and the
random state are restored afterwards, so a run logs the same losses with and without it.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from orthomtl.data import Batch
from orthomtl.diagnostics._record import DiagnosticsLog
from orthomtl.engine import Callback, Engine
from orthomtl.metrics.functional import gradient_conflict


@contextmanager
def preserved_state(network: nn.Module, device: torch.device) -> Iterator[None]:
    """Run a block, then restore ``network``'s buffers and the random state it consumed."""
    buffers = {name: b.detach().clone() for name, b in network.named_buffers()}
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            with torch.no_grad():
                for name, b in network.named_buffers():
                    b.copy_(buffers[name])


def task_gradients(losses: dict[str, Tensor], parameters: list[Tensor]) -> Tensor:
    """The gradient of each loss with respect to ``parameters``, flattened: (T, P) rows in the
    order of ``losses``; parameters a loss does not reach contribute zeros."""
    trainable = [p for p in parameters if p.requires_grad]
    if not trainable:
        raise ValueError("gradient conflict: the shared parameters have none that is trainable.")
    rows = []
    for loss in losses.values():
        grads = torch.autograd.grad(loss, trainable, retain_graph=True, allow_unused=True)
        rows.append(
            torch.cat(
                [
                    (torch.zeros_like(p) if g is None else g).flatten()
                    for p, g in zip(trainable, grads, strict=True)
                ]
            )
        )
    return torch.stack(rows)


class GradientConflictCallback(Callback):
    """Log gradient conflict every ``every_n_steps`` steps; see the module docstring.

    Args:
        every_n_steps: the interval in optimiser steps, counted from the first step.
    """

    def __init__(self, every_n_steps: int = 100) -> None:
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}.")
        self.every_n_steps = every_n_steps
        self.log = DiagnosticsLog("gradient_conflict")

    def on_fit_start(self, engine: Engine) -> None:
        self.log.start(engine.run_dir, engine.progress.step, engine.fabric.is_global_zero)

    def on_train_batch_end(self, engine: Engine, batch: Batch, losses: dict[str, Tensor]) -> None:
        step = engine.progress.step
        if (step - 1) % self.every_n_steps:
            return
        method = engine.method
        network = method.network
        with preserved_state(network, engine.fabric.device):
            shared = method.shared_task_losses(batch)
            if shared is None:
                return
            task_losses, parameters = shared
            gradients = task_gradients(task_losses, parameters).detach()
        if engine.fabric.world_size > 1:
            gradients = engine.fabric.all_reduce(gradients, reduce_op="mean")
        names = list(task_losses)
        if len(names) < 2:
            return
        conflict = gradient_conflict(gradients.double())
        norms = torch.linalg.vector_norm(gradients.double(), dim=1)
        logged = {"grad/negative_share": conflict.negative_share}
        for i, a in enumerate(names):
            logged[f"grad/norm/{a}"] = float(norms[i])
            for j in range(i + 1, len(names)):
                logged[f"grad/cos/{a}~{names[j]}"] = float(conflict.cosine[i, j])
        engine.log(logged | {"epoch": engine.progress.epoch})
        self.log.append(
            {
                "epoch": engine.progress.epoch,
                "step": step,
                "tasks": names,
                "cosine": conflict.cosine.tolist(),
                "norms": norms.tolist(),
                "negative_share": conflict.negative_share,
            }
        )
