"""Gradient aggregators from ``torchjd.aggregation``, driven by ``mtl_backward`` and
``jac_to_grad``.

TorchJD does not synchronise the per-task gradients across processes, and DDP's own gradient sync
never fires for ``mtl_backward``. ``aggregate_backward`` therefore averages the per-task Jacobian
rows (and the heads' gradients) over ranks *before* aggregating, so every rank applies the same
update, equal to the single-process update on the global batch.
"""

from collections.abc import Callable, Sequence
from importlib.util import find_spec
from typing import Any, Literal

import torch
from torch import Tensor
from torchjd.aggregation import IMTLG, MGDA, Aggregator, CAGrad, PCGrad, UPGrad
from torchjd.autojac import jac_to_grad, mtl_backward

AggregatorName = Literal["pcgrad", "imtlg", "mgda", "cagrad", "upgrad", "nashmtl"]


def build_aggregator(name: AggregatorName, num_tasks: int, options: dict[str, Any]) -> Aggregator:
    """The TorchJD aggregator called ``name``; CAGrad's ``c`` defaults to its paper's 0.4."""
    if name == "pcgrad":
        return PCGrad(**options)
    if name == "imtlg":
        return IMTLG(**options)
    if name == "mgda":
        return MGDA(**options)
    if name == "cagrad":
        return CAGrad(**{"c": 0.4, **options})
    if name == "upgrad":
        return UPGrad(**options)
    if find_spec("cvxpy") is None:
        raise ImportError(
            "aggregator=nashmtl needs TorchJD's nash-mtl extra: pip install 'torchjd[nash-mtl]'."
        )
    from torchjd.aggregation import NashMTL

    return NashMTL(n_tasks=num_tasks, **options)


def _all_reduce_mean_inplace(
    tensors: list[Tensor], all_reduce_mean: Callable[[Tensor], Tensor]
) -> None:
    if not tensors:
        return
    flat = all_reduce_mean(torch.cat([t.reshape(-1) for t in tensors]))
    offset = 0
    for t in tensors:
        t.copy_(flat[offset : offset + t.numel()].view_as(t))
        offset += t.numel()


def aggregate_backward(
    losses: Sequence[Tensor],
    features: Tensor,
    shared_params: Sequence[Tensor],
    task_params: Sequence[Sequence[Tensor]],
    aggregator: Aggregator,
    all_reduce_mean: Callable[[Tensor], Tensor] | None,
) -> None:
    """Per-task Jacobians of the shared parameters, averaged over ranks, aggregated into ``.grad``.

    Heads get their ordinary gradients (also averaged over ranks). Pass ``all_reduce_mean=None`` in
    a single process.
    """
    mtl_backward(
        list(losses), features=features, tasks_params=task_params, shared_params=shared_params
    )
    if all_reduce_mean is not None:
        with torch.no_grad():
            jacobians = [p.jac for p in shared_params if getattr(p, "jac", None) is not None]
            head_grads = [p.grad for ps in task_params for p in ps if p.grad is not None]
            _all_reduce_mean_inplace(jacobians + head_grads, all_reduce_mean)
    jac_to_grad(list(shared_params), aggregator)
