"""Detaux's clustering of large sets: wall time at N = 100,000 and fidelity of the subsample.

``AuxiliaryTaskDiscovery`` clusters at most ``max_samples`` points (a seeded subsample) with
HDBSCAN and labels every other point by its 5 nearest clustered neighbours. On synthetic codes,
``clustering_speed`` measures

- the wall time of one ``fit`` at N = ``n_large`` (subsample ``max_samples``, then the
  nearest-neighbour labelling of the rest); target under 15 s at N = 100,000;
- at N = ``n_check``, on three data sets, the adjusted Rand index (noise counted as one more
  label) between HDBSCAN on all points (``max_samples=None``) and the subsample approach with a
  smaller subsample, ``check_samples``, so the labelling of the rest does real work; target
  ARI ≥ 0.9 on each. Both use ``min_cluster_size`` = 1% of the points they cluster, the paper's
  setting. The ARI is also given apart on the subsample's own points (how much the clustering of
  a subsample differs) and on the points its neighbours labelled.

The codes are (N, 3, d): subspace 0 (α) a blob per principal class (4 classes, at random),
subspace 1 the clustered one (forced with ``subspace=1``), subspace 2 N(0, 1) noise. Subspace 1
holds ``n_blobs`` Gaussian blobs of varied sizes (weights 1..n_blobs, shuffled) and spreads
(σ from 0.5 to 1.5), centres drawn N(0, 4²) per coordinate, plus a ``noise_fraction`` of points
uniform over the blobs' bounding box. ``fit`` also scores the subspaces (the distance rule, 10,000
pairs), which is inside the timing.

``benchmarks/detaux_speed.py`` calls ``clustering_speed``; run alone, this file prints its result:

    .venv/bin/python benchmarks/_detaux_clustering.py [--n-large 100000] [--n-check 20000]
        [--check-samples 5000] [--min-samples M]
"""

import argparse
import json
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import adjusted_rand_score

from orthomtl.discovery import AuxiliaryTaskDiscovery

TARGET_SECONDS = 15.0
TARGET_ARI = 0.9


def synthetic_codes(
    n: int, *, d: int, n_blobs: int, noise_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codes (n, 3, d), principal labels (n,), and the true blob of each point (−1: noise)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 4.0, (n_blobs, d))
    spreads = np.linspace(0.5, 1.5, n_blobs)
    weights = rng.permutation(np.arange(1, n_blobs + 1)) / (n_blobs * (n_blobs + 1) / 2)
    truth = rng.choice(n_blobs, size=n, p=weights)
    truth[rng.random(n) < noise_fraction] = -1
    blobs = truth >= 0
    codes = np.empty((n, 3, d))
    codes[blobs, 1] = centres[truth[blobs]]
    codes[blobs, 1] += rng.normal(0, 1, (int(blobs.sum()), d)) * spreads[truth[blobs], None]
    low, high = centres.min(axis=0) - 3 * spreads[-1], centres.max(axis=0) + 3 * spreads[-1]
    codes[~blobs, 1] = rng.uniform(low, high, (int((~blobs).sum()), d))
    principal = rng.integers(0, 4, n)
    codes[:, 0] = 3.0 * np.eye(4, d)[principal] + rng.normal(0, 0.3, (n, d))
    codes[:, 2] = rng.normal(0, 1, (n, d))
    return codes, principal, truth


def _timed_fit(
    codes: np.ndarray,
    principal: np.ndarray,
    max_samples: int | None,
    options: dict[str, Any] | None,
    seed: int,
) -> tuple[AuxiliaryTaskDiscovery, float]:
    model = AuxiliaryTaskDiscovery(
        subspace=1, max_samples=max_samples, clusterer_options=options, random_state=seed
    )
    start = time.perf_counter()
    model.fit(codes, principal)
    return model, time.perf_counter() - start


