"""Clustering one subspace's codes into auxiliary labels (Detaux, section 4.2).

The paper clusters the raw codes of the chosen subspace with HDBSCAN, ``min_cluster_size`` 1% of
the points (2% on 3D Shapes), and keeps HDBSCAN's noise points as one more label. KMeans and
MeanShift are its alternatives (section 5.3, Table 2). The codes are not standardised: the
subspace's own geometry is what the disentanglement shaped.

Large sets: a seeded subsample of ``max_samples`` points is clustered and every other point takes
the majority label of its ``n_neighbors`` nearest clustered points (noise counting as a label).
scikit-learn's HDBSCAN has no ``approximate_predict``, and this is our replacement; ``predict``
labels new points the same way.

Final labels: the clusters by decreasing size over all N points (ties: the cluster holding the
lowest point index first), then the noise points, if any, as one last label.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sklearn.cluster import HDBSCAN, KMeans, MeanShift, estimate_bandwidth
from sklearn.neighbors import KNeighborsClassifier

from orthomtl.discovery._subspaces import FloatArray, IntArray, is_int, is_number

ClustererName = Literal["hdbscan", "kmeans", "meanshift"]
CLUSTERERS: tuple[ClustererName, ...] = ("hdbscan", "kmeans", "meanshift")
NOISE = -1
BANDWIDTH_SAMPLES = 2_000
"""MeanShift's bandwidth is estimated on at most this many of the clustered points (seeded): the
estimate queries every sampled point's neighbours among all points."""
_RESERVED = {
    "hdbscan": ("min_cluster_size", "copy"),
    "kmeans": ("n_clusters", "random_state"),
    "meanshift": ("bandwidth",),
}


@dataclass(frozen=True)
class ClustererSpec:
    """A checked clustering back-end: its name, its options, and the one size parameter that the
    estimator owns (``min_cluster_size`` as a fraction, ``n_clusters`` or ``bandwidth``)."""

    name: ClustererName
    min_cluster_size: float
    n_clusters: int | None
    bandwidth: float | None
    options: Mapping[str, Any]


def check_clusterer(
    name: str,
    *,
    min_cluster_size: float,
    n_clusters: int | None,
    bandwidth: float | None,
    options: Mapping[str, Any] | None,
) -> ClustererSpec:
    """The back-end ``name`` with its parameters checked; each size parameter belongs to one
    back-end and is an error with another."""
    if name not in CLUSTERERS:
        raise ValueError(f"clusterer must be one of {CLUSTERERS}, got {name!r}.")
    if not (is_number(min_cluster_size) and 0 < min_cluster_size <= 1):
        raise ValueError(
            "min_cluster_size is a fraction of the points clustered, in (0, 1]; got "
            f"{min_cluster_size!r}."
        )
    if name == "kmeans":
        if n_clusters is None:
            raise ValueError("clusterer='kmeans' needs n_clusters (an int >= 2).")
        if not is_int(n_clusters) or n_clusters < 2:
            raise ValueError(f"n_clusters must be an int >= 2, got {n_clusters!r}.")
    elif n_clusters is not None:
        raise ValueError(f"n_clusters is for clusterer='kmeans', not {name!r}; leave it None.")
    if name == "meanshift":
        if bandwidth is not None and not (is_number(bandwidth) and bandwidth > 0):
            raise ValueError(f"bandwidth must be a finite number > 0 or None, got {bandwidth!r}.")
    elif bandwidth is not None:
        raise ValueError(f"bandwidth is for clusterer='meanshift', not {name!r}; leave it None.")
    options = {} if options is None else options
    if not isinstance(options, Mapping):
        raise ValueError(f"clusterer_options must be a dict or None, got {type(options).__name__}.")
    clash = sorted(set(options) & set(_RESERVED[name]))
    if clash:
        raise ValueError(
            f"clusterer_options may not set {clash}: the estimator sets them for {name!r} "
            "(use its own parameter of that name, or random_state)."
        )
    return ClustererSpec(name, float(min_cluster_size), n_clusters, bandwidth, dict(options))


def cluster_points(points: FloatArray, spec: ClustererSpec, seed: int) -> IntArray:
    """One clustering of ``points`` (M, d): a label per point, ``NOISE`` for noise."""
    if spec.name == "hdbscan":
        size = max(2, round(spec.min_cluster_size * len(points)))
        model: Any = HDBSCAN(min_cluster_size=size, copy=True, **spec.options)
    elif spec.name == "kmeans":
        model = KMeans(n_clusters=spec.n_clusters, random_state=seed, **spec.options)
    else:
        bandwidth = spec.bandwidth
        if bandwidth is None:
            n_samples = min(len(points), BANDWIDTH_SAMPLES)
            bandwidth = estimate_bandwidth(points, n_samples=n_samples, random_state=seed)
            if not bandwidth > 0:
                raise ValueError(
                    "the estimated MeanShift bandwidth is 0 (most codes coincide); pass bandwidth."
                )
        model = MeanShift(bandwidth=bandwidth, **spec.options)
    return np.asarray(model.fit_predict(points), dtype=np.intp)


def order_labels(raw: IntArray) -> tuple[IntArray, IntArray, int | None]:
    """Relabel ``raw`` as in the module docstring: (labels, sizes per label, the noise label or
    None)."""
    values, first, inverse, counts = np.unique(
        raw, return_index=True, return_inverse=True, return_counts=True
    )
    real = np.flatnonzero(values != NOISE)
    rank = real[np.lexsort((first[real], -counts[real]))]
    lookup = np.full(len(values), len(real), dtype=np.intp)
    lookup[rank] = np.arange(len(real))
    noise_label = len(real) if len(real) < len(values) else None
    sizes = counts[np.argsort(lookup, kind="stable")]
    return lookup[inverse.reshape(-1)], sizes.astype(np.intp), noise_label


@dataclass(frozen=True)
class Clustering:
    """The labels of all N points and what ``predict`` needs."""

    labels: IntArray
    sizes: IntArray
    noise_label: int | None
    clustered: IntArray
    neighbors: KNeighborsClassifier


def cluster_subspace(
    points: FloatArray,
    spec: ClustererSpec,
    *,
    max_samples: int | None,
    n_neighbors: int,
    sample_seed: int,
    cluster_seed: int,
) -> Clustering:
    """Cluster ``points`` (N, d), a subsample of ``max_samples`` of them if N is larger, and label
    the rest by their nearest clustered neighbours (module docstring)."""
    n = len(points)
    if max_samples is None or n <= max_samples:
        clustered = np.arange(n)
    else:
        sample = np.random.RandomState(sample_seed).choice(n, max_samples, replace=False)
        clustered = np.sort(sample)
    raw = np.empty(n, dtype=np.intp)
    raw[clustered] = cluster_points(points[clustered], spec, cluster_seed)
    k = min(n_neighbors, len(clustered))
    if len(clustered) < n:
        rest = np.ones(n, dtype=bool)
        rest[clustered] = False
        vote = KNeighborsClassifier(n_neighbors=k).fit(points[clustered], raw[clustered])
        raw[rest] = vote.predict(points[rest])
    labels, sizes, noise_label = order_labels(raw)
    neighbors = KNeighborsClassifier(n_neighbors=k).fit(points[clustered], labels[clustered])
    return Clustering(labels, sizes, noise_label, clustered, neighbors)
