"""Which subspace of a product-space code becomes the auxiliary task (Detaux, Skenderi et al.,
ICIAP 2025, section 4.2).

Codes are an (N, K, d) array: the code s_i(x) ∈ R^d of each of N points in each of K subspaces.
Subspace α holds the principal task and is never a candidate. Dead subspaces go first: those
whose total code variance (summed over the d coordinates) is under ``dead_threshold`` × its mean
over the K subspaces, or exactly zero. A collapsed subspace would otherwise win either rule (its
distances and cosines are all zero) and yield a single cluster. Lower scores win; ties go to the
lower index.

- ``"distance"``, the paper's rule: the candidate with the smallest distance loss L_dist (eq. 7)
  on held-out pairs of points that share the principal label. For a pair,
  δ_i = ‖s_i(x₁) − s_i(x₂)‖₂. The oracle (eq. 3, same-principal case) sets λ_i = 1 for the
  candidate with the largest δ_i / ℓ_i, and λ_i = 0 for the others, ℓ_i being the mean code length
  ‖s_i‖ over the distinct points of the pairs. This is the hard limit of the training oracle's
  low-temperature softmax. Then L_dist_i = mean over pairs of
  (1 − λ_i) δ_i² + λ_i max(m − δ_i, 0)². Our choice: only live candidates enter the argmax, so a
  dead subspace cannot take a pair away from a live one.
- ``"orthogonality"``, the authors' code's rule: the candidate whose codes are on average most
  orthogonal to α's, the mean over points of |cos(s_j, s_α)|, where cos is 0 when a code is zero.
"""

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.utils import check_random_state

Rule = Literal["distance", "orthogonality"]
RULES: tuple[Rule, ...] = ("distance", "orthogonality")
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]