def _summary(model: AuxiliaryTaskDiscovery, truth: np.ndarray, seconds: float) -> dict[str, Any]:
    noise = model.noise_label_
    return {
        "fit_seconds": round(seconds, 3),
        "points_clustered": len(model.clustered_indices_),
        "n_clusters": int(model.n_clusters_),
        "noise_share": 0.0 if noise is None else float(np.mean(model.labels_ == noise)),
        "ari_vs_truth": float(adjusted_rand_score(truth, model.labels_)),
    }


def _check(
    n: int, synthetic: dict[str, Any], samples: int, options: dict[str, Any] | None, seed: int
) -> dict[str, Any]:
    """Full HDBSCAN against the subsample approach on one data set; the ARI also apart on the
    points the subsample clustered and on those its neighbours labelled."""
    codes, principal, truth = synthetic_codes(n, seed=seed, **synthetic)
    full, full_seconds = _timed_fit(codes, principal, None, options, seed)
    part, part_seconds = _timed_fit(codes, principal, samples, options, seed)
    clustered = np.zeros(n, dtype=bool)
    clustered[part.clustered_indices_] = True
    return {
        "seed": seed,
        "full": _summary(full, truth, full_seconds),
        "subsample": _summary(part, truth, part_seconds),
        "ari_subsample_vs_full": float(adjusted_rand_score(full.labels_, part.labels_)),
        "ari_on_clustered_points": float(
            adjusted_rand_score(full.labels_[clustered], part.labels_[clustered])
        ),
        "ari_on_labelled_points": float(
            adjusted_rand_score(full.labels_[~clustered], part.labels_[~clustered])
        ),
    }


def clustering_speed(
    n_large: int = 100_000,
    n_check: int = 20_000,
    d: int = 10,
    *,
    n_blobs: int = 10,
    noise_fraction: float = 0.05,
    max_samples: int = 20_000,
    check_samples: int = 5_000,
    check_seeds: Sequence[int] = (1, 2, 3),
    clusterer_options: dict[str, Any] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Time one fit at ``n_large`` points (data seed ``seed``) and check the subsample against
    full HDBSCAN at ``n_check`` on one data set per ``check_seeds`` (module docstring).
    ``clusterer_options`` go to HDBSCAN in every fit (e.g. ``{"min_samples": 10}``; by default
    ``min_samples`` = ``min_cluster_size``). Returns the configuration, the measurements and
    whether each target is met (the ARI on every check data set)."""
    synthetic = {"d": d, "n_blobs": n_blobs, "noise_fraction": noise_fraction}
    config = {
        "n_large": n_large,
        "n_check": n_check,
        **synthetic,
        "max_samples": max_samples,
        "check_samples": check_samples,
        "check_seeds": list(check_seeds),
        "clusterer_options": clusterer_options,
        "seed": seed,
        "clusterer": "hdbscan, min_cluster_size 1% of the points clustered, 5 neighbours",
    }
    codes, principal, truth = synthetic_codes(n_large, seed=seed, **synthetic)
    model, seconds = _timed_fit(codes, principal, max_samples, clusterer_options, seed)
    large = {"n": n_large, **_summary(model, truth, seconds)}
    checks = [_check(n_check, synthetic, check_samples, clusterer_options, s) for s in check_seeds]
    worst = min(check["ari_subsample_vs_full"] for check in checks)
    return {
        "config": config,
        "large": large,
        "checks": checks,
        "min_ari_subsample_vs_full": worst,
        "targets": {"large_fit_seconds": TARGET_SECONDS, "ari_subsample_vs_full": TARGET_ARI},
        "met": {
            "large_fit_seconds": seconds < TARGET_SECONDS,
            "ari_subsample_vs_full": worst >= TARGET_ARI,
        },
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-large", type=int, default=100_000)
    parser.add_argument("--n-check", type=int, default=20_000)
    parser.add_argument("--check-samples", type=int, default=5_000)
    parser.add_argument("--min-samples", type=int, help="HDBSCAN's min_samples in every fit")
    args = parser.parse_args()
    result = clustering_speed(
        args.n_large,
        args.n_check,
        check_samples=args.check_samples,
        clusterer_options=None if args.min_samples is None else {"min_samples": args.min_samples},
    )
    print(json.dumps(result, indent=2))
