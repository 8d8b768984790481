"""Synthetic product-space codes for the discovery tests."""

import numpy as np

FloatArray = np.ndarray


def rule_codes(per_class: int = 80, seed: int = 0) -> tuple[FloatArray, np.ndarray, np.ndarray]:
    """(N, 5, 4) codes, 3 principal classes of ``per_class`` points (so at most 10,000
    same-principal pairs: ``rank_subspaces`` scores all of them), and the auxiliary factor.

    - 0 (α): the principal class as a blob in coordinates 0-1;
    - 1: collapsed, (1, 1) + N(0, 1e-4) in coordinates 2-3: dead at the default threshold, and
      it would win both rules otherwise (near-zero distances, zero cosines, the lowest index);
    - 2: three tight blobs of the auxiliary factor in coordinates 1-3, coordinate 1 shared with
      α (so |cos| with α is well above 0);
    - 3: N(0, 1) noise around (5, 5, 5, 5): large distances, never the oracle's pick;
    - 4: N(0, 0.3) noise around (5, 5) in coordinates 2-3, exactly orthogonal to α.

    The distance rule picks 2, the orthogonality rule 4.
    """
    rng = np.random.default_rng(seed)
    principal = np.repeat(np.arange(3), per_class)
    aux = rng.integers(0, 3, len(principal))
    codes = np.zeros((len(principal), 5, 4))
    codes[:, 0, :2] = np.array([[3.0, 0.0], [0.0, 3.0], [3.0, 3.0]])[principal]
    codes[:, 0, :2] += rng.normal(0, 0.1, (len(principal), 2))
    centres = np.array([[1.0, 4.0, 0.0], [1.0, 0.0, 4.0], [1.0, -4.0, -4.0]])
    codes[:, 2, 1:] = centres[aux] + rng.normal(0, 0.1, (len(principal), 3))
    codes[:, 1, 2:] = 1 + rng.normal(0, 1e-4, (len(principal), 2))
    codes[:, 3] = 5 + rng.normal(0, 1, (len(principal), 4))
    codes[:, 4, 2:] = 5 + rng.normal(0, 0.3, (len(principal), 2))
    return codes, principal, aux


def blob_codes(
    sizes: tuple[int, ...], outliers: int = 0, seed: int = 0, spread: float = 0.3
) -> tuple[FloatArray, np.ndarray, np.ndarray]:
    """(N, 2, 2) codes: subspace 0 (α) random with 2 principal classes, subspace 1 Gaussian blobs
    of ``sizes`` points 10 apart on a line, then ``outliers`` isolated points far from all (truth
    −1). Returns the codes, the principal labels and the blob of each point."""
    rng = np.random.default_rng(seed)
    truth = np.concatenate([np.repeat(np.arange(len(sizes)), sizes), np.full(outliers, -1)])
    codes = np.empty((len(truth), 2, 2))
    codes[:, 0] = rng.normal(0, 1, (len(truth), 2))
    blobs = truth >= 0
    codes[blobs, 1] = np.c_[10.0 * truth[blobs], np.zeros(blobs.sum())]
    codes[blobs, 1] += rng.normal(0, spread, (int(blobs.sum()), 2))
    angles = np.linspace(0, 2 * np.pi, outliers, endpoint=False)
    codes[~blobs, 1] = 100.0 * np.c_[np.cos(angles), np.sin(angles)] + [10.0 * len(sizes) / 2, 0]
    return codes, rng.integers(0, 2, len(truth)), truth
