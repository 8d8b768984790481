"""``AuxiliaryTaskDiscovery``: the chosen subspace, its clusters, the subsample with
nearest-neighbour labelling, noise, failure, and the scikit-learn conventions."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import (
    check_get_params_invariance,
    check_no_attributes_set_in_init,
    check_parameters_default_constructible,
)

from orthomtl.discovery import AuxiliaryTaskDiscovery, DiscoveryFailed
from orthomtl.discovery._clustering import order_labels
from tests.discovery import blob_codes, rule_codes


def test_fit_clusters_the_chosen_subspace_into_the_hidden_factor() -> None:
    codes, principal, aux = rule_codes()
    model = AuxiliaryTaskDiscovery(min_cluster_size=0.05).fit(codes, principal)
    assert model.subspace_ == 2 and model.subspace_order_[0] == 2
    assert model.dead_subspaces_.tolist() == [1]
    assert model.n_clusters_ == 3 and model.noise_label_ is None
    assert adjusted_rand_score(aux, model.labels_) == 1.0
    assert model.cluster_sizes_.tolist() == np.bincount(model.labels_).tolist()
    forced = AuxiliaryTaskDiscovery(subspace=4, clusterer="kmeans", n_clusters=2)
    forced.fit(codes, principal)
    assert forced.subspace_ == 4 and forced.n_clusters_ == 2
    assert forced.subspace_scores_ == pytest.approx(model.subspace_scores_, nan_ok=True)


def test_subsample_and_neighbours_agree_with_clustering_everything() -> None:
    sizes = (1200, 800, 500, 300)
    codes, principal, truth = blob_codes(sizes, spread=1.5)
    full = AuxiliaryTaskDiscovery(subspace=1, max_samples=None).fit(codes, principal)
    part = AuxiliaryTaskDiscovery(subspace=1, max_samples=500).fit(codes, principal)
    assert len(full.clustered_indices_) == len(truth) and len(part.clustered_indices_) == 500
    assert adjusted_rand_score(full.labels_, part.labels_) > 0.95
    assert adjusted_rand_score(truth, part.labels_) > 0.95
    new_codes, _, new_truth = blob_codes(sizes, seed=1, spread=1.5)
    assert adjusted_rand_score(new_truth, part.predict(new_codes)) > 0.95
    again = AuxiliaryTaskDiscovery(subspace=1, max_samples=500).fit(codes, principal)
    assert (again.labels_ == part.labels_).all()


def test_noise_points_keep_one_last_label_and_clusters_go_by_size() -> None:
    codes, principal, truth = blob_codes((150, 400, 250), outliers=6)
    model = AuxiliaryTaskDiscovery(subspace=1, n_neighbors=1).fit(codes, principal)
    assert model.n_clusters_ == 4 and model.noise_label_ == 3
    assert model.cluster_sizes_.tolist() == [400, 250, 150, 6]
    assert (model.labels_[truth == -1] == 3).all()
    assert [int(model.labels_[truth == blob][0]) for blob in range(3)] == [2, 0, 1]
    near_outliers = codes[truth == -1] + 0.01
    assert (model.predict(near_outliers) == 3).all()


def test_order_labels_sorts_by_size_then_first_point_and_puts_noise_last() -> None:
    labels, sizes, noise = order_labels(np.array([5, 5, -1, 2, 2, 2, 7, 9, 9]))
    assert labels.tolist() == [1, 1, 4, 0, 0, 0, 3, 2, 2]
    assert sizes.tolist() == [3, 2, 2, 1, 1] and noise == 4
    labels, sizes, noise = order_labels(np.array([3, 3, 1, 1]))
    assert labels.tolist() == [0, 0, 1, 1] and sizes.tolist() == [2, 2] and noise is None


@pytest.mark.parametrize(
    ("options", "found"),
    [
        ({}, "found 0 cluster"),
        ({"clusterer_options": {"allow_single_cluster": True}}, "found 1 cluster"),
    ],
)
def test_one_cluster_or_all_noise_fails_with_scores_sizes_and_hints(
    options: dict, found: str
) -> None:
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(500, 3, 2))
    with pytest.raises(DiscoveryFailed, match=found) as raised:
        AuxiliaryTaskDiscovery(min_cluster_size=0.1, **options).fit(codes, rng.integers(0, 2, 500))
    error = raised.value
    assert isinstance(error, RuntimeError)
    assert error.subspace in (1, 2) and error.cluster_sizes.sum() == 500
    assert np.isnan(error.subspace_scores[0]) and np.isfinite(error.subspace_scores[1:]).all()
    for hint in ("subspace_rule='orthogonality'", "smaller min_cluster_size", "n_clusters=k"):
        assert hint in str(error)


def test_kmeans_and_meanshift_back_ends() -> None:
    codes, principal, aux = rule_codes()
    kmeans = AuxiliaryTaskDiscovery(clusterer="kmeans", n_clusters=3).fit(codes, principal)
    assert adjusted_rand_score(aux, kmeans.labels_) == 1.0
    meanshift = AuxiliaryTaskDiscovery(clusterer="meanshift").fit(codes, principal)
    assert adjusted_rand_score(aux, meanshift.labels_) == 1.0
    with pytest.raises(ValueError, match="'kmeans' needs n_clusters"):
        AuxiliaryTaskDiscovery(clusterer="kmeans").fit(codes, principal)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_clusters": 3}, "n_clusters is for clusterer='kmeans'"),
        ({"clusterer": "kmeans", "n_clusters": 1}, "n_clusters must be an int >= 2"),
        ({"bandwidth": 1.0}, "bandwidth is for clusterer='meanshift'"),
        ({"clusterer": "meanshift", "bandwidth": 0.0}, "bandwidth must be a finite number"),
        ({"clusterer": "dbscan"}, "clusterer must be one of"),
        ({"clusterer_options": {"min_cluster_size": 5}}, "may not set"),
        ({"min_cluster_size": 20}, "fraction of the points clustered"),
        ({"subspace": 0}, "is the principal subspace"),
        ({"subspace": 1}, "subspace=1 is dead"),
        ({"subspace": 7}, "subspace must be 'auto' or an int in 0..4"),
        ({"principal_subspace": 5}, "out of range"),
        ({"max_samples": 1}, "max_samples must be"),
        ({"n_neighbors": 0}, "n_neighbors must be"),
        ({"subspace_rule": "cosine"}, "rule must be one of"),
    ],
)
def test_bad_hyper_parameters_fail_in_fit(params: dict, message: str) -> None:
    codes, principal, _ = rule_codes()
    model = AuxiliaryTaskDiscovery(**params)
    with pytest.raises(ValueError, match=message):
        model.fit(codes, principal)


def test_scikit_learn_conventions() -> None:
    name, model = "AuxiliaryTaskDiscovery", AuxiliaryTaskDiscovery(clusterer="kmeans", n_clusters=3)
    check_parameters_default_constructible(name, model)
    check_no_attributes_set_in_init(name, model)
    check_get_params_invariance(name, model)
    copy = clone(model)
    assert copy is not model and copy.get_params() == model.get_params()
    assert clone(model.set_params(subspace=2)).get_params()["subspace"] == 2
    codes, principal, _ = rule_codes()
    with pytest.raises(NotFittedError):
        model.predict(codes)
    labels = model.fit_predict(codes, principal)
    assert (labels == model.labels_).all() and model.fit(codes, principal) is model
    assert not hasattr(copy, "labels_")
    with pytest.raises(ValueError, match="do not match the fitted ones"):
        model.predict(codes[:, :, :2])
    with pytest.raises(ValueError, match="principal_labels are required"):
        model.fit(codes, None)
