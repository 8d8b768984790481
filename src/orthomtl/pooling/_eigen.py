"""Top eigenvectors of a covariance and their alignment to a previous basis.

Helpers of ``orthomtl.pooling.OrthogonalPooling`` (orthogonal pooling, Domain Expansion, arXiv
2601.20069). Everything here works in float64 on symmetric positive semi-definite matrices.

Solvers:

- ``full_eigh``: every eigenpair through ``torch.linalg.eigh``.
- ``subspace_eigh``: orthogonal (block power) iteration with a Rayleigh–Ritz step per iteration,
  warm-started from the previous basis. The block holds ``k + GUARD_VECTORS`` vectors, so the
  wanted ``k`` converge at the rate λ_{k+guard+1}/λ_i rather than λ_{k+1}/λ_k. It stops when every
  wanted Ritz pair has a residual ‖Σy − θy‖ ≤ tol·θ + floor; by Davis–Kahan each vector is then
  within an angle of about tol·θ/gap of its eigenvector. If it does not converge within its
  iteration budget it warns and falls back to ``full_eigh``.
- ``gram_eigh``: the exact top eigenpairs of Σ = XcᵀXc/n from the n×n Gram matrix XcXcᵀ/n of the
  centred rows Xc, for a sample of n rows small beside D; Σ is never formed.

Alignment (the paper matches axes with the Hungarian algorithm on 1 − |V_prevᵀV| and flips signs):

- ``near_equal_groups`` finds runs of near-equal eigenvalues, whose eigenvectors the data do not
  pin down; ``rotate_groups_towards`` replaces each run by the orthonormal vectors of its span that
  are closest to the previous basis (orthogonal Procrustes), so the basis does not jump;
- ``match_previous`` applies the Hungarian matching and the sign flips;
- ``canonical_signs`` fixes the signs deterministically when there is no previous basis.
"""

import warnings
from dataclasses import dataclass

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

GUARD_VECTORS = 8
"""Extra vectors in the subspace-iteration block beyond the ``k`` wanted."""


class NearEqualEigenvaluesWarning(UserWarning):
    """Some of the top-k eigenvalues are nearly equal, so the data do not identify their axes."""


@dataclass(frozen=True)
class Eigenpairs:
    """Eigenvalues in descending order and their eigenvectors as columns (float64)."""

    values: Tensor
    vectors: Tensor
    iterations: int
    converged: bool


def full_eigh(cov: Tensor) -> Eigenpairs:
    """All eigenpairs of the symmetric ``cov``, largest first."""
    values, vectors = torch.linalg.eigh(cov)
    return Eigenpairs(values.flip(0), vectors.flip(1), iterations=0, converged=True)


def subspace_eigh(
    cov: Tensor,
    k: int,
    *,
    start: Tensor | None,
    max_iters: int,
    tol: float,
    floor: float,
    seed: int,
) -> Eigenpairs:
    """The top eigenpairs of the symmetric PSD ``cov`` (D×D) by warm-started subspace iteration.

    ``start`` (D×k, orthonormal columns) seeds the first ``k`` block vectors; the guard vectors,
    and the whole block when ``start`` is None, are Gaussian draws from ``seed``, so every caller
    with the same input gets the same output. Returns the ``min(k + GUARD_VECTORS, D)`` Ritz pairs
    of the first iterate whose top ``k`` pass the residual test, largest first. Each iteration
    costs one D×D by D×block product. If ``max_iters`` iterations do not suffice, warns and falls
    back to ``full_eigh`` (``converged`` is then False).
    """
    dim = cov.shape[0]
    block = min(k + GUARD_VECTORS, dim)
    generator = torch.Generator().manual_seed(seed)
    initial = torch.randn(dim, block, generator=generator, dtype=torch.float64).to(cov.device)
    if start is not None:
        initial[:, :k] = start
    q = torch.linalg.qr(initial).Q
    for iteration in range(1, max_iters + 1):
        z = cov @ q
        small = q.T @ z
        ritz_values, rotation = torch.linalg.eigh((small + small.T) / 2)
        ritz_values, rotation = ritz_values.flip(0), rotation.flip(1)
        vectors, z = q @ rotation, z @ rotation
        residual = torch.linalg.vector_norm(z[:, :k] - vectors[:, :k] * ritz_values[:k], dim=0)
        if bool((residual <= tol * ritz_values[:k].abs() + floor).all()):
            return Eigenpairs(ritz_values, vectors, iterations=iteration, converged=True)
        q = torch.linalg.qr(z).Q
    warnings.warn(
        f"Subspace iteration did not converge in {max_iters} iterations (subspace_iters); fell "
        "back to torch.linalg.eigh. Raise subspace_iters or subspace_tol.",
        RuntimeWarning,
        stacklevel=2,
    )
    values, vectors = torch.linalg.eigh(cov)
    return Eigenpairs(values.flip(0), vectors.flip(1), iterations=max_iters, converged=False)


