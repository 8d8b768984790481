"""Neural-collapse metrics of one task, and their multi-task versions, as plain functions.

Standard definitions (Papyan et al. 2020; Zhu et al. 2021), for K classes with class means μ_k,
global mean μ_G (the mean of the class means), within-class covariance
Σ_W = (1/N) Σ_k Σ_{i∈k} (h_i − μ_k)(h_i − μ_k)ᵀ and between-class covariance
Σ_B = (1/K) Σ_k (μ_k − μ_G)(μ_k − μ_G)ᵀ:

- NC1 = Tr(Σ_W Σ_B⁺)/K: within-class variability against the spread of the means (0: collapsed);
- NC2 = ‖WWᵀ/‖WWᵀ‖_F − (I − 11ᵀ/K)/√(K−1)‖_F for the head W (K × D), and the same for the
  centred class means M̃ (K × D): the distance to a simplex equiangular tight frame (0: an ETF);
- NC3 = ‖WM̃ᵀ/‖WM̃ᵀ‖_F − (I − 11ᵀ/K)/√(K−1)‖_F: head–mean duality;
- NC4: the share of samples whose head prediction differs from the nearest class mean
  (``nc4_counts`` per batch, summed by the caller).

Multi-task versions (ours; Neural Collapse in Multi-Task Learning, ICLR 2026, has no code):

- cross-task coherence: |cos(w̃^t_k, w̃^{t'}_{k'})| over every pair of rows of different tasks,
  each task's rows centred (w̃^t_k = w^t_k − mean_k w^t_k); its mean, maximum and full matrix;
- feature-sum alignment: mean_κ ‖ĥ_κ − s_κ/‖s_κ‖‖², s_κ = Σ_t w^t_{k_t}, over the joint labels
  κ = (k_1…k_T) given, with ĥ_κ the joint label's feature mean minus the global mean,
  normalised to unit length.

The effective rank (RankMe; Garrido et al. 2023) is exp of the entropy of the normalised singular
values of the centred features (or of the square roots of a covariance's eigenvalues). Gradient
conflict is the pairwise cosine of the tasks' gradients on the shared parameters, and the share
of pairs whose cosine is negative.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor


def _etf_distance(gram: Tensor) -> float:
    """‖G/‖G‖_F − (I − 11ᵀ/K)/√(K−1)‖_F for a K × K matrix G."""
    k = gram.shape[0]
    target = (torch.eye(k, dtype=gram.dtype, device=gram.device) - 1.0 / k) / (k - 1) ** 0.5
    return float(torch.linalg.matrix_norm(gram / torch.linalg.matrix_norm(gram) - target))


def nc1(within: Tensor, between: Tensor, num_classes: int) -> float:
    """NC1 = Tr(Σ_W Σ_B⁺)/K from the within- and between-class covariances (D × D); Σ_B⁺ keeps
    the eigenvalues above 1e-10 of the largest (Σ_B has rank K − 1 at most, and rounding noise in
    its null space must not be inverted)."""
    inverse = torch.linalg.pinv(between, rtol=1e-10, hermitian=True)
    return float(torch.trace(within @ inverse) / num_classes)


def nc2(rows: Tensor) -> float:
    """NC2 of K rows (K × D): a head's weights, or centred class means, against a simplex ETF."""
    if rows.shape[0] < 2:
        raise ValueError(f"nc2 needs at least 2 rows (classes), got {rows.shape[0]}.")
    return _etf_distance(rows @ rows.T)


def nc3(head: Tensor, centred_means: Tensor) -> float:
    """NC3 of a head W (K × D) and the centred class means M̃ (K × D)."""
    if head.shape != centred_means.shape:
        raise ValueError(
            f"nc3: the head {tuple(head.shape)} and the class means "
            f"{tuple(centred_means.shape)} must both be (K, D)."
        )
    return _etf_distance(head @ centred_means.T)


def nc4_counts(
    features: Tensor, head: Tensor, bias: Tensor | None, means: Tensor
) -> tuple[int, int]:
    """For one batch of features (B × D): how many samples' head prediction argmax(Wh + b)
    differs from their nearest class mean, and how many samples there are."""
    logits = features @ head.T + (0 if bias is None else bias)
    nearest = torch.cdist(features, means).argmin(1)
    return int((logits.argmax(1) != nearest).sum()), features.shape[0]


