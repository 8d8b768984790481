"""Detaux's interpretation plots (paper appendix, "What does disentanglement look like from a
qualitative perspective?", Figures 3–5), written by the discovery stage to ``<run_dir>/discovery``.

- ``traversals.png`` (Figures 3 and 4): for a few pairs (A, B) of validation images with different
  principal labels, one row per subspace i. Columns: A, its reconstruction, the decodes of A's
  codes while s_i moves linearly from A's code to B's (``traversal_codes``; the first is A's
  reconstruction), B's reconstruction, B. The principal subspace's row is marked in red, a
  subspace clustered into an auxiliary task is labelled with the task's name. Written only when
  ``save_plots`` is given images (M, C, H, W); C = 3 is shown as RGB, any other C as the channels'
  mean in grey, every pixel clipped to [0, 1].
- ``<task>_pca.png`` (Figure 5b, in 2-D): each auxiliary task's subspace codes of the training
  split projected on their two principal components, coloured by cluster, noise in grey. At most
  ``max_points`` points, evenly spaced in the split's order.
- ``<task>_factors.png``, when the ground-truth factors are known: one heat-map per factor of the
  training split's cluster × factor-value contingency table, each row (cluster) divided by its
  size, so that row r is the distribution of the factor's values within cluster r
  (``cluster_factor_table``): a homogeneous cluster has one bright cell. Each panel is titled with
  the task record's homogeneity and completeness of that factor, when it has them.

Figures are ``matplotlib.figure.Figure`` objects on an Agg canvas: no pyplot, no global state.
"""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from numpy.typing import ArrayLike, NDArray
from sklearn.decomposition import PCA
from torch import Tensor

from orthomtl.discovery import contingency
from orthomtl.methods.detaux._autoencoder import ProductSpaceAutoencoder
from orthomtl.methods.detaux._embedding import Embedding

_DPI = 100
_NOISE_COLOUR = "0.7"
_PAD = 2  # pixels of white between the traversal tiles


def traversal_codes(a: Tensor, b: Tensor, steps: int) -> Tensor:
    """Codes (K, steps, K, d) of the traversals from A's codes ``a`` (K, d) toward B's ``b``.

    ``[i, t]`` is A's codes with subspace i replaced by lerp(a_i, b_i, t / (steps - 1)): step 0
    is A's codes exactly, the last step has b_i exactly in subspace i, A's codes elsewhere.
    """
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"a and b must be (K, d) codes of one shape, got {a.shape}, {b.shape}.")
    if steps < 2:
        raise ValueError(f"A traversal needs at least 2 steps, got {steps}.")
    k = a.shape[0]
    weights = torch.linspace(0, 1, steps, dtype=a.dtype, device=a.device)[None, :, None]
    moved = torch.lerp(a[:, None, :], b[:, None, :], weights)  # (K, steps, d)
    own = torch.eye(k, dtype=torch.bool, device=a.device)[:, None, :, None]  # (K, 1, K, 1)
    return torch.where(own, moved[:, :, None, :], a[None, None])


def traversal_pairs(principal: ArrayLike, n_pairs: int) -> list[tuple[int, int]]:
    """Up to ``n_pairs`` pairs of sample indices, each sample in one pair at most: in order, each
    unused sample with the next unused one of a different principal label (of any label when
    none is left)."""
    labels = np.asarray(principal)
    used: set[int] = set()
    pairs = []
    for i in range(len(labels)):
        if len(pairs) == n_pairs:
            break
        free = [j for j in range(i + 1, len(labels)) if j not in used]
        if i in used or not free:
            continue
        j = next((j for j in free if labels[j] != labels[i]), free[0])
        used.update((i, j))
        pairs.append((i, j))
    return pairs


def cluster_factor_table(
    clusters: ArrayLike, factor: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[Any], NDArray[Any]]:
    """The contingency table of clusters (rows) × factor values (columns), each row divided by
    its sum: [r, c] is the share of cluster r's points whose factor has value c.

    Returns:
        The table (R, C) with rows summing to 1, the R sorted cluster labels and the C sorted
        factor values.
    """
    counts = contingency(clusters, factor).astype(np.float64)
    return counts / counts.sum(axis=1, keepdims=True), np.unique(clusters), np.unique(factor)


