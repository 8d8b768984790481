"""``AuxiliaryTaskDiscovery``: Detaux's auxiliary-task discovery (Skenderi et al., ICIAP 2025,
section 4.2) as a scikit-learn clusterer. Pick a subspace of the product-space codes
(``_subspaces``), cluster it (``_clustering``), and fail loudly when one cluster is all it finds.
"""

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from orthomtl.discovery._clustering import (
    ClustererName,
    check_clusterer,
    cluster_subspace,
)
from orthomtl.discovery._subspaces import (
    FloatArray,
    IntArray,
    Rule,
    check_codes,
    check_principal_subspace,
    is_int,
    rank_subspaces,
)


class DiscoveryFailed(RuntimeError):
    """The chosen subspace clustered into fewer than two clusters (noise aside), which the paper
    counts as an unsuccessful run: a one-class auxiliary task teaches nothing.

    Attributes:
        subspace: the subspace that was clustered (None when several were).
        subspace_scores: the (K,) subspace scores (NaN for α and dead subspaces).
        cluster_sizes: the points per label found, the noise points last if any.
    """

    def __init__(
        self,
        message: str,
        *,
        subspace: int | None,
        subspace_scores: ArrayLike,
        cluster_sizes: ArrayLike,
    ) -> None:
        super().__init__(message)
        self.subspace = subspace
        self.subspace_scores: FloatArray = np.asarray(subspace_scores, dtype=np.float64)
        self.cluster_sizes: IntArray = np.asarray(cluster_sizes, dtype=np.intp)