@dataclass
class CrossTaskCoherence:
    """|cos| between the centred head rows of different tasks: ``matrix`` over all rows (tasks'
    rows in order, ``offsets`` where each task starts; entries within one task are 0), and the
    ``mean`` and ``max`` over pairs of rows of different tasks."""

    mean: float
    max: float
    matrix: Tensor
    offsets: list[int]


def cross_task_coherence(heads: Mapping[str, Tensor]) -> CrossTaskCoherence:
    """The coherence of at least two tasks' heads, each (K_t × D); see the module docstring."""
    if len(heads) < 2:
        raise ValueError(
            f"cross_task_coherence needs the heads of two tasks or more, got {len(heads)}."
        )
    rows, owner, offsets = [], [], []
    for t, weight in enumerate(heads.values()):
        offsets.append(sum(r.shape[0] for r in rows))
        centred = weight - weight.mean(0, keepdim=True)
        rows.append(
            centred / torch.linalg.vector_norm(centred, dim=1, keepdim=True).clamp(min=1e-12)
        )
        owner += [t] * weight.shape[0]
    stacked = torch.cat(rows)
    cosine = (stacked @ stacked.T).abs()
    tasks = torch.tensor(owner)
    other = tasks[:, None] != tasks[None, :]
    cosine = torch.where(other, cosine, torch.zeros_like(cosine))
    values = cosine[other]
    return CrossTaskCoherence(float(values.mean()), float(values.max()), cosine, offsets)


def feature_sum_alignment(
    joint_means: Tensor, joint_labels: Tensor, global_mean: Tensor, heads: Sequence[Tensor]
) -> float:
    """mean_κ ‖ĥ_κ − s_κ/‖s_κ‖‖² over the joint labels given.

    Args:
        joint_means: (J, D) the feature mean of each joint label present.
        joint_labels: (J, T) each joint label's class per task.
        global_mean: (D,) the features' global mean.
        heads: per task, its head W^t (K_t × D), in the order of ``joint_labels``' columns.
    """
    if joint_labels.shape != (joint_means.shape[0], len(heads)):
        raise ValueError(
            f"feature_sum_alignment: joint_labels must be (J, T) = ({joint_means.shape[0]}, "
            f"{len(heads)}); got {tuple(joint_labels.shape)}."
        )
    centred = joint_means - global_mean
    h = centred / torch.linalg.vector_norm(centred, dim=1, keepdim=True).clamp(min=1e-12)
    s = sum(w[joint_labels[:, t].long()] for t, w in enumerate(heads))
    s = s / torch.linalg.vector_norm(s, dim=1, keepdim=True).clamp(min=1e-12)
    return float((h - s).pow(2).sum(1).mean())


def effective_rank(values: Tensor, *, covariance: bool = False) -> float:
    """RankMe: exp(−Σ p_i log p_i) with p = σ/‖σ‖₁, σ the singular values of centred features
    (N × D), or, with ``covariance``, the square roots of a covariance's (D × D) eigenvalues."""
    if covariance:
        sigma = torch.linalg.eigvalsh(values).clamp(min=0).sqrt()
    else:
        sigma = torch.linalg.svdvals(values - values.mean(0, keepdim=True))
    p = sigma / sigma.sum().clamp(min=1e-30)
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


@dataclass
class GradientConflict:
    """``cosine`` (T, T) between the tasks' gradients (NaN for a task whose gradient is zero, a
    task with no labelled rows in the batch), and ``negative_share``, the share of pairs of tasks
    (i < j) with a cosine whose gradients point against each other (cos < 0); NaN if none has."""

    cosine: Tensor
    negative_share: float


def gradient_conflict(gradients: Tensor) -> GradientConflict:
    """The conflict between T tasks' gradients on the shared parameters, (T, P) rows."""
    if gradients.ndim != 2 or gradients.shape[0] < 2:
        raise ValueError(
            f"gradient_conflict needs (T, P) gradients of two tasks or more, got "
            f"{tuple(gradients.shape)}."
        )
    norms = torch.linalg.vector_norm(gradients, dim=1, keepdim=True)
    unit = gradients / norms.clamp(min=torch.finfo(gradients.dtype).tiny)
    cosine = (unit @ unit.T).clamp(-1.0, 1.0)
    zero = norms.flatten() == 0
    cosine[zero] = torch.nan
    cosine[:, zero] = torch.nan
    i, j = torch.triu_indices(*cosine.shape, offset=1)
    pairs = cosine[i, j]
    pairs = pairs[~pairs.isnan()]
    share = float((pairs < 0).double().mean()) if pairs.numel() else float("nan")
    return GradientConflict(cosine, share)