def save_plots(
    network: ProductSpaceAutoencoder,
    embedded: Mapping[str, Embedding],
    tasks: Sequence[Mapping[str, Any]],
    labels: Mapping[str, Sequence[np.ndarray]],
    directory: Path,
    *,
    images: Tensor | np.ndarray | None = None,
    principal_subspace: int = 0,
    n_pairs: int = 2,
    steps: int = 5,
    max_points: int = 5000,
) -> list[Path]:
    """Write the plots of the module docstring to ``directory``; returns their paths.

    Args:
        network: the trained autoencoder.
        embedded: the splits' embeddings; ``"train"`` for the scatters and heat-maps, ``"val"``
            for the principal labels of ``images``.
        tasks: the discovery's task records (``name``, ``subspace``, ``noise_label``, optionally
            ``factors``: ``{factor name: {"homogeneity", "completeness", ...}}`` in the order of
            the factor columns).
        labels: per split, each task's (N,) labels, in the order of ``tasks``.
        directory: an existing directory.
        images: the first M validation images (M, C, H, W), in the order of ``embedded["val"]``;
            the traversal pairs are chosen among them. None: no ``traversals.png``.
        principal_subspace: the principal task's subspace, marked in the traversals.
        n_pairs: pairs in the traversals.
        steps: decodes per traversal, both ends included.
        max_points: points per PCA scatter at most.
    """
    directory = Path(directory)
    paths = []
    if images is not None and torch.as_tensor(images).ndim == 4:
        principal = embedded["val"].principal[: len(images)]
        pairs = traversal_pairs(principal, n_pairs)
        if pairs:
            names = {int(t["subspace"]): str(t["name"]) for t in tasks}
            figure = _traversals(network, images, pairs, principal_subspace, names, steps)
            paths.append(_save(figure, directory / "traversals.png"))
    train = embedded["train"]
    for task, aux in zip(tasks, labels["train"], strict=True):
        name, subspace = str(task["name"]), int(task["subspace"])
        figure = _scatter(train.codes[:, subspace], aux, task.get("noise_label"), max_points)
        figure.suptitle(f"{name}: subspace {subspace}, training codes by cluster")
        paths.append(_save(figure, directory / f"{name}_pca.png"))
        if train.factors is not None:
            figure = _factors(aux, np.asarray(train.factors), task)
            figure.suptitle(f"{name}: subspace {subspace}, factor values within each cluster")
            paths.append(_save(figure, directory / f"{name}_factors.png"))
    return paths


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=_DPI)
    return path


@torch.no_grad()
def _decodes(
    network: ProductSpaceAutoencoder, x: Tensor, pairs: list[tuple[int, int]], steps: int
) -> Tensor:
    """Tiles (P, K, steps + 4, C, H, W): A, rec A, the traversal of subspace k, rec B, B."""
    training = network.training
    network.eval()
    try:
        codes = network.codes(x)
        k, blocks = codes.shape[1], []
        for i, j in pairs:
            moved = network.decode(traversal_codes(codes[i], codes[j], steps).flatten(0, 1))
            ends = network.decode(codes[[i, j]])
            sides = torch.stack([x[i], ends[0], ends[1], x[j]]).expand(k, 4, *x.shape[1:])
            blocks.append(
                torch.cat([sides[:, :2], moved.unflatten(0, (k, steps)), sides[:, 2:]], 1)
            )
        return torch.stack(blocks)
    finally:
        network.train(training)


def _mosaic(tiles: np.ndarray) -> np.ndarray:
    """(R, Q, H, W, C) tiles → one (R (H + pad) + pad, Q (W + pad) + pad, C) image on white."""
    rows, _, height, _, channels = tiles.shape
    padded = np.pad(tiles, ((0, 0), (0, 0), (_PAD, 0), (_PAD, 0), (0, 0)), constant_values=1.0)
    image = padded.transpose(0, 2, 1, 3, 4).reshape(rows * (height + _PAD), -1, channels)
    return np.pad(image, ((0, _PAD), (0, _PAD), (0, 0)), constant_values=1.0)


