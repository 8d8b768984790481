"""``DualEncoderMTL``: shared and task-specific encoders with linear coefficients per task.

For task r (arXiv 2505.24281, as reconstructed in our notes: the paper's full text is not public),

    ŷ = α_rᵀ S_r(x) + β_rᵀ C(x) + b_r,

with one task-specific MLP S_r: R^d → R^q per task, one shared MLP C: R^d → R^p, coefficients α_r,
β_r pulled toward centres ᾱ, β̄ (``_proximal``), and an intercept b_r (our addition; unpenalised).

The model holds G hyper-parameter configurations side by side, each with its own encoders,
coefficients and centres: model selection trains them in one run, as one set of batched matrix
products (``orthomtl.nn.StackedMLP``). A configuration with a smaller p or q than the largest is
masked: its extra latent columns are zero and its extra coefficients stay zero, which is exactly
the smaller model. Inputs are standardised per feature with the training split's mean and
standard deviation, stored as buffers and applied in every forward pass.

The shared block can also be the standardised input itself (``shared="identity"``, p = d): the
linear baselines (ridge, pooled ridge, ARMUL) are this model without encoders.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product
from typing import Any, Literal

import torch
from torch import Tensor, nn

from orthomtl.methods.dual_encoder._proximal import Penalties, PenaltyKind
from orthomtl.nn import RowGroups, StackedMLP

SharedKind = Literal["mlp", "identity", "none"]


@dataclass(frozen=True)
class Configuration:
    """One hyper-parameter configuration of the model.

    Args:
        shared_dim: p, the shared encoder's width (0: no shared block).
        task_dim: q, each task encoder's width (0: no task-specific block).
        c: the penalty constant: λ_α,r = c·√(q/n_r), λ_β,r = c·√(p/n_r) for the centre penalty,
            or the ridge λ itself.
        orthogonality: λ_o.
        single_task: a single-task fit (no shared block, no penalty) trained alongside, against
            which sharing is judged per task (``fallback``).
    """

    shared_dim: int
    task_dim: int
    c: float = 0.1
    orthogonality: float = 0.0
    single_task: bool = False


MAX_CONFIGURATIONS = 8


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def configuration_grid(
    shared_dims: Sequence[int],
    task_dims: Sequence[int],
    cs: Sequence[float],
    orthogonalities: Sequence[float],
) -> list[Configuration]:
    """Every combination of the options' values, at most ``MAX_CONFIGURATIONS``."""
    grid = [
        Configuration(p, q, float(c), float(o))
        for p, q, c, o in product(shared_dims, task_dims, cs, orthogonalities)
    ]
    if len(grid) > MAX_CONFIGURATIONS:
        raise ValueError(
            f"The options give {len(grid)} configurations; at most {MAX_CONFIGURATIONS} are "
            "selected among. Give fewer values for shared_dim, task_dim, c or orthogonality."
        )
    return grid


def penalty_weights(
    configurations: Sequence[Configuration],
    task_rows: Tensor,
    *,
    identity_width: int | None = None,
    kind: PenaltyKind = "centre",
    centres: Sequence[str] = ("alpha", "beta"),
    tied: bool = False,
    fixed_centres: bool = False,
) -> Penalties:
    """The (G, R) penalty weights: λ_α,r = c√(q/n_r) and λ_β,r = c√(p/n_r) for the centre
    penalties listed in ``centres`` (0 for the others), or λ = c for ridge.

    Args:
        configurations: the G configurations.
        task_rows: n_r, each task's training rows (R,).
        identity_width: p of a shared block that is the raw features (d), else None.
        kind, tied, fixed_centres: as in ``Penalties``.
    """
    alpha, beta = [], []
    for cfg in configurations:
        p = identity_width if identity_width is not None and cfg.shared_dim else cfg.shared_dim
        if kind == "ridge":
            alpha.append(torch.full_like(task_rows, cfg.c))
            beta.append(torch.full_like(task_rows, cfg.c))
        else:
            alpha.append(("alpha" in centres) * cfg.c * (cfg.task_dim / task_rows).sqrt())
            beta.append(("beta" in centres) * cfg.c * (p / task_rows).sqrt())
    return Penalties(torch.stack(alpha), torch.stack(beta), kind, tied, fixed_centres)