def gram_eigh(centred: Tensor, k: int, degenerate_tol: float) -> Eigenpairs:
    """The top eigenpairs of Σ = XcᵀXc/n from the n×n Gram matrix G = XcXcᵀ/n of the centred rows
    ``centred`` (Xc, n×D): Σ and G share their non-zero eigenvalues λ, and if Gu = λu with
    ‖u‖ = 1 then v = Xcᵀu / √(nλ) is a unit eigenvector of Σ (Σv = XcᵀGu/√(nλ) = λv).

    Returns the leading pairs up to the end of the last run of near-equal eigenvalues that reaches
    into the top ``k`` (``near_equal_groups`` with ``degenerate_tol``), at least ``k`` of them (at
    most n), so that ``align`` finds the same runs as with every eigenpair of Σ. A pair whose λ is
    (numerically) zero gets no meaningful vector; the rank check rejects it before ``align``.
    """
    count = centred.shape[0]
    gram = centred @ centred.T / count
    values, vectors = torch.linalg.eigh(gram)
    values, vectors = values.flip(0), vectors.flip(1)
    groups = near_equal_groups(values, k, degenerate_tol)
    wanted = min(count, max([k, *(group.stop for group in groups)]))
    values = values[:wanted]
    scale = (count * values).clamp_min(torch.finfo(values.dtype).tiny).rsqrt()
    return Eigenpairs(values, (centred.T @ vectors[:, :wanted]) * scale, 0, converged=True)


def align(pairs: Eigenpairs, k: int, previous: Tensor | None, degenerate_tol: float) -> Tensor:
    """The top ``k`` eigenvectors of ``pairs`` as a basis aligned to ``previous`` (D×k) if any:
    rotated within runs of near-equal eigenvalues towards it, Hungarian-matched, sign-flipped.
    Without a previous basis they stay in descending order with ``canonical_signs``. Warns
    ``NearEqualEigenvaluesWarning`` when near-equal runs reach into the top k."""
    groups = near_equal_groups(pairs.values, k, degenerate_tol)
    if groups:
        listed = "; ".join(", ".join(f"λ{i}={pairs.values[i]:.6g}" for i in g) for g in groups)
        kept = (
            "kept the solver's deterministic choice, as there is no previous basis yet"
            if previous is None
            else "kept the rotation of each group closest to the previous basis"
        )
        warnings.warn(
            f"Near-equal eigenvalues (relative gap ≤ degenerate_tol={degenerate_tol:g}): {listed}. "
            f"Their axes are not identified by the data; {kept}.",
            NearEqualEigenvaluesWarning,
            stacklevel=2,
        )
    if previous is None:
        return canonical_signs(pairs.vectors[:, :k])
    return match_previous(rotate_groups_towards(pairs.vectors, groups, k, previous), previous)


def near_equal_groups(values: Tensor, k: int, tol: float) -> list[range]:
    """Runs (of two or more) of consecutive eigenvalues, descending, that reach into the top ``k``
    and whose relative gaps (λ_i − λ_{i+1}) / λ_i are all at most ``tol``.

    A run may extend past index ``k``; it then straddles the top-k boundary, and even the span of
    the top k is ambiguous.
    """
    listed = values.tolist()
    groups: list[range] = []
    first = 0
    while first < k:
        last = first
        while last + 1 < len(listed) and listed[last] - listed[last + 1] <= tol * abs(listed[last]):
            last += 1
        if last > first:
            groups.append(range(first, last + 1))
        first = last + 1
    return groups


def rotate_groups_towards(vectors: Tensor, groups: list[range], k: int, previous: Tensor) -> Tensor:
    """The first ``k`` columns of ``vectors``, where the columns of each group (within the top k)
    are replaced by the orthonormal vectors of the group's whole span closest to the previous
    basis.

    For a group of size c with s slots in the top k, the s previous axes with the largest overlap
    with the span (not already taken by an earlier group) are the targets, and the orthogonal
    Procrustes solution E·U·Wᵀ, from the SVD Eᵀ V_J = U S Wᵀ, maximises the sum of the dots with
    them. For a group inside the top k this is the rotation within the eigenspace closest to the
    previous axes; for a straddling group it also picks the s-dimensional subspace.
    """
    chosen = vectors[:, :k].clone()
    free = list(range(previous.shape[1]))
    for group in groups:
        span = vectors[:, group.start : group.stop]
        slots = min(group.stop, k) - group.start
        overlap = torch.linalg.vector_norm(span.T @ previous[:, free], dim=0)
        order = torch.argsort(overlap, descending=True, stable=True)[:slots].tolist()
        targets = [free[i] for i in order]
        u, _, wt = torch.linalg.svd(span.T @ previous[:, targets], full_matrices=False)
        chosen[:, group.start : group.start + slots] = span @ u @ wt
        free = [i for i in free if i not in targets]
    return chosen


def match_previous(vectors: Tensor, previous: Tensor) -> Tensor:
    """Columns of ``vectors`` reordered by the Hungarian assignment on 1 − |V_prevᵀV| and
    sign-flipped so that each has a non-negative dot with its predecessor."""
    overlap = (previous.T @ vectors).abs().cpu().numpy()
    _, columns = linear_sum_assignment(1.0 - overlap)
    matched = vectors[:, torch.as_tensor(columns, device=vectors.device)]
    signs = torch.where((previous * matched).sum(0) < 0, -1.0, 1.0).to(matched)
    return matched * signs


def canonical_signs(vectors: Tensor) -> Tensor:
    """Each column multiplied by the sign of its largest-magnitude entry (the first, on ties)."""
    rows = vectors.abs().argmax(dim=0)
    leading = vectors[rows, torch.arange(vectors.shape[1], device=vectors.device)]
    return vectors * torch.where(leading < 0, -1.0, 1.0).to(vectors)
