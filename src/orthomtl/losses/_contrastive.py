"""Contrastive losses on unnormalised embeddings with an L2 similarity, as used by Domain Expansion
(arXiv 2601.20069) to order each task's coefficient by its label.

Both losses take embeddings ``z`` of shape (n, d) and per-sample labels, and score a pair by the
negative Euclidean distance ``s(v_i, v_k) = -‖v_i - v_k‖₂`` (not a cosine: the features are not
normalised). In Domain Expansion the batch stacks two views of N samples (n = 2N) and d = 1, but
neither formula depends on the view structure, so any n and d are accepted.

Missing labels (NaN for :class:`RankNContrastLoss`, -1 for :class:`SupConL2Loss`) drop the sample
from the loss entirely, as an anchor and as a member of every other anchor's sum. A batch with
nothing left to score gives a loss of exactly 0 whose gradient to ``z`` is zero, so the graph keeps
the same shape from step to step.
"""

import math
from typing import Literal

import torch
from torch import Tensor, nn

from orthomtl.tasks import circular_distance


def _check_temperature(temperature: float) -> None:
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}.")


def _check_embeddings(z: Tensor) -> None:
    if not isinstance(z, Tensor) or z.dim() != 2 or not z.is_floating_point():
        raise ValueError(
            "z must be a floating-point tensor of shape (n, d) (use z[:, None] for d = 1), got "
            f"{type(z).__name__} {tuple(getattr(z, 'shape', ()))} {getattr(z, 'dtype', '')}."
        )
    if not torch.isfinite(z).all():
        raise ValueError("z contains NaN or infinite values.")


def _check_labels(z: Tensor, labels: Tensor, dims: tuple[int, ...], shapes: str) -> None:
    if not isinstance(labels, Tensor):
        raise ValueError(f"labels must be a tensor, got {type(labels).__name__}.")
    if labels.device != z.device:
        raise ValueError(f"labels are on {labels.device} but z is on {z.device}.")
    if labels.dim() not in dims:
        raise ValueError(f"labels must have shape {shapes}, got {tuple(labels.shape)}.")
    if labels.shape[0] != z.shape[0]:
        raise ValueError(
            f"labels have {labels.shape[0]} samples but z has {z.shape[0]} (first dimensions must "
            "match)."
        )


def _pairwise_similarity(z: Tensor, temperature: float) -> Tensor:
    """``-‖z_i - z_k‖₂ / τ`` for all pairs, (n, n); exact (no matmul expansion) at zero distance."""
    return -torch.cdist(z, z, compute_mode="donot_use_mm_for_euclid_dist") / temperature


class RankNContrastLoss(nn.Module):
    r"""Rank-N-Contrast (Zha et al., NeurIPS 2023, arXiv 2210.01189) with an L2 similarity.

    Domain Expansion's summary calls this loss "Relaxed NCE"; it is Rank-N-Contrast. For the n
    valid samples (labels without NaN), with ``s_ik = -‖z_i - z_k‖₂``, label distance ``d_ik``
    and the set of samples at least as far in label from i as j is

        S_ij = {k ≠ i : d(y_i, y_k) ≥ d(y_i, y_j)}        (j ∈ S_ij),

    the loss is

        L = 1/n Σ_i 1/(n-1) Σ_{j≠i} -log[ exp(s_ij/τ) / Σ_{k∈S_ij} exp(s_ik/τ) ].

    The label distance is ``‖y_i - y_k‖₁`` (``label_distance="l1"``) or, for angles, the sum over
    label dimensions of the circular distance ``min(|Δ| mod P, P - |Δ| mod P)`` with period P
    (``label_distance="circular"``). Labels are (n,) or (n, k); a sample with any NaN label entry
    is dropped. Fewer than two valid samples give 0 with a zero gradient.

    The reference implementation loops over k and costs O(n³). Here each anchor's row is sorted by
    label distance and the denominators are a reverse cumulative logsumexp over that order, read at
    the first position of each tie group so that every k with ``d_ik = d_ij`` is included: O(n² log
    n) time and O(n²) memory.
    """

    def __init__(
        self,
        temperature: float = 2.0,
        label_distance: Literal["l1", "circular"] = "l1",
        period: float = 2 * math.pi,
    ) -> None:
        super().__init__()
        _check_temperature(temperature)
        if label_distance not in ("l1", "circular"):
            raise ValueError(f"label_distance must be 'l1' or 'circular', got {label_distance!r}.")
        if not (math.isfinite(period) and period > 0):
            raise ValueError(f"period must be a finite number > 0, got {period!r}.")
        self.temperature = temperature
        self.label_distance = label_distance
        self.period = period

    def extra_repr(self) -> str:
        return (
            f"temperature={self.temperature}, label_distance={self.label_distance!r}, "
            f"period={self.period}"
        )

    def label_distances(self, labels: Tensor) -> Tensor:
        """Pairwise label distances (n, n) for labels (n,) or (n, k) without NaN."""
        labels = labels.reshape(labels.shape[0], -1)
        delta = (labels[:, None, :] - labels[None, :, :]).abs()
        if self.label_distance == "circular":
            delta = circular_distance(delta, self.period)
        return delta.sum(dim=-1)

    def forward(self, z: Tensor, labels: Tensor) -> Tensor:
        """Loss for embeddings ``z`` (n, d) and float labels (n,) or (n, k); NaN marks missing."""
        _check_embeddings(z)
        _check_labels(z, labels, (1, 2), "(n,) or (n, k)")
        if not labels.is_floating_point():
            raise ValueError(
                f"labels must be floating point (NaN marks missing), got {labels.dtype}."
            )
        if torch.isinf(labels).any():
            raise ValueError("labels contain infinite values (use NaN for a missing label).")
        n = z.shape[0]
        valid = ~torch.isnan(labels.reshape(n, -1)).any(dim=1)
        eye = torch.eye(n, dtype=torch.bool, device=z.device)
        pair = valid[:, None] & valid[None, :] & ~eye

        # Invalid samples and the anchor itself get distance -inf: they sort first, before every
        # tie group of a valid j, so they never enter a denominator.
        distance = self.label_distances(torch.nan_to_num(labels))
        distance = distance.masked_fill(~pair, -math.inf)
        distance, order = distance.sort(dim=1)
        logits = _pairwise_similarity(z, self.temperature).gather(1, order)
        # tail[i, p] = logsumexp of the row's logits from sorted position p to the end.
        tail = logits.flip(1).logcumsumexp(dim=1).flip(1)
        first_of_tie = torch.searchsorted(distance, distance, side="left")
        log_denominator = tail.gather(1, first_of_tie)
        terms = log_denominator - logits
        kept = pair.gather(1, order)
        count = valid.sum().to(z.dtype)
        total = torch.where(kept, terms, torch.zeros_like(terms)).sum()
        return total / (count * (count - 1)).clamp(min=1)


