"""Rank-N-Contrast and SupCon with an L2 similarity, checked against literal loop implementations
of their formulas (float64), plus missing labels, invariances, sanity and input validation."""

import math
from collections.abc import Callable
from functools import partial

import pytest
import torch
from torch import Tensor

from orthomtl.losses import RankNContrastLoss, SupConL2Loss


def similarity(z: Tensor, i: int, k: int, temperature: float) -> Tensor:
    return -torch.linalg.vector_norm(z[i] - z[k]) / temperature


def label_distance(a: Tensor, b: Tensor, kind: str, period: float) -> Tensor:
    delta = (a - b).abs().reshape(-1)
    if kind == "circular":
        delta = delta % period
        delta = torch.minimum(delta, period - delta)
    return delta.sum()


def rnc_literal(
    z: Tensor, y: Tensor, temperature: float = 2.0, kind: str = "l1", period: float = 2 * math.pi
) -> Tensor:
    """L = 1/n Σ_i 1/(n-1) Σ_{j≠i} -log[exp(s_ij/τ) / Σ_{k∈S_ij} exp(s_ik/τ)], loops as written."""
    samples = [i for i in range(len(z)) if not torch.isnan(y[i]).any()]
    n = len(samples)
    # d(y_i, y_k) and exp(s_ik/τ) for every pair, computed once, pair by pair.
    d = [[label_distance(y[i], y[k], kind, period).item() for k in samples] for i in samples]
    e = [[torch.exp(similarity(z, i, k, temperature)) for k in samples] for i in samples]
    total = z.sum() * 0
    for i in range(n):
        for j in range(n):
            if j == i:
                continue
            denominator = z.sum() * 0
            for k in range(n):
                if k != i and d[i][k] >= d[i][j]:
                    denominator = denominator + e[i][k]
            total = total - torch.log(e[i][j] / denominator) / (n * (n - 1))
    return total


def supcon_literal(z: Tensor, y: Tensor, temperature: float = 0.1) -> Tensor:
    """Mean over anchors with a positive of -1/|P(i)| Σ_p log[exp(s_ip/τ) / Σ_{a≠i} exp(s_ia/τ)]."""
    samples = [i for i in range(len(z)) if y[i] >= 0]
    total, anchors = z.sum() * 0, 0
    for i in samples:
        positives = [p for p in samples if p != i and y[p] == y[i]]
        if not positives:
            continue
        denominator = sum(torch.exp(similarity(z, i, a, temperature)) for a in samples if a != i)
        anchor_loss = z.sum() * 0
        for p in positives:
            anchor_loss = anchor_loss - torch.log(
                torch.exp(similarity(z, i, p, temperature)) / denominator
            )
        total = total + anchor_loss / len(positives)
        anchors += 1
    return total / max(anchors, 1)


def rnc_labels(kind: str, n: int, generator: torch.Generator) -> Tensor:
    if kind == "continuous":
        return torch.randn(n, generator=generator, dtype=torch.float64)
    if kind == "integer":  # many exact ties
        return torch.randint(0, 4, (n,), generator=generator).double()
    if kind == "two-dim":
        return torch.randint(0, 3, (n, 2), generator=generator).double()
    if kind == "circular":  # multiples of π/4 on both sides of the wrap-around, with ties
        return torch.randint(-8, 9, (n,), generator=generator).double() * (math.pi / 4)
    if kind == "missing":
        y = torch.randint(0, 4, (n,), generator=generator).double()
        y[torch.rand(n, generator=generator) < 0.3] = math.nan
        return y
    raise AssertionError(kind)


