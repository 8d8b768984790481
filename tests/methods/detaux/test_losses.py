"""Detaux's losses, oracle and schedule on hand-made inputs with known values."""

import math

import pytest
import torch

from orthomtl.methods.detaux import (
    PrincipalOracle,
    balance_loss,
    code_lengths,
    consistency_loss,
    distance_loss,
    reconstruction_loss,
    sparsity_loss,
    subspace_distances,
    swap_codes,
    warmup,
)
from orthomtl.methods.detaux._objective import swap_draws


def test_reconstruction_loss_is_the_mean_squared_error() -> None:
    x = torch.zeros(2, 1, 2, 2)
    reconstruction = torch.tensor([1.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]).reshape(2, 1, 2, 2)
    assert reconstruction_loss(x, reconstruction).item() == pytest.approx((1 + 4 + 1) / 8)


def test_sparsity_loss_sums_each_subspace_against_the_others() -> None:
    # one image, K = 3, d = 2: s_1 = (1, 0), s_2 = (2, 3), s_3 = (0, -1)
    codes = torch.tensor([[[1.0, 0.0], [2.0, 3.0], [0.0, -1.0]]])
    # i=1: |(1,0) * (2,2)| = 2; i=2: |(2,3) * (1,-1)| = 2 + 3; i=3: |(0,-1) * (3,3)| = 3
    assert sparsity_loss(codes).item() == pytest.approx(10.0)
    disjoint = torch.tensor([[[1.0, 0.0], [0.0, 5.0], [0.0, 0.0]]])
    assert sparsity_loss(disjoint).item() == 0.0
    batch = torch.cat([codes, disjoint])
    assert sparsity_loss(batch).item() == pytest.approx(5.0)  # averaged over the batch


def test_distances_and_code_lengths() -> None:
    first = torch.tensor([[[0.0, 0.0], [3.0, 4.0]]])
    second = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    assert subspace_distances(first, second).tolist() == [[1.0, 5.0]]
    assert code_lengths(torch.cat([first, second])).tolist() == [0.5, 2.5]


def test_distance_loss_pulls_unchosen_subspaces_and_pushes_the_chosen_one() -> None:
    distances = torch.tensor([[0.1, 0.5, 0.2]])
    choice = torch.tensor([[0.0, 0.0, 1.0]])
    # pull 0.1² + 0.5², push max(0.25 - 0.2, 0)²
    expected = 0.01 + 0.25 + 0.05**2
    assert distance_loss(distances, choice, margin=0.25).item() == pytest.approx(expected)
    far = torch.tensor([[0.1, 0.5, 0.9]])
    assert distance_loss(far, choice, margin=0.25).item() == pytest.approx(0.26)
    # the authors' hinge: 10 · max(m − δ², 0)²
    authors = distance_loss(distances, choice, margin=0.25, hinge="authors").item()
    assert authors == pytest.approx(0.26 + 10 * (0.25 - 0.04) ** 2)


def test_swap_codes_takes_one_subspace_from_the_first_image() -> None:
    first = torch.arange(12.0).reshape(2, 3, 2)  # pairs b=0,1; K = 3; d = 2
    second = -torch.arange(12.0).reshape(2, 3, 2) - 100
    latent, target = swap_codes(first, second, torch.tensor([1, 0]), torch.tensor([2, 0]))
    assert torch.equal(target[0], torch.stack([second[1, 0], second[1, 1], first[1, 2]]))
    assert torch.equal(target[1], torch.stack([first[0, 0], second[0, 1], second[0, 2]]))
    assert torch.equal(latent, target.sum(dim=1))


def test_consistency_loss_is_zero_when_codes_come_back() -> None:
    target = torch.randn(4, 3, 2)
    assert consistency_loss(target.clone(), target).item() == 0.0
    assert consistency_loss(target + 0.5, target).item() == pytest.approx(0.25)


def test_balance_loss_is_zero_for_uniform_choices_and_known_otherwise() -> None:
    assert balance_loss(torch.full((5, 4), 0.25)).item() == pytest.approx(0.0)
    one_hot = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # always subspace 0 of K = 2
    assert balance_loss(one_hot).item() == pytest.approx(0.5**2 + 0.5**2)


@pytest.mark.parametrize("alpha", [0, 2])
def test_oracle_picks_the_principal_subspace_exactly_when_labels_differ(alpha: int) -> None:
    torch.manual_seed(0)
    oracle = PrincipalOracle(4, principal_subspace=alpha)
    distances = torch.rand(64, 4)
    distances[:, alpha] += 10  # the principal subspace is the farthest for every pair
    differs = torch.rand(64) < 0.5
    choice = oracle(distances, torch.ones(4), differs)
    assert torch.equal(choice.argmax(dim=1) == alpha, differs)
    assert torch.allclose(choice.sum(dim=1), torch.ones(64))
    # same-label pairs: the farthest other subspace, by distance over code length
    others = distances.clone()
    others[:, alpha] = -1
    assert torch.equal(choice[~differs].argmax(dim=1), others[~differs].argmax(dim=1))


def test_oracle_normalises_distances_by_code_length() -> None:
    oracle = PrincipalOracle(3, principal_subspace=0)
    distances = torch.tensor([[0.0, 1.0, 1.5]])
    assert oracle(distances, torch.ones(3), torch.tensor([False])).argmax().item() == 2
    lengths = torch.tensor([1.0, 1.0, 3.0])  # 1.5 / 3 < 1 / 1
    assert oracle(distances, lengths, torch.tensor([False])).argmax().item() == 1


def test_warmup_follows_the_paper_schedule() -> None:
    epochs = 40
    for epoch in range(10):  # the first quarter: reconstruction only
        betas = warmup(epoch, epochs)
        assert (betas.dist, betas.cons, betas.reg) == (0.0, 0.0, 0.0)
    betas = warmup(10, epochs)
    assert betas.dist == pytest.approx(math.exp(25 / 40 * (10 - 16)))
    assert betas.reg == betas.dist
    assert betas.cons == pytest.approx(math.exp(25 / 40 * (10 - 20)))
    assert not betas.consistency_on  # β2 ≈ 0.002 < 0.01
    assert warmup(13, epochs).consistency_on  # exp(-4.375) ≈ 0.013
    assert warmup(16, epochs).dist == 1.0 and warmup(20, epochs).cons == 1.0
    authors = warmup(10, epochs, beta3="authors")
    assert authors.reg == pytest.approx(1 - betas.dist)
    assert warmup(0, epochs, beta3="authors").reg == 1.0


def test_swap_draws_give_two_distinct_subspaces_per_pair_from_the_anchor() -> None:
    anchors = torch.arange(100, 164).numpy()
    pair, subspace = swap_draws(anchors, 10, seed=3, epoch=1, fixed=False)
    assert pair.tolist() == list(range(64)) * 2
    assert bool((subspace[:64] != subspace[64:]).all())
    assert subspace.min() >= 0 and subspace.max() < 10
    assert len(set(subspace.tolist())) == 10
    # a pure function of the anchor: the same anchor in another batch gets the same swaps
    again = swap_draws(anchors[::-1].copy(), 10, seed=3, epoch=1, fixed=False)[1]
    assert again[:64].flip(0).tolist() == subspace[:64].tolist()
    other_epoch = swap_draws(anchors, 10, seed=3, epoch=2, fixed=False)[1]
    assert not torch.equal(other_epoch, subspace)
