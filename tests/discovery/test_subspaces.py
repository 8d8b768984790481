"""Choosing the auxiliary subspace: dead subspaces, the distance rule (the paper's L_dist under
the principal-task oracle) and the orthogonality rule (the authors' code)."""

import numpy as np
import pytest

from orthomtl.discovery import rank_subspaces
from orthomtl.discovery._subspaces import same_principal_pairs
from tests.discovery import rule_codes


@pytest.mark.parametrize(("rule", "best"), [("distance", 2), ("orthogonality", 4)])
def test_each_rule_picks_its_subspace(rule: str, best: int) -> None:
    codes, principal, _ = rule_codes()
    order, scores, dead = rank_subspaces(codes, principal, rule=rule)
    assert order[0] == best
    assert sorted(order.tolist()) == [2, 3, 4]
    assert dead.tolist() == [1]
    assert np.isnan(scores[[0, 1]]).all() and np.isfinite(scores[[2, 3, 4]]).all()
    assert (np.diff(scores[order]) >= 0).all()


@pytest.mark.parametrize("rule", ["distance", "orthogonality"])
def test_a_collapsed_subspace_would_win_unless_excluded(rule: str) -> None:
    codes, principal, _ = rule_codes()
    order, scores, dead = rank_subspaces(codes, principal, rule=rule, dead_threshold=0.0)
    assert order[0] == 1 and dead.size == 0 and np.isfinite(scores[1])
    order, _, dead = rank_subspaces(codes, principal, rule=rule, dead_threshold=0.01)
    assert 1 in dead and 1 not in order


def test_distance_score_is_the_formula_on_a_hand_example() -> None:
    # K = 3, d = 1, α = 0. Mean lengths over the 4 points: ℓ1 = 1.1/4, ℓ2 = 4.5/4.
    # Pair (0, 1): δ = (1, 0.2), normalised (3.64, 0.18): the oracle picks 1.
    # Pair (2, 3): δ = (0.1, 0.3), normalised (0.36, 0.27): it picks 1 again, though δ2 > δ1.
    # L1 = ((0.25 - 1)_+² + (0.25 - 0.1)²) / 2 = 0.01125; L2 = (0.2² + 0.3²) / 2 = 0.065.
    points = [[1.0, 0.0, 0.0], [2.0, 1.0, 0.2], [3.0, 0.0, 2.0], [4.0, 0.1, 2.3]]
    codes = np.array(points)[..., None]
    order, scores, _ = rank_subspaces(codes, [0, 0, 1, 1], pairs=[[0, 1], [2, 3]])
    assert scores == pytest.approx([np.nan, 0.01125, 0.065], nan_ok=True)
    assert order.tolist() == [1, 2]
    _, wider, _ = rank_subspaces(codes, [0, 0, 1, 1], pairs=[[0, 1], [2, 3]], margin=1.5)
    assert wider[1] == pytest.approx((0.5**2 + 1.4**2) / 2)


def test_orthogonality_score_is_the_mean_absolute_cosine() -> None:
    # α codes (1, 0), (0, 2), (1, 0); subspace 1 codes (1, 1), (-3, 0), (-1, 0): |cos| 1/√2, 0,
    # 1; subspace 2 codes (0, -1), zero (cos 0 by definition), (1, 0): |cos| 0, 0, 1.
    codes = np.array(
        [
            [[1.0, 0.0], [1.0, 1.0], [0.0, -1.0]],
            [[0.0, 2.0], [-3.0, 0.0], [0.0, 0.0]],
            [[1.0, 0.0], [-1.0, 0.0], [1.0, 0.0]],
        ]
    )
    _, scores, _ = rank_subspaces(codes, [0, 0, 0], rule="orthogonality")
    assert scores == pytest.approx([np.nan, (1 / np.sqrt(2) + 0 + 1) / 3, 1 / 3], nan_ok=True)


def test_drawn_pairs_share_the_principal_label() -> None:
    principal = np.array([0, 1, 0, 2, 1, 0, 3])
    pairs = same_principal_pairs(principal, 100, np.random.RandomState(0))
    assert sorted(map(tuple, np.sort(pairs, axis=1).tolist())) == [(0, 2), (0, 5), (1, 4), (2, 5)]
    many = np.repeat(np.arange(4), 50)
    drawn = same_principal_pairs(many, 300, np.random.RandomState(1))
    assert drawn.shape == (300, 2)
    assert (many[drawn[:, 0]] == many[drawn[:, 1]]).all() and (drawn[:, 0] != drawn[:, 1]).all()
    assert len(np.unique(many[drawn[:, 0]])) == 4
    assert (drawn == same_principal_pairs(many, 300, np.random.RandomState(1))).all()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"codes": np.zeros((4, 3))}, "codes must be an"),
        ({"codes": np.zeros((4, 1, 2))}, "at least 2 point"),
        ({"nan": True}, "NaN or infinite values at 1 point"),
        ({"principal_labels": [0, 1]}, "one label per point"),
        ({"principal_labels": [0.0, 1.0, 0.0, 1.0]}, "must be integers"),
        ({"principal_labels": [0, 1, 2, 3]}, "no two points share a principal label"),
        ({"principal_subspace": 3}, "out of range"),
        ({"rule": "cosine"}, "rule must be one of"),
        ({"margin": "wide"}, "margin must be a finite number"),
        ({"dead_threshold": 1.5}, "dead_threshold must be in"),
        ({"pairs": [[0, 1]]}, "do not join two distinct points with the same principal"),
        ({"pairs": [[0, 9]]}, "must index points 0..3"),
        ({"dead": True}, "every subspace but the principal one"),
    ],
)
def test_malformed_inputs_are_named(change: dict, message: str) -> None:
    rng = np.random.default_rng(0)
    codes = change.pop("codes", rng.normal(size=(4, 3, 2)))
    if change.pop("nan", False):
        codes[1, 2, 0] = np.nan
    if change.pop("dead", False):
        codes[:, 1:] = 0.0
    arguments = {"principal_labels": [0, 1, 0, 1], **change}
    with pytest.raises(ValueError, match=message):
        rank_subspaces(codes, **arguments)