def _traversals(
    network: ProductSpaceAutoencoder,
    images: Tensor | np.ndarray,
    pairs: list[tuple[int, int]],
    principal_subspace: int,
    names: Mapping[int, str],
    steps: int,
) -> Figure:
    device = next(network.parameters()).device
    x = torch.as_tensor(images, dtype=torch.float32, device=device)
    tiles = _decodes(network, x, pairs, steps).clamp(0, 1).permute(0, 1, 2, 4, 5, 3).cpu().numpy()
    if tiles.shape[-1] != 3:
        tiles = tiles.mean(axis=-1, keepdims=True)
    k, height, width = tiles.shape[1], tiles.shape[3], tiles.shape[4]
    columns = ["A", "rec A", *[f"{t:.2g}" for t in np.linspace(0, 1, steps)], "rec B", "B"]
    tile = 0.6  # inches
    figure = Figure(
        layout="constrained", figsize=(1.6 + tile * len(columns), len(pairs) * (tile * k + 0.7))
    )
    rows = [names.get(s, "") for s in range(k)]
    rows[principal_subspace] = "principal"
    axes = figure.subplots(len(pairs), 1, squeeze=False)[:, 0]
    for ax, block, (i, j) in zip(axes, tiles, pairs, strict=True):
        mosaic = _mosaic(block)
        if mosaic.shape[-1] == 1:
            ax.imshow(mosaic[..., 0], cmap="gray", vmin=0, vmax=1)
        else:
            ax.imshow(mosaic)
        ax.set_xticks(_PAD + (width + _PAD) * np.arange(len(columns)) + width / 2, columns)
        ax.set_yticks(
            _PAD + (height + _PAD) * np.arange(k) + height / 2,
            [f"s{s} {name}".strip() for s, name in enumerate(rows)],
        )
        ax.tick_params(length=0, labelsize=8, labeltop=True, labelbottom=False)
        for s, label in enumerate(ax.get_yticklabels()):
            label.set_color({"": "black", "principal": "tab:red"}.get(rows[s], "tab:blue"))
        top = (height + _PAD) * principal_subspace + _PAD / 2
        ax.add_patch(
            Rectangle((0, top), mosaic.shape[1] - 1, height + _PAD, fill=False, ec="tab:red")
        )
        ax.set_title(
            f"validation samples {i} (A) and {j} (B): row s: subspace s moves from A's code to B's",
            fontsize=9,
        )
        for spine in ax.spines.values():
            spine.set_visible(False)
    return figure


def _scatter(
    codes: np.ndarray, clusters: np.ndarray, noise_label: int | None, max_points: int
) -> Figure:
    keep = np.arange(0, len(codes), -(-len(codes) // max_points))
    points, clusters = codes[keep], np.asarray(clusters)[keep]
    pca = PCA(n_components=min(2, *points.shape))
    projected = pca.fit_transform(points)
    if projected.shape[1] == 1:
        projected = np.column_stack([projected, np.zeros(len(projected))])
    figure = Figure(layout="constrained", figsize=(6.4, 4.8))
    ax = figure.subplots()
    values = np.unique(clusters)
    cmap = colormaps["tab10" if len(values) <= 10 else "tab20"]
    colours = iter(cmap(n % cmap.N) for n in range(len(values)))
    for value in values:
        noise = noise_label is not None and value == noise_label
        colour = _NOISE_COLOUR if noise else next(colours)
        mask = clusters == value
        label = f"noise ({mask.sum()})" if noise else f"{value} ({mask.sum()})"
        ax.scatter(*projected[mask].T, s=4, color=colour, alpha=0.6, linewidths=0, label=label)
    shares = [f"{100 * r:.0f}%" for r in pca.explained_variance_ratio_]
    ax.set_xlabel(f"PC1 ({shares[0]})")
    ax.set_ylabel(f"PC2 ({shares[1]})" if len(shares) > 1 else "")
    ax.set_title(f"{len(points)} of {len(codes)} points", fontsize=9)
    if len(values) <= 20:
        ax.legend(title="cluster (points)", fontsize=7, markerscale=3, loc="best")
    return figure


def _factors(clusters: np.ndarray, factors: np.ndarray, task: Mapping[str, Any]) -> Figure:
    records = task.get("factors") or {}
    names = list(records) if len(records) == factors.shape[1] else []
    names = names or [f"factor {f}" for f in range(factors.shape[1])]
    noise = task.get("noise_label")
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    figure = Figure(layout="constrained", figsize=(4.2 * cols + 0.8, 3.6 * rows + 0.6))
    axes = figure.subplots(rows, cols, squeeze=False).ravel()
    for ax, name, column in zip(axes, names, factors.T, strict=False):
        table, values, levels = cluster_factor_table(clusters, column)
        image = ax.imshow(table, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        step_x, step_y = -(-len(levels) // 20), -(-len(values) // 20)
        ax.set_xticks(np.arange(len(levels))[::step_x], [f"{v:g}" for v in levels[::step_x]])
        ax.set_yticks(
            np.arange(len(values))[::step_y],
            ["noise" if v == noise else str(v) for v in values[::step_y]],
        )
        ax.tick_params(labelsize=7)
        ax.tick_params(axis="x", labelrotation=90)
        ax.set_xlabel(f"{name} value", fontsize=8)
        ax.set_ylabel("cluster", fontsize=8)
        scores = records.get(name, {})
        title = name
        if "homogeneity" in scores and "completeness" in scores:
            title += f"\nhomogeneity {scores['homogeneity']:.2f}, "
            title += f"completeness {scores['completeness']:.2f}"
        ax.set_title(title, fontsize=9)
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    figure.colorbar(image, ax=list(axes[: len(names)]), fraction=0.03, label="share of cluster")
    return figure