class SupConL2Loss(nn.Module):
    r"""Supervised contrastive loss (Khosla et al., NeurIPS 2020, arXiv 2004.11362), "out" form,
    with the dot product replaced by the negative L2 distance; features are not normalised.

    With ``s_ia = -‖z_i - z_a‖₂``, positives ``P(i) = {p ≠ i : y_p = y_i}`` and A the anchors
    with ``|P(i)| ≥ 1``,

        L = 1/|A| Σ_{i∈A} -1/|P(i)| Σ_{p∈P(i)} log[ exp(s_ip/τ) / Σ_{a≠i} exp(s_ia/τ) ].

    Samples labelled -1 are missing and dropped from every sum. An anchor without a positive
    contributes nothing; a batch without any positive pair gives 0 with a zero gradient.

    The default ``temperature=0.1`` is SupCon's. With the L2 similarity on a 1-D coefficient it is
    a sensitive choice (README, "Domain Expansion", reports what we measured).

    ``base_temperature`` τ_b multiplies the loss by τ/τ_b, as SupCon's reference code (and the
    Domain Expansion authors', with τ_b = 0.07) does: a loss weight tuned in those units means the
    same here. ``None`` (the default) leaves the loss as written above.
    """

    def __init__(self, temperature: float = 0.1, base_temperature: float | None = None) -> None:
        super().__init__()
        _check_temperature(temperature)
        if base_temperature is not None:
            _check_temperature(base_temperature)
        self.temperature, self.base_temperature = temperature, base_temperature

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, base_temperature={self.base_temperature}"

    def forward(self, z: Tensor, labels: Tensor) -> Tensor:
        """Loss for embeddings ``z`` (n, d) and integer class labels (n,); -1 marks missing."""
        _check_embeddings(z)
        _check_labels(z, labels, (1,), "(n,)")
        if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
            raise ValueError(f"labels must be integer class indices, got {labels.dtype}.")
        if (labels < -1).any():
            raise ValueError("labels must be >= 0, or -1 for a missing label.")
        n = z.shape[0]
        valid = labels >= 0
        eye = torch.eye(n, dtype=torch.bool, device=z.device)
        others = valid[:, None] & valid[None, :] & ~eye
        positive = others & (labels[:, None] == labels[None, :])
        n_positive = positive.sum(dim=1)
        has_positive = n_positive > 0

        logits = _pairwise_similarity(z, self.temperature)
        # A row with no other valid sample has a logsumexp of -inf; it has no positive, so it is
        # never used, and masked_fill passes no gradient (hence no 0 * NaN) to its entries.
        log_denominator = logits.masked_fill(~others, -math.inf).logsumexp(dim=1)
        log_prob = logits - log_denominator[:, None]
        per_anchor = -torch.where(positive, log_prob, torch.zeros_like(log_prob)).sum(dim=1)
        per_anchor = per_anchor / n_positive.clamp(min=1)
        loss = per_anchor.sum() / has_positive.sum().clamp(min=1)
        if self.base_temperature is None:
            return loss
        return loss * (self.temperature / self.base_temperature)
