"""The coefficient step of the dual encoder: proximal gradient toward the centres.

With the encoders fixed, each task r of each configuration g is a linear model on its latents
z = [S_r(x), C(x), 1] with coefficients θ_r = [α_r, β_r, b_r] (b_r an unpenalised intercept, our
addition), and the objective (arXiv 2505.24281, as reconstructed in our notes) is

    Σ_r f_r(θ_r) + Σ_r λ_α,r ‖α_r − ᾱ‖₂ + Σ_r λ_β,r ‖β_r − β̄‖₂,

with f_r the task's mean loss (squared: ½(y − η)², logistic: log(1 + e^η) − yη). One proximal
step takes a gradient step on f_r with step η_r = 1/L_r (L_r the largest eigenvalue of the task's
Gram matrix, a quarter of it for the logistic loss), then the proximal map of the penalty:

    α_r ← ᾱ + GST(α_r − η∇_α f_r − ᾱ, η λ_α,r),    GST(z, t) = max(0, 1 − t/‖z‖₂)·z,

and the same for β. The centres then take a gradient step, every task's coefficients moving
with them (their offsets θ_r − θ̄ fixed): θ̄ ← θ̄ − η Σ_r ∇f_r with η = 1/Σ_r L_r. Each step lowers
the objective, which is convex in the coefficients and centres.

The same machinery fits the linear baselines: ARMUL (Duan & Wang, 2023) is the centre penalty on
θ_r over the raw features; ridge replaces the penalty by (λ/2)‖θ‖² (proximal map z/(1 + ηλ)); a
pooled model ties β_r = β̄ across tasks.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import torch
from torch import Tensor

from orthomtl.nn import RowGroups

ReduceSum = Callable[[Tensor], Tensor]
LossName = Literal["squared", "logistic"]
PenaltyKind = Literal["centre", "ridge"]


def group_soft_threshold(z: Tensor, threshold: Tensor) -> Tensor:
    """GST(z, t) = max(0, 1 − t/‖z‖₂)·z over the last dimension; ``threshold`` broadcasts against
    ``z.shape[:-1]``. The proximal map of t‖·‖₂."""
    norm = torch.linalg.vector_norm(z, dim=-1, keepdim=True)
    scale = (1 - threshold.unsqueeze(-1) / norm.clamp(min=torch.finfo(z.dtype).tiny)).clamp(min=0)
    return scale * z


def prox_toward_centre(z: Tensor, centre: Tensor, threshold: Tensor) -> Tensor:
    """argmin_θ ½‖θ − z‖² + t‖θ − centre‖₂ = centre + GST(z − centre, t)."""
    return centre + group_soft_threshold(z - centre, threshold)


@dataclass
class Penalties:
    """The coefficient penalties of every configuration g and task r.

    ``alpha`` and ``beta`` are (G, R) weights λ of the task-encoder block α and the shared block β
    (0 switches a penalty off); ``kind`` is ``centre`` (λ‖θ − θ̄‖₂) or ``ridge`` ((λ/2)‖θ‖²); with
    ``tied`` every task's β is the centre β̄ itself (a pooled model).
    """

    alpha: Tensor
    beta: Tensor
    kind: PenaltyKind = "centre"
    tied: bool = False
    fixed_centres: bool = False
    """The centres stay where they are (a new task pulled toward a trained model's centres)."""

    def to(self, device: torch.device | str) -> "Penalties":
        return replace(self, alpha=self.alpha.to(device), beta=self.beta.to(device))


@dataclass
class Coefficients:
    """θ (G, R, q + p + 1) = [α, β, b] per configuration and task, and the centres (G, q + p)."""

    theta: Tensor
    centre: Tensor
    q: int
    p: int

    def blocks(self) -> tuple[slice, slice]:
        return slice(0, self.q), slice(self.q, self.q + self.p)


class TaskLinearProblem:
    """f_r(θ) of every configuration and task on fixed latents, with its gradient and step sizes.

    Args:
        features: (G, R, m, k) each task's latent rows [S, C, 1], zero-padded to m rows.
        targets: (R, m) the rows' targets (anything on padded rows).
        mask: (R, m) true on real rows.
        loss: ``squared`` or ``logistic`` (targets in {0, 1}).
        reduce_sum: sums over processes of per-task sums; ``None`` on one process.
    """

    def __init__(
        self,
        features: Tensor,
        targets: Tensor,
        mask: Tensor,
        loss: LossName,
        reduce_sum: ReduceSum | None = None,
    ) -> None:
        self.reduce = reduce_sum or (lambda t: t)
        weight = mask.to(features.dtype)
        self.features = features * weight.unsqueeze(-1)
        self.targets = torch.where(mask, targets, torch.zeros_like(targets)).to(features.dtype)
        self.weight, self.loss = weight, loss
        self.count = self.reduce(weight.sum(-1)).clamp(min=1)  # (R,)
        gram = self.reduce(self.features.transpose(-1, -2) @ self.features)
        self.gram = gram / self.count[:, None, None]  # (G, R, k, k)
        self.moment = self.reduce(
            (self.features * self.targets.unsqueeze(-1)).sum(-2)
        ) / self.count.unsqueeze(-1)
        curvature = 1.0 if loss == "squared" else 0.25
        self.lipschitz = curvature * torch.linalg.eigvalsh(self.gram)[..., -1]  # (G, R)

    @classmethod
    def of_rows(
        cls,
        features: Tensor,
        targets: Tensor,
        source: Tensor,
        num_tasks: int,
        loss: LossName,
        reduce_sum: ReduceSum | None = None,
    ) -> "TaskLinearProblem":
        """The problem of rows (G, N, k) with their targets (N,) and tasks ``source`` (N,)."""
        groups = RowGroups.of(source, num_tasks)
        mask = groups.pack(torch.ones_like(targets)[:, None])[..., 0] > 0
        packed_targets = groups.pack(targets[:, None])[..., 0]
        return cls(groups.pack(features), packed_targets, mask, loss, reduce_sum)

    def linear_predictor(self, theta: Tensor) -> Tensor:
        """η (G, R, m) for θ (G, R, k)."""
        return (self.features @ theta.unsqueeze(-1)).squeeze(-1)

    def gradient(self, theta: Tensor) -> Tensor:
        """∇f_r(θ_r), (G, R, k): from the Gram matrix for the squared loss, else from the rows."""
        if self.loss == "squared":
            return (self.gram @ theta.unsqueeze(-1)).squeeze(-1) - self.moment
        residual = (torch.sigmoid(self.linear_predictor(theta)) - self.targets) * self.weight
        summed = self.reduce((residual.unsqueeze(-1) * self.features).sum(-2))
        return summed / self.count.unsqueeze(-1)

    def value(self, theta: Tensor) -> Tensor:
        """f_r(θ_r), (G, R): the task's mean loss."""
        eta = self.linear_predictor(theta)
        if self.loss == "squared":
            per_row = 0.5 * (self.targets - eta).pow(2)
        else:
            per_row = torch.nn.functional.softplus(eta) - self.targets * eta
        return self.reduce((per_row * self.weight).sum(-1)) / self.count


def penalty_value(coefficients: Coefficients, penalties: Penalties) -> Tensor:
    """Σ_r λ_α,r‖α_r − ᾱ‖ + λ_β,r‖β_r − β̄‖ (or the ridge terms), (G,); a tied β's penalty
    (task 0's weight) counts once."""
    a, b = coefficients.blocks()
    theta, centre = coefficients.theta, coefficients.centre
    total = theta.new_zeros(theta.shape[0])
    for block, weight in ((a, penalties.alpha), (b, penalties.beta)):
        if penalties.kind == "ridge":
            terms = 0.5 * weight * theta[..., block].pow(2).sum(-1)
        else:
            offset = theta[..., block] - centre[:, None, block]
            terms = weight * torch.linalg.vector_norm(offset, dim=-1)
        if penalties.tied and block == b:  # one β for all tasks: its penalty counts once
            terms = terms[:, :1]
        total = total + terms.sum(-1)
    return total


def proximal_steps(
    problem: TaskLinearProblem,
    coefficients: Coefficients,
    penalties: Penalties,
    steps: int,
) -> Coefficients:
    """``steps`` rounds of the two coefficient steps (see the module docstring); a new
    ``Coefficients``.

    1. A proximal gradient step on every θ_r with the centres fixed, step 1/L_r.
    2. A gradient step on the centres with every task's offset θ_r − θ̄ fixed, so the tasks move
       with their centre: θ̄ ← θ̄ − η Σ_r ∇f_r, η = 1/Σ_r L_r. Without it, tasks sitting on
       their centre (as they all do at the start, θ = θ̄ = 0) would stay there whenever
       ‖∇f_r‖ ≤ λ_r. A tied block (β_r = β̄) moves by this step alone, with the ridge's proximal
       map when it has one.

    Each step minimises a majorisation of the objective, so the objective never rises.
    """
    a, b = coefficients.blocks()
    theta, centre = coefficients.theta.clone(), coefficients.centre.clone()
    task_step = 1 / problem.lipschitz.clamp(min=1e-12)  # (G, R)
    centre_step = 1 / problem.lipschitz.sum(-1).clamp(min=1e-12)  # (G,)
    moving = [b] if penalties.tied else []
    if penalties.kind == "centre" and not penalties.fixed_centres:
        moving += [
            block
            for block, weight in ((a, penalties.alpha), (b, penalties.beta))
            if block not in moving and block.stop > block.start and bool((weight > 0).any())
        ]
    for _ in range(steps):
        z = theta - task_step.unsqueeze(-1) * problem.gradient(theta)
        for block, weight in ((a, penalties.alpha), (b, penalties.beta)):
            if penalties.tied and block == b:
                z[..., block] = theta[..., block]
            elif penalties.kind == "ridge":
                z[..., block] = z[..., block] / (1 + task_step * weight).unsqueeze(-1)
            else:
                z[..., block] = prox_toward_centre(
                    z[..., block], centre[:, None, block], task_step * weight
                )
        theta = z
        if moving:
            gradient = problem.gradient(theta).sum(-2)  # (G, k): Σ_r ∇f_r
            for block in moving:
                step = centre_step[:, None] * gradient[:, block]
                if penalties.tied and block == b:  # the one β itself takes the step
                    shared = theta[:, 0, block] - step
                    if penalties.kind == "ridge":
                        shared = shared / (1 + centre_step * penalties.beta[:, 0])[:, None]
                    theta[..., block] = shared[:, None]
                    centre[:, block] = shared
                else:
                    theta[..., block] -= step[:, None]
                    centre[:, block] -= step
    return Coefficients(theta, centre, coefficients.q, coefficients.p)