def assert_close_with_grads(
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    literal_fn: Callable[[Tensor, Tensor], Tensor],
    z: Tensor,
    y: Tensor,
) -> None:
    z1 = z.clone().requires_grad_(True)
    z2 = z.clone().requires_grad_(True)
    fast, slow = loss_fn(z1, y), literal_fn(z2, y)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)
    (g1,) = torch.autograd.grad(fast, z1)
    (g2,) = torch.autograd.grad(slow, z2)
    torch.testing.assert_close(g1, g2, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n", [2, 6, 17])
@pytest.mark.parametrize("d", [1, 3])
@pytest.mark.parametrize("kind", ["continuous", "integer", "two-dim", "circular", "missing"])
def test_rank_n_contrast_matches_literal_formula(n: int, d: int, kind: str) -> None:
    generator = torch.Generator().manual_seed(n * 100 + d)
    z = torch.randn(n, d, generator=generator, dtype=torch.float64)
    y = rnc_labels(kind, n, generator)
    distance = "circular" if kind == "circular" else "l1"
    loss = RankNContrastLoss(label_distance=distance)
    assert_close_with_grads(loss, partial(rnc_literal, kind=distance), z, y)


def test_rank_n_contrast_other_temperature_and_period() -> None:
    generator = torch.Generator().manual_seed(1)
    z = torch.randn(12, 2, generator=generator, dtype=torch.float64)
    y = torch.randint(0, 360, (12,), generator=generator).double()
    loss = RankNContrastLoss(temperature=0.5, label_distance="circular", period=360.0)
    literal = partial(rnc_literal, temperature=0.5, kind="circular", period=360.0)
    assert_close_with_grads(loss, literal, z, y)
    # 350° and 10° are 20° apart on the circle, not 340°.
    assert loss.label_distances(torch.tensor([350.0, 10.0]))[0, 1] == 20.0


def test_rank_n_contrast_all_labels_tied() -> None:
    """With one tie group, S_ij holds every k ≠ i: the loss is a plain InfoNCE over all others."""
    z = torch.randn(7, 1, dtype=torch.float64)
    y = torch.full((7,), 3.0, dtype=torch.float64)
    logits = -torch.cdist(z, z) / 2.0
    logits.fill_diagonal_(-math.inf)
    log_prob = logits - logits.logsumexp(dim=1, keepdim=True)
    expected = -log_prob[~torch.eye(7, dtype=torch.bool)].mean()
    torch.testing.assert_close(RankNContrastLoss()(z, y), expected)


@pytest.mark.parametrize("n", [2, 6, 17])
@pytest.mark.parametrize("d", [1, 3])
@pytest.mark.parametrize("missing", [False, True])
def test_supcon_l2_matches_literal_formula(n: int, d: int, missing: bool) -> None:
    generator = torch.Generator().manual_seed(n * 10 + d)
    z = torch.randn(n, d, generator=generator, dtype=torch.float64)
    y = torch.randint(0, 3, (n,), generator=generator)
    if missing:
        y[torch.rand(n, generator=generator) < 0.3] = -1
    for temperature in (0.1, 0.5):
        loss = SupConL2Loss(temperature)
        assert_close_with_grads(loss, partial(supcon_literal, temperature=temperature), z, y)


def test_rank_n_contrast_missing_labels_are_dropped() -> None:
    z = torch.randn(9, 2, dtype=torch.float64, requires_grad=True)
    y = torch.arange(9, dtype=torch.float64)
    y[[1, 4, 8]] = math.nan
    kept = [0, 2, 3, 5, 6, 7]
    loss = RankNContrastLoss()(z, y)
    torch.testing.assert_close(loss, RankNContrastLoss()(z[kept], y[kept]))
    (grad,) = torch.autograd.grad(loss, z)
    assert torch.all(grad[[1, 4, 8]] == 0)
    # A (n, k) label row with any NaN entry drops the sample.
    y2 = torch.stack((torch.arange(9.0), torch.arange(9.0)), dim=1).double()
    y2[[1, 4, 8], 1] = math.nan
    torch.testing.assert_close(RankNContrastLoss()(z, y2), RankNContrastLoss()(z[kept], y2[kept]))


@pytest.mark.parametrize("valid", [0, 1])
def test_rank_n_contrast_too_few_labels_gives_zero_with_zero_grad(valid: int) -> None:
    z = torch.randn(5, 1, requires_grad=True)
    y = torch.full((5,), math.nan)
    y[:valid] = 1.0
    loss = RankNContrastLoss()(z, y)
    assert loss.item() == 0.0 and loss.grad_fn is not None
    (grad,) = torch.autograd.grad(loss, z)
    assert torch.all(grad == 0)


def test_supcon_l2_missing_labels_are_dropped() -> None:
    z = torch.randn(8, 3, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, -1, 1, 0, 1, -1, 2, 0])
    kept = [0, 2, 3, 4, 6, 7]
    loss = SupConL2Loss()(z, y)
    torch.testing.assert_close(loss, SupConL2Loss()(z[kept], y[kept]))
    (grad,) = torch.autograd.grad(loss, z)
    assert torch.all(grad[[1, 5]] == 0)


@pytest.mark.parametrize(
    "labels", [[0, 1, 2, 3], [-1, -1, -1, -1], [0, -1, 0 + 1, -1], [5, -1, -1, -1]]
)
def test_supcon_l2_without_positives_gives_zero_with_zero_grad(labels: list[int]) -> None:
    z = torch.randn(4, 2, requires_grad=True)
    loss = SupConL2Loss()(z, torch.tensor(labels))
    assert loss.item() == 0.0 and loss.grad_fn is not None
    (grad,) = torch.autograd.grad(loss, z)
    assert torch.all(grad == 0)


def test_supcon_l2_anchor_without_positive_contributes_nothing() -> None:
    z = torch.randn(5, 2, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 0, 1, 1, 2])  # sample 4 is a negative for others but never an anchor
    loss = SupConL2Loss(0.1)(z, y)
    assert torch.isfinite(loss)
    torch.testing.assert_close(loss, supcon_literal(z, y, 0.1))
    assert torch.isfinite(torch.autograd.grad(loss, z)[0]).all()


