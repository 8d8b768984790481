"""The dual encoder's orthogonality penalty between task-specific and shared latents.

For task r with n_r rows, task-specific latents S_r (n_r × q) and shared latents C_r (n_r × p),
the penalty is λ_o Σ_r ‖S̄_rᵀ C̄_r‖_F² (arXiv 2505.24281, as reconstructed in our notes: the paper's
full text is not public), where S̄_r and C̄_r are the column-centred latents, each scaled by
1/√n_r. Our choice of scaling: S̄_rᵀC̄_r is then the cross-covariance
(1/n_r) Σ_i (s_i − s̄)(c_i − c̄)ᵀ, which does not grow with n_r; the notes' "scaled by 1/n_r"
applies to the product.

The penalty is zero exactly when every task's two latents are uncorrelated, so the shared
encoder cannot carry what the task's own encoder carries, linearly.
"""

from collections.abc import Callable

import torch
from torch import Tensor

ReduceSum = Callable[[Tensor], Tensor]


def task_cross_covariance(
    s: Tensor,
    c: Tensor,
    source: Tensor,
    num_tasks: int,
    reduce_sum: ReduceSum | None = None,
) -> Tensor:
    """Per task, the cross-covariance S̄_rᵀC̄_r = (1/n_r) Σ_{i∈r} (s_i − s̄_r)(c_i − c̄_r)ᵀ.

    Args:
        s: task-specific latents (…, N, q); every leading dimension is a separate model.
        c: shared latents (…, N, p), the same rows.
        source: (N,) task of each row, in ``[0, num_tasks)``.
        num_tasks: R.
        reduce_sum: sums over processes (``None``: this process's rows are all the rows). It is
            applied to the per-task sums Σ s cᵀ, Σ s, Σ c and the counts, so a distributed batch
            gives the covariance of the whole batch; for gradients it must carry them.

    Returns:
        (…, R, q, p); zero for a task with fewer than two rows.
    """
    if s.shape[:-1] != c.shape[:-1] or source.shape != s.shape[-2:-1]:
        raise ValueError(
            f"task_cross_covariance: s {tuple(s.shape)}, c {tuple(c.shape)} and source "
            f"{tuple(source.shape)} must have the same rows (…, N, ·) and (N,)."
        )
    lead, q, p = s.shape[:-2], s.shape[-1], c.shape[-1]
    source = source.long()
    outer = s.unsqueeze(-1) * c.unsqueeze(-2)
    sum_sc = outer.new_zeros(*lead, num_tasks, q, p).index_add(-3, source, outer)
    sum_s = s.new_zeros(*lead, num_tasks, q).index_add(-2, source, s)
    sum_c = c.new_zeros(*lead, num_tasks, p).index_add(-2, source, c)
    count = torch.bincount(source, minlength=num_tasks).to(s.dtype)
    if reduce_sum is not None:
        sum_sc, sum_s, sum_c, count = (reduce_sum(t) for t in (sum_sc, sum_s, sum_c, count))
    n = count.clamp(min=1)
    mean_s, mean_c = sum_s / n[:, None], sum_c / n[:, None]
    return sum_sc / n[:, None, None] - mean_s.unsqueeze(-1) * mean_c.unsqueeze(-2)


def orthogonality_penalty(
    s: Tensor,
    c: Tensor,
    source: Tensor,
    num_tasks: int,
    reduce_sum: ReduceSum | None = None,
) -> Tensor:
    """Per task, ‖S̄_rᵀ C̄_r‖_F² (see the module docstring); (…, R). Multiply by λ_o and sum over
    tasks for the objective's term. Arguments as for ``task_cross_covariance``."""
    return task_cross_covariance(s, c, source, num_tasks, reduce_sum).pow(2).sum((-2, -1))