class AuxiliaryTaskDiscovery(ClusterMixin, BaseEstimator):
    """Discover an auxiliary classification task in one subspace of Detaux's product-space codes.

    ``fit`` excludes dead subspaces, scores the live ones but α with ``subspace_rule`` (the paper
    takes the smallest distance loss L_dist, eq. 7, on same-principal pairs; see
    ``rank_subspaces``), clusters the best one's raw codes (HDBSCAN by default, noise kept as a
    label; a subsample plus nearest-neighbour labelling for large N), and raises
    ``DiscoveryFailed`` when fewer than two clusters come out.

    Args:
        subspace: ``"auto"`` picks by ``subspace_rule``; an int forces that subspace (to make
            tasks from the k best of ``rank_subspaces``). It may not be α or a dead subspace.
        subspace_rule: ``"distance"`` (the paper) or ``"orthogonality"`` (the authors' code).
            The scores are computed even when ``subspace`` is forced.
        principal_subspace: α, the principal task's subspace.
        margin: the hinge margin m of L_dist.
        dead_threshold: a subspace whose total code variance is under this fraction of the mean
            over subspaces is dead and never chosen.
        clusterer: ``"hdbscan"`` (the paper), ``"kmeans"`` or ``"meanshift"`` (scikit-learn's).
        min_cluster_size: HDBSCAN's minimum cluster size, as a fraction of the points clustered
            (at least 2 points). The paper uses 0.01, and 0.02 on 3D Shapes.
        n_clusters: KMeans's number of clusters; required for KMeans, None otherwise.
        bandwidth: MeanShift's bandwidth; None estimates it (``estimate_bandwidth``) on the
            clustered points. None for the other back-ends.
        clusterer_options: further keyword options of the scikit-learn class.
        max_samples: cluster at most this many points, a seeded subsample; None clusters all.
        n_neighbors: how many nearest clustered points label each other point.
        max_pairs: how many same-principal pairs the distance rule draws when ``fit`` gets none.
        random_state: seeds the pairs, the subsample and the back-end (KMeans, the bandwidth).

    Attributes:
        labels_: (N,) auxiliary labels 0..n_clusters_−1: the clusters by decreasing size, then the
            noise points, if any, as the last label.
        n_clusters_: the number of auxiliary labels, the noise label included.
        noise_label_: the label of the noise points, None when there are none.
        cluster_sizes_: (n_clusters_,) points per label.
        subspace_: the subspace clustered.
        subspace_scores_: (K,) the rule's score per subspace, lower is better; NaN for α and the
            dead subspaces.
        subspace_order_: the live candidate subspaces, best first.
        dead_subspaces_: indices of the dead subspaces.
        clustered_indices_: the points clustered directly (all of them when N ≤ max_samples).
        neighbors_: a ``KNeighborsClassifier`` on the clustered points and their labels, which
            labelled the other points and serves ``predict``.
    """

    def __init__(
        self,
        *,
        subspace: Literal["auto"] | int = "auto",
        subspace_rule: Rule = "distance",
        principal_subspace: int = 0,
        margin: float = 0.25,
        dead_threshold: float = 0.01,
        clusterer: ClustererName = "hdbscan",
        min_cluster_size: float = 0.01,
        n_clusters: int | None = None,
        bandwidth: float | None = None,
        clusterer_options: Mapping[str, Any] | None = None,
        max_samples: int | None = 20_000,
        n_neighbors: int = 5,
        max_pairs: int = 10_000,
        random_state: int | np.random.RandomState | None = 0,
    ) -> None:
        self.subspace = subspace
        self.subspace_rule = subspace_rule
        self.principal_subspace = principal_subspace
        self.margin = margin
        self.dead_threshold = dead_threshold
        self.clusterer = clusterer
        self.min_cluster_size = min_cluster_size
        self.n_clusters = n_clusters
        self.bandwidth = bandwidth
        self.clusterer_options = clusterer_options
        self.max_samples = max_samples
        self.n_neighbors = n_neighbors
        self.max_pairs = max_pairs
        self.random_state = random_state

    def fit(
        self, codes: ArrayLike, principal_labels: ArrayLike, pairs: ArrayLike | None = None
    ) -> "AuxiliaryTaskDiscovery":
        """Choose a subspace and cluster it.

        Args:
            codes: (N, K, d) subspace codes.
            principal_labels: (N,) integer principal labels.
            pairs: (P, 2) indices of held-out same-principal pairs for the distance rule; None
                draws up to ``max_pairs`` of them.

        Raises:
            ValueError: on malformed inputs or hyper-parameters.
            DiscoveryFailed: when the subspace yields fewer than two clusters.
        """
        array = check_codes(codes)
        n_subspaces = array.shape[1]
        alpha = check_principal_subspace(self.principal_subspace, n_subspaces)
        spec = check_clusterer(
            self.clusterer,
            min_cluster_size=self.min_cluster_size,
            n_clusters=self.n_clusters,
            bandwidth=self.bandwidth,
            options=self.clusterer_options,
        )
        if self.max_samples is not None and (not is_int(self.max_samples) or self.max_samples < 2):
            raise ValueError(f"max_samples must be an int >= 2 or None, got {self.max_samples!r}.")
        if not is_int(self.n_neighbors) or self.n_neighbors < 1:
            raise ValueError(f"n_neighbors must be an int >= 1, got {self.n_neighbors!r}.")
        pair_seed, sample_seed, cluster_seed = check_random_state(self.random_state).randint(
            np.iinfo(np.int32).max, size=3
        )
        order, scores, dead = rank_subspaces(
            array,
            principal_labels,
            pairs,
            rule=self.subspace_rule,
            principal_subspace=alpha,
            margin=self.margin,
            dead_threshold=self.dead_threshold,
            max_pairs=self.max_pairs,
            random_state=int(pair_seed),
        )
        subspace = self._chosen_subspace(order, alpha, dead, n_subspaces)
        clustering = cluster_subspace(
            array[:, subspace],
            spec,
            max_samples=self.max_samples,
            n_neighbors=self.n_neighbors,
            sample_seed=int(sample_seed),
            cluster_seed=int(cluster_seed),
        )
        real = len(clustering.sizes) - (clustering.noise_label is not None)
        if real < 2:
            other = "orthogonality" if self.subspace_rule == "distance" else "distance"
            pick = (
                f"the other subspace rule (subspace_rule='{other}')"
                if self.subspace == "auto"
                else "another subspace"
            )
            raise DiscoveryFailed(
                f"clustering subspace {subspace} with {self.clusterer} found {real} cluster(s) "
                f"(points per label, noise last: {clustering.sizes.tolist()}), so there is no "
                f"auxiliary task. Try {pick} among the live ones ranked {order.tolist()}, a "
                f"smaller min_cluster_size (now {self.min_cluster_size}), or clusterer='kmeans' "
                "with n_clusters=k.",
                subspace=subspace,
                subspace_scores=scores,
                cluster_sizes=clustering.sizes,
            )
        self.subspace_ = subspace
        self.subspace_scores_ = scores
        self.subspace_order_ = order
        self.dead_subspaces_ = dead
        self.labels_ = clustering.labels
        self.cluster_sizes_ = clustering.sizes
        self.n_clusters_ = len(clustering.sizes)
        self.noise_label_ = clustering.noise_label
        self.clustered_indices_ = clustering.clustered
        self.neighbors_ = clustering.neighbors
        return self

    def _chosen_subspace(
        self, order: IntArray, alpha: int, dead: IntArray, n_subspaces: int
    ) -> int:
        if isinstance(self.subspace, str) and self.subspace == "auto":
            return int(order[0])
        if not is_int(self.subspace) or not 0 <= self.subspace < n_subspaces:
            raise ValueError(
                f"subspace must be 'auto' or an int in 0..{n_subspaces - 1}, got {self.subspace!r}."
            )
        if self.subspace == alpha:
            raise ValueError(
                f"subspace={self.subspace} is the principal subspace; choose another one."
            )
        if self.subspace in dead:
            raise ValueError(
                f"subspace={self.subspace} is dead (its code variance is under dead_threshold="
                f"{self.dead_threshold} x the mean); choose a live one, ranked {order.tolist()}."
            )
        return int(self.subspace)

    def fit_predict(
        self, codes: ArrayLike, principal_labels: ArrayLike, pairs: ArrayLike | None = None
    ) -> IntArray:
        """``fit`` and return ``labels_`` (``ClusterMixin``'s version drops the labels)."""
        return self.fit(codes, principal_labels, pairs).labels_

    def predict(self, codes: ArrayLike) -> IntArray:
        """Auxiliary labels of new points: the majority label of their ``n_neighbors`` nearest
        clustered points in ``subspace_``. On the training points this may differ from
        ``labels_`` where the clustering itself labelled a point against its neighbours.

        Args:
            codes: (M, K, d) codes with the K and d seen in ``fit``.
        """
        check_is_fitted(self, "neighbors_")
        array = check_codes(codes, min_points=1)
        expected = (len(self.subspace_scores_), self.neighbors_.n_features_in_)
        if array.shape[1:] != expected:
            raise ValueError(
                f"codes of shape {array.shape} do not match the fitted ones (N, {expected[0]}, "
                f"{expected[1]})."
            )
        return np.asarray(self.neighbors_.predict(array[:, self.subspace_]), dtype=np.intp)