@pytest.mark.parametrize(
    ("loss", "labels"),
    [
        (RankNContrastLoss(), torch.randint(0, 5, (20,)).double()),
        (RankNContrastLoss(label_distance="circular"), torch.rand(20, dtype=torch.float64) * 7),
        (SupConL2Loss(0.3), torch.randint(-1, 4, (20,))),
    ],
)
def test_translation_and_permutation_invariance(loss: torch.nn.Module, labels: Tensor) -> None:
    z = torch.randn(20, 3, dtype=torch.float64)
    reference = loss(z, labels)
    torch.testing.assert_close(
        loss(z + torch.tensor([5.0, -3.0, 0.25]).double(), labels), reference
    )
    perm = torch.randperm(20)
    torch.testing.assert_close(loss(z[perm], labels[perm]), reference)


def test_rank_n_contrast_prefers_monotone_embeddings() -> None:
    generator = torch.Generator().manual_seed(0)
    y = torch.rand(64, generator=generator)
    monotone = (3 * y + y**3)[:, None]
    shuffled = monotone[torch.randperm(64, generator=generator)]
    loss = RankNContrastLoss()
    assert loss(monotone, y) < loss(shuffled, y) - 0.01


def test_supcon_l2_prefers_clustered_classes() -> None:
    generator = torch.Generator().manual_seed(0)
    y = torch.randint(0, 4, (64,), generator=generator)
    noise = 0.1 * torch.randn(64, 2, generator=generator)
    clustered = 3 * torch.nn.functional.one_hot(y, 4)[:, :2].float() + 2 * y[:, None] + noise
    random = torch.randn(64, 2, generator=generator) * clustered.std()
    loss = SupConL2Loss(0.3)
    assert loss(clustered, y) < loss(random, y) - 0.1


def test_float32_and_repr() -> None:
    z = torch.randn(10, 1)
    assert RankNContrastLoss()(z, torch.rand(10)).dtype == torch.float32
    assert SupConL2Loss()(z, torch.randint(0, 2, (10,))).dtype == torch.float32
    assert "temperature=2.0" in repr(RankNContrastLoss())
    assert "temperature=0.1" in repr(SupConL2Loss())


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: RankNContrastLoss(temperature=0.0), "temperature must be"),
        (lambda: SupConL2Loss(temperature=-1.0), "temperature must be"),
        (lambda: SupConL2Loss(temperature=math.inf), "temperature must be"),
        (lambda: RankNContrastLoss(label_distance="cosine"), "label_distance must be"),
        (lambda: RankNContrastLoss(label_distance="circular", period=0), "period must be"),
    ],
)
def test_constructor_validation(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    ("z", "labels", "message"),
    [
        (torch.randn(4), torch.rand(4), r"shape \(n, d\)"),
        (torch.randint(0, 3, (4, 1)), torch.rand(4), "floating-point"),
        (torch.tensor([[0.0], [math.nan], [1.0], [2.0]]), torch.rand(4), "NaN or infinite"),
        (torch.randn(4, 1), torch.rand(5), "labels have 5 samples but z has 4"),
        (torch.randn(4, 1), torch.rand(4, 2, 1), r"shape \(n,\) or \(n, k\)"),
        (torch.randn(4, 1), torch.arange(4), "floating point"),
        (torch.randn(4, 1), torch.tensor([0.0, math.inf, 1.0, 2.0]), "infinite"),
        (torch.randn(4, 1), [0.0, 1.0, 2.0, 3.0], "must be a tensor"),
    ],
)
def test_rank_n_contrast_input_validation(z: Tensor, labels: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RankNContrastLoss()(z, labels)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (torch.tensor([0.0, 1.0, 0.0, 1.0]), "integer class indices"),
        (torch.tensor([True, False, True, False]), "integer class indices"),
        (torch.tensor([[0], [1], [0], [1]]), r"shape \(n,\)"),
        (torch.tensor([0, -2, 0, 1]), "or -1 for a missing label"),
        (torch.tensor([0, 1, 0]), "labels have 3 samples but z has 4"),
    ],
)
def test_supcon_l2_input_validation(labels: Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SupConL2Loss()(torch.randn(4, 2), labels)


def test_supcon_l2_base_temperature_scales_by_tau_over_base() -> None:
    z = torch.randn(12, 2, generator=torch.Generator().manual_seed(5))
    y = torch.tensor([0, 1, 2] * 4)
    plain = SupConL2Loss(0.2)(z, y)
    torch.testing.assert_close(SupConL2Loss(0.2, base_temperature=0.07)(z, y), plain * 0.2 / 0.07)
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        SupConL2Loss(0.2, base_temperature=0.0)