class DualEncoderMTL(nn.Module):
    """G configurations of the dual encoder for R tasks on d features; see the module docstring.

    Args:
        num_tasks: R.
        in_features: d.
        configurations: the G configurations.
        hidden: hidden widths of every encoder.
        activation: the encoders' activation.
        shared: ``mlp`` (C is an MLP), ``identity`` (C(x) = x, p = d, for linear models) or
            ``none``.

    Buffers: ``x_mean``, ``x_scale`` (d,); ``theta`` (G, R, Q + P + 1) = [α, β, b] per
    configuration and task; ``centre`` (G, Q + P) = [ᾱ, β̄]; ``feature_mask`` (G, Q + P + 1).
    """

    def __init__(
        self,
        num_tasks: int,
        in_features: int,
        configurations: Sequence[Configuration],
        hidden: Sequence[int] = (32,),
        activation: str = "relu",
        shared: SharedKind = "mlp",
    ) -> None:
        super().__init__()
        if not configurations:
            raise ValueError("DualEncoderMTL needs at least one configuration.")
        self.num_tasks, self.in_features = num_tasks, in_features
        self.configurations = tuple(configurations)
        self.shared_kind = shared
        G = len(self.configurations)
        self.q = max(cfg.task_dim for cfg in self.configurations)
        if shared == "identity":
            self.p = in_features
        elif shared == "none":
            self.p = 0
        else:
            self.p = max(cfg.shared_dim for cfg in self.configurations)
        self.shared = (
            StackedMLP(G, in_features, hidden, self.p, activation)
            if shared == "mlp" and self.p
            else None
        )
        self.task = (
            StackedMLP(G * num_tasks, in_features, hidden, self.q, activation) if self.q else None
        )
        width = self.q + self.p
        mask = torch.zeros(G, width + 1)
        for g, cfg in enumerate(self.configurations):
            mask[g, : cfg.task_dim] = 1
            p = self.p if shared == "identity" and cfg.shared_dim else cfg.shared_dim
            mask[g, self.q : self.q + p] = 1
        mask[:, width] = 1
        self.register_buffer("feature_mask", mask)
        self.register_buffer("x_mean", torch.zeros(in_features))
        self.register_buffer("x_scale", torch.ones(in_features))
        self.register_buffer("theta", torch.zeros(G, num_tasks, width + 1))
        self.register_buffer("centre", torch.zeros(G, width))

    @property
    def num_configurations(self) -> int:
        return len(self.configurations)

    def standardise(self, x: Tensor) -> Tensor:
        return (x - self.x_mean) / self.x_scale

    def features(self, x: Tensor, groups: RowGroups) -> Tensor:
        """Each row's latents under its own task, [S_r(x), C(x), 1] masked per configuration:
        (G, N, Q + P + 1) for standardised rows ``x`` (N, d) grouped by source."""
        G, N = self.num_configurations, x.shape[0]
        parts = []
        if self.task is not None:
            block = groups.pack(x).expand(G, -1, -1, -1).reshape(G * self.num_tasks, -1, x.shape[1])
            s = self.task(block).reshape(G, self.num_tasks, groups.size, self.q)
            parts.append(groups.unpack(s))
        if self.shared is not None:
            parts.append(self.shared(x.expand(G, N, -1)))
        elif self.shared_kind == "identity":
            parts.append(x.expand(G, N, -1))
        parts.append(x.new_ones(G, N, 1))
        return torch.cat(parts, dim=-1) * self.feature_mask[:, None, :]

    def predictor(self, features: Tensor, source: Tensor) -> Tensor:
        """η (G, N) = ⟨z_n, θ_{g, source_n}⟩ for ``features`` (G, N, K)."""
        return (features * self.theta[:, source.long()]).sum(-1)

    def forward(self, x: Tensor, source: Tensor) -> tuple[Tensor, Tensor]:
        """Raw rows ``x`` (N, d) with their ``source`` (N,) → (features (G, N, K), η (G, N))."""
        groups = RowGroups.of(source.long(), self.num_tasks)
        z = self.features(self.standardise(x), groups)
        return z, self.predictor(z, source)

    @torch.no_grad()
    def fit_standardisation(self, total: Tensor, total_sq: Tensor, count: Tensor) -> None:
        """Set the input standardisation from the training split's feature sums, sums of squares
        and row count (summed over processes); a constant feature keeps scale 1."""
        mean = total / count
        var = (total_sq / count - mean.pow(2)).clamp(min=0)
        scale = var.sqrt()
        self.x_mean.copy_(mean)
        self.x_scale.copy_(torch.where(scale > 1e-12, scale, torch.ones_like(scale)))
