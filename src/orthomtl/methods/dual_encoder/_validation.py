"""What is measured on a split: every configuration's loss per task, the paired gain of sharing,
and the served model's metrics.

Each pass sums per task over this process's rows and reduces the sums across processes, so a
distributed run measures what a single process would.
"""

from collections.abc import Callable, Iterable

import torch
from torch import Tensor

from orthomtl.data import Batch
from orthomtl.losses import orthogonality_penalty
from orthomtl.methods.dual_encoder._network import DualEncoderNetwork
from orthomtl.methods.dual_encoder._rows import TaskRows
from orthomtl.methods.dual_encoder._selection import SharingGain, sharing_gain
from orthomtl.metrics import TaskMetrics

ReduceSum = Callable[[Tensor], Tensor]


@torch.no_grad()
def configuration_losses(
    network: DualEncoderNetwork, batches: Iterable[Batch], rows: TaskRows, reduce_sum: ReduceSum
) -> Tensor:
    """Every configuration's loss per task with the live weights, (G, R)."""
    net = network.net
    R, G = net.num_tasks, net.num_configurations
    sums = torch.zeros(G + 1, R, dtype=torch.float64, device=net.theta.device)
    for batch in batches:
        if not len(batch):
            continue
        source = rows.source(batch)
        _, eta = net(batch.x, source)
        loss = rows.criterion(eta, rows.targets(batch)).double()
        sums[:G].index_add_(1, source, loss)
        sums[G].index_add_(0, source, torch.ones_like(loss[0]))
    sums = reduce_sum(sums)
    return (sums[:G] / sums[G].clamp(min=1)).float()


@torch.no_grad()
def paired_gain(
    network: DualEncoderNetwork,
    batches: Iterable[Batch],
    rows: TaskRows,
    selected: Tensor,
    single: Tensor,
    reduce_sum: ReduceSum,
) -> SharingGain:
    """Per task, the single-task snapshot's loss minus the selected one's, row by row."""
    sums = torch.zeros(3, network.net.num_tasks, dtype=torch.float64, device=selected.device)
    for batch in batches:
        if not len(batch):
            continue
        source, y = rows.source(batch), rows.targets(batch)
        ours, theirs = (network.serve_rows(batch.x, source, c)[1] for c in (selected, single))
        diff = (rows.criterion(theirs, y) - rows.criterion(ours, y)).double()
        sums[0].index_add_(0, source, diff)
        sums[1].index_add_(0, source, diff.pow(2))
        sums[2].index_add_(0, source, torch.ones_like(diff))
    sums = reduce_sum(sums)
    return sharing_gain(sums[0], sums[1], sums[2])


@torch.no_grad()
def served_metrics(
    network: DualEncoderNetwork, batches: Iterable[Batch], rows: TaskRows, reduce_sum: ReduceSum
) -> dict[str, float]:
    """The served model's task metrics (``<task>/mse`` for regression), ``mse`` (the mean over
    tasks), ``loss`` (the sum over tasks of the validation criterion) and, with both encoders,
    ``orthogonality`` (√Σ_r ‖S̄_rᵀC̄_r‖_F² on the split)."""
    net, R = network.net, network.net.num_tasks
    metrics = TaskMetrics(rows.tasks)
    sums = torch.zeros(2, R, dtype=torch.float64, device=net.theta.device)
    latents: list[tuple[Tensor, Tensor]] = []
    for batch in batches:
        if not len(batch):
            continue
        source = rows.source(batch)
        features, eta = network.serve_rows(batch.x, source)
        outputs = rows.raw_outputs(eta)
        metrics.update({t.name: outputs for t in rows.tasks}, batch.targets)
        criterion = rows.criterion(eta, rows.targets(batch)).double()
        sums[0].index_add_(0, source, criterion)
        sums[1].index_add_(0, source, torch.ones_like(criterion))
        latents.append((features, source))
    metrics.reduce(reduce_sum)
    result = metrics.compute()
    sums = reduce_sum(sums)
    per_task = sums[0] / sums[1].clamp(min=1)
    result["loss"] = float(per_task.sum())
    if rows.loss == "squared":
        result["mse"] = float(per_task.mean())
    if net.q and net.p:
        width = net.q + net.p + 1
        z = torch.cat([f for f, _ in latents]) if latents else net.theta.new_zeros(0, width)
        source = torch.cat([s for _, s in latents]) if latents else z.new_zeros(0).long()
        s, c = z[:, : net.q], z[:, net.q : net.q + net.p]
        penalty = orthogonality_penalty(s, c, source, R, reduce_sum)
        result["orthogonality"] = float(penalty.sum().sqrt())
    return result
