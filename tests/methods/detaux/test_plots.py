"""Detaux's interpretation plots: traversal codes and grid, pair choice, the normalised
cluster × factor table, and the PNGs ``save_plots`` writes."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from orthomtl.methods.detaux import ProductSpaceAutoencoder
from orthomtl.methods.detaux._embedding import Embedding
from orthomtl.methods.detaux._plots import (
    _decodes,
    cluster_factor_table,
    save_plots,
    traversal_codes,
    traversal_pairs,
)
from orthomtl.nn import build_decoder, build_encoder

PNG = b"\x89PNG\r\n\x1a\n"
K, D = 3, 4


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # The decoder's transposed convolutions on a few images are slower with threads (2 cores).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _network(channels: int) -> ProductSpaceAutoencoder:
    torch.manual_seed(0)
    shape = (channels, 28, 28)
    encoder = build_encoder("product-space", shape, D)
    return ProductSpaceAutoencoder(encoder, build_decoder("product-space", D, shape), K)


def test_traversal_codes_ends_exact_for_any_codes() -> None:
    a, b = torch.randn(2, K, D, generator=torch.Generator().manual_seed(1)).unbind(0)
    codes = traversal_codes(a, b, 4)
    assert codes.shape == (K, 4, K, D)
    for i in range(K):
        assert torch.equal(codes[i, 0], a)
        last = a.clone()
        last[i] = b[i]
        assert torch.equal(codes[i, -1], last)


def test_traversal_codes_move_one_subspace_linearly() -> None:
    # Integer codes and steps of 1/4: every value is exact in float32.
    a = torch.arange(K * D, dtype=torch.float32).reshape(K, D)
    b = -2 * a + 8
    codes = traversal_codes(a, b, 5)
    for i in range(K):
        for t in range(5):
            expected = a.clone()
            expected[i] = a[i] + t / 4 * (b[i] - a[i])
            assert torch.equal(codes[i, t], expected)


def test_traversal_codes_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="steps"):
        traversal_codes(torch.zeros(K, D), torch.ones(K, D), 1)
    with pytest.raises(ValueError, match="shape"):
        traversal_codes(torch.zeros(K, D), torch.ones(K, D + 1), 3)


def test_traversal_pairs_prefer_different_principal_labels() -> None:
    assert traversal_pairs([0, 0, 1, 1, 0, 2], 3) == [(0, 2), (1, 3), (4, 5)]
    assert traversal_pairs([0, 0, 1, 1, 0, 2], 1) == [(0, 2)]
    assert traversal_pairs([7, 7, 7], 3) == [(0, 1)]  # no different label: any free partner
    assert traversal_pairs([1], 3) == []


def test_traversal_grid_columns() -> None:
    network = _network(1).train()
    x = torch.rand(4, 1, 28, 28)
    tiles = _decodes(network, x, [(0, 2), (1, 3)], 3)
    assert network.training  # the mode is restored
    assert tiles.shape == (2, K, 3 + 4, 1, 28, 28)
    with torch.no_grad():
        network.eval()
        codes = network.codes(x)
        reconstruction = network.decode(codes)
        moved = network.decode(traversal_codes(codes[1], codes[3], 3)[2, -1][None])[0]
    for s in range(K):
        assert torch.equal(tiles[1, s, 0], x[1]) and torch.equal(tiles[1, s, -1], x[3])
        torch.testing.assert_close(tiles[1, s, 1], reconstruction[1])
        torch.testing.assert_close(tiles[1, s, 2], reconstruction[1])  # step 0: A's codes
        torch.testing.assert_close(tiles[1, s, -2], reconstruction[3])
    torch.testing.assert_close(tiles[1, 2, -3], moved)


def test_cluster_factor_table_rows_are_shares() -> None:
    table, clusters, values = cluster_factor_table([0, 0, 1, 1, 1, -1], [5, 6, 5, 5, 5, 6])
    np.testing.assert_array_equal(clusters, [-1, 0, 1])
    np.testing.assert_array_equal(values, [5, 6])
    np.testing.assert_allclose(table, [[0, 1], [0.5, 0.5], [1, 0]])
    rng = np.random.default_rng(0)
    table, _, _ = cluster_factor_table(rng.integers(0, 4, 500), rng.integers(0, 7, 500))
    assert table.shape == (4, 7)
    np.testing.assert_allclose(table.sum(axis=1), 1)


def _inputs(with_factors: bool) -> tuple[dict, list[dict], dict]:
    rng = np.random.default_rng(0)
    n = 120

    def split() -> Embedding:
        factors = rng.integers(0, 4, (n, 2)) if with_factors else None
        return Embedding(rng.normal(size=(n, K, D)), rng.integers(0, 3, n), factors)

    embedded = {name: split() for name in ("train", "val", "test")}
    tasks = [
        {"name": "aux1", "subspace": 1, "n_clusters": 3, "cluster_sizes": [], "noise_label": -1},
        {"name": "aux2", "subspace": 2, "n_clusters": 2, "cluster_sizes": [], "noise_label": None},
    ]
    if with_factors:
        scores = {"homogeneity": 0.5, "completeness": 0.25, "nmi": 0.3}
        tasks[0]["factors"] = {"hue": scores, "scale": scores}
    labels = {
        name: [rng.integers(-1, 3, n), rng.integers(0, 2, n)] for name in ("train", "val", "test")
    }
    return embedded, tasks, labels


@pytest.mark.parametrize(
    ("channels", "with_factors", "with_images"),
    [(1, True, True), (3, False, True), (1, False, False)],
)
def test_save_plots_writes_pngs(
    tmp_path: Path, channels: int, with_factors: bool, with_images: bool
) -> None:
    embedded, tasks, labels = _inputs(with_factors)
    images = torch.rand(6, channels, 28, 28) if with_images else None
    paths = save_plots(_network(channels), embedded, tasks, labels, tmp_path, images=images)
    expected = ["traversals.png"] if with_images else []
    for name in ("aux1", "aux2"):
        expected += [f"{name}_pca.png", *([f"{name}_factors.png"] if with_factors else [])]
    assert [p.name for p in paths] == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(expected)
    for path in paths:
        assert path.read_bytes()[:8] == PNG
        image = imread(path)
        assert image.ndim == 3 and image.shape[2] in (3, 4) and min(image.shape[:2]) > 100
        assert path.stat().st_size < 500_000