def is_int(value: object) -> bool:
    """Whether ``value`` is an integer (a NumPy one too) and not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """Whether ``value`` is a finite real number and not a bool."""
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, bool)
        and bool(np.isfinite(value))
    )


def check_codes(codes: ArrayLike, min_points: int = 2) -> FloatArray:
    """``codes`` as a float64 (N, K, d) array with N ≥ ``min_points``, K ≥ 2, d ≥ 1, all finite."""
    array = np.asarray(codes, dtype=np.float64)
    if array.ndim != 3:
        raise ValueError(
            "codes must be an (N, K, d) array: N points, K subspaces, a code in R^d per subspace; "
            f"got shape {array.shape}."
        )
    n, k, d = array.shape
    if n < min_points or k < 2 or d < 1:
        raise ValueError(
            f"codes must hold at least {min_points} point(s) and 2 subspaces (the principal one "
            f"and a candidate) of dimension >= 1; got shape {array.shape}."
        )
    finite = np.isfinite(array).all(axis=(1, 2))
    if not finite.all():
        raise ValueError(
            f"codes hold NaN or infinite values at {int((~finite).sum())} point(s) (first: point "
            f"{int(np.argmin(finite))}); drop those points or fix the encoder that produced them."
        )
    return array


def check_principal(principal_labels: ArrayLike | None, n: int) -> IntArray:
    """The principal labels as class indices 0..C−1, one per point."""
    if principal_labels is None:
        raise ValueError("principal_labels are required: one integer principal label per point.")
    labels = np.asarray(principal_labels)
    if labels.ndim != 1 or len(labels) != n:
        raise ValueError(
            f"principal_labels must be a 1-D array with one label per point ({n}), got shape "
            f"{labels.shape}."
        )
    if labels.dtype.kind not in "iub":
        raise ValueError(
            f"principal_labels must be integers, got dtype {labels.dtype}; cast them "
            "(labels.astype(int)) or encode them first."
        )
    return np.unique(labels, return_inverse=True)[1].reshape(-1)


def check_principal_subspace(principal_subspace: int, n_subspaces: int) -> int:
    """α as a plain int in 0..K−1."""
    if not is_int(principal_subspace):
        raise ValueError(f"principal_subspace must be an int, got {principal_subspace!r}.")
    if not 0 <= principal_subspace < n_subspaces:
        raise ValueError(
            f"principal_subspace={principal_subspace} is out of range for codes with "
            f"{n_subspaces} subspaces (0..{n_subspaces - 1})."
        )
    return int(principal_subspace)


def dead_subspaces(codes: FloatArray, threshold: float) -> IntArray:
    """Indices of the subspaces whose total code variance is under ``threshold`` × the mean over
    subspaces, or zero."""
    variance = codes.var(axis=0).sum(axis=1)
    return np.flatnonzero((variance < threshold * variance.mean()) | (variance == 0))


def same_principal_pairs(
    principal: IntArray, max_pairs: int, rng: np.random.RandomState
) -> IntArray:
    """(P, 2) indices of distinct points with the same principal label: all such pairs when there
    are at most ``max_pairs``, else ``max_pairs`` of them drawn uniformly with replacement."""
    order = np.argsort(principal, kind="stable")
    _, starts, counts = np.unique(principal[order], return_index=True, return_counts=True)
    possible = counts * (counts - 1) // 2
    total = int(possible.sum())
    if total == 0:
        raise ValueError(
            "no two points share a principal label, so the distance rule has no same-principal "
            "pairs to score: pass pairs, use subspace_rule='orthogonality', or check "
            "principal_labels."
        )
    if total <= max_pairs:
        parts = []
        for start, count in zip(starts, counts, strict=True):
            first, second = np.triu_indices(count, 1)
            parts.append(np.stack([first, second], axis=1) + start)
        return order[np.concatenate(parts)]
    group = rng.choice(len(counts), size=max_pairs, p=possible / total)
    first = rng.randint(0, counts[group])
    second = rng.randint(0, counts[group] - 1)
    second += second >= first
    return order[np.stack([first, second], axis=1) + starts[group][:, None]]


def check_pairs(pairs: ArrayLike, principal: IntArray) -> IntArray:
    """``pairs`` as a (P, 2) index array of distinct points that share the principal label."""
    array = np.asarray(pairs)
    if array.ndim != 2 or array.shape[1] != 2 or len(array) == 0 or array.dtype.kind not in "iu":
        raise ValueError(
            "pairs must be a non-empty (P, 2) integer array of point indices, got shape "
            f"{array.shape} and dtype {array.dtype}."
        )
    n = len(principal)
    if array.min() < 0 or array.max() >= n:
        raise ValueError(f"pairs must index points 0..{n - 1}, got indices outside that range.")
    bad = (array[:, 0] == array[:, 1]) | (principal[array[:, 0]] != principal[array[:, 1]])
    if bad.any():
        raise ValueError(
            f"{int(bad.sum())} pair(s) (first: row {int(np.argmax(bad))}) do not join two distinct "
            "points with the same principal label; the distance rule scores only such pairs."
        )
    return array.astype(np.intp)


def distance_scores(
    codes: FloatArray, pairs: IntArray, candidates: IntArray, margin: float
) -> FloatArray:
    """Per candidate, L_dist (eq. 7) over the pairs under the hard oracle of eq. 3."""
    delta = np.linalg.norm(codes[pairs[:, 0]] - codes[pairs[:, 1]], axis=-1)[:, candidates]
    length = np.linalg.norm(codes[np.unique(pairs)], axis=-1).mean(axis=0)[candidates]
    normalised = np.divide(delta, length, out=np.zeros_like(delta), where=length > 0)
    picked = np.zeros(delta.shape, dtype=bool)
    picked[np.arange(len(delta)), np.argmax(normalised, axis=1)] = True
    loss = np.where(picked, np.maximum(margin - delta, 0.0) ** 2, delta**2)
    return loss.mean(axis=0)


def orthogonality_scores(codes: FloatArray, alpha: int, candidates: IntArray) -> FloatArray:
    """Per candidate, the mean over points of |cos(s_j, s_α)| (0 where a code is zero)."""
    principal = codes[:, alpha]
    chosen = codes[:, candidates]
    dots = np.abs(np.einsum("nkd,nd->nk", chosen, principal))
    lengths = np.linalg.norm(chosen, axis=-1) * np.linalg.norm(principal, axis=-1)[:, None]
    return np.divide(dots, lengths, out=np.zeros_like(dots), where=lengths > 0).mean(axis=0)


def rank_subspaces(
    codes: ArrayLike,
    principal_labels: ArrayLike,
    pairs: ArrayLike | None = None,
    *,
    rule: Rule = "distance",
    principal_subspace: int = 0,
    margin: float = 0.25,
    dead_threshold: float = 0.01,
    max_pairs: int = 10_000,
    random_state: int | np.random.RandomState | None = 0,
) -> tuple[IntArray, FloatArray, IntArray]:
    """Rank the live candidate subspaces for an auxiliary task, best first (module docstring).

    Args:
        codes: (N, K, d) subspace codes.
        principal_labels: (N,) integer principal labels.
        pairs: (P, 2) indices of held-out pairs of distinct points that share the principal
            label, for the distance rule (the orthogonality rule ignores them). None draws up to
            ``max_pairs`` such pairs from ``random_state``.
        rule: ``"distance"`` (the paper) or ``"orthogonality"`` (the authors' code).
        principal_subspace: α, the principal task's subspace.
        margin: the hinge margin m of L_dist.
        dead_threshold: a subspace whose variance is under this fraction of the mean is dead.
        max_pairs: how many pairs to draw when ``pairs`` is None.
        random_state: seeds the drawn pairs.

    Returns:
        ``(order, scores, dead)``: the live candidates best first; the (K,) scores, NaN for α and
        for dead subspaces; the indices of the dead subspaces (α among them if it is dead).

    Raises:
        ValueError: on malformed inputs, or when every subspace but α is dead.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}.")
    if not (is_number(margin) and margin >= 0):
        raise ValueError(f"margin must be a finite number >= 0, got {margin!r}.")
    if not (is_number(dead_threshold) and 0 <= dead_threshold < 1):
        raise ValueError(f"dead_threshold must be in [0, 1), got {dead_threshold!r}.")
    if not is_int(max_pairs) or max_pairs < 1:
        raise ValueError(f"max_pairs must be an int >= 1, got {max_pairs!r}.")
    array = check_codes(codes)
    principal = check_principal(principal_labels, len(array))
    alpha = check_principal_subspace(principal_subspace, array.shape[1])
    dead = dead_subspaces(array, dead_threshold)
    candidates = np.setdiff1d(np.arange(array.shape[1]), [alpha, *dead])
    if len(candidates) == 0:
        variance = np.round(array.var(axis=0).sum(axis=1), 6).tolist()
        raise ValueError(
            f"every subspace but the principal one ({alpha}) is dead: code variances {variance}, "
            f"dead under {dead_threshold} x their mean. The autoencoder collapsed them; train it "
            "longer or with a stronger reg term, or lower dead_threshold."
        )
    scores = np.full(array.shape[1], np.nan)
    if rule == "distance":
        if pairs is None:
            chosen = same_principal_pairs(principal, max_pairs, check_random_state(random_state))
        else:
            chosen = check_pairs(pairs, principal)
        scores[candidates] = distance_scores(array, chosen, candidates, float(margin))
    else:
        scores[candidates] = orthogonality_scores(array, alpha, candidates)
    order = candidates[np.argsort(scores[candidates], kind="stable")]
    return order, scores, dead
