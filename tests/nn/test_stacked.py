"""``StackedMLP`` is n separate MLPs, and ``RowGroups`` moves multi-source rows into per-source
blocks and back."""

import pytest
import torch
from torch import Tensor

from orthomtl.nn import ACTIVATIONS, RowGroups, StackedMLP, apply_stacked


def _one_network(mlp: StackedMLP, i: int, x: Tensor) -> Tensor:
    """Network ``i`` of ``mlp`` on rows ``x`` (rows, in), as explicit matrix products."""
    for layer, (weight, bias) in enumerate(mlp.layers()):
        x = x @ weight[i] + bias[i]
        if layer < len(mlp.weights) - 1:
            x = mlp.activation(x)
    return x


@pytest.mark.parametrize(("hidden", "activation"), [((), "relu"), ((7,), "tanh"), ((6, 5), "gelu")])
def test_stacked_mlp_is_n_separate_mlps(hidden: tuple[int, ...], activation: str) -> None:
    torch.manual_seed(0)
    mlp = StackedMLP(4, 3, hidden, 2, activation).double()
    assert isinstance(mlp.activation, ACTIVATIONS[activation])
    assert [tuple(w.shape) for w in mlp.weights] == [
        (4, a, b) for a, b in zip((3, *hidden), (*hidden, 2), strict=True)
    ]
    x = torch.randn(4, 9, 3, dtype=torch.float64)
    out = mlp(x)
    assert out.shape == (4, 9, 2)
    for i in range(4):
        torch.testing.assert_close(out[i], _one_network(mlp, i, x[i]), rtol=0, atol=1e-12)
    # a copy of the weights (a snapshot) applies the same networks
    copies = [(w.detach().clone(), b.detach().clone()) for w, b in mlp.layers()]
    torch.testing.assert_close(apply_stacked(copies, x, mlp.activation), out.detach())


def test_stacked_mlp_initialises_like_linear_and_refuses_bad_widths() -> None:
    torch.manual_seed(0)
    mlp = StackedMLP(3, 16, (4,), 2)
    assert mlp.weights[0].abs().max() <= 1 / 16**0.5
    assert mlp.weights[1].abs().max() <= 1 / 4**0.5
    assert not torch.equal(mlp.weights[0][0], mlp.weights[0][1])  # independent draws
    with pytest.raises(ValueError, match=r"n >= 1 and widths >= 1; got n=0"):
        StackedMLP(0, 3, (), 2)
    with pytest.raises(ValueError, match=r"widths=\[3, 0, 2\]"):
        StackedMLP(2, 3, (0,), 2)
    with pytest.raises(ValueError, match="Unknown activation 'swish'"):
        StackedMLP(2, 3, (), 2, "swish")


def test_gradient_reaches_only_the_rows_own_network() -> None:
    torch.manual_seed(0)
    mlp = StackedMLP(3, 4, (5,), 2)
    x = torch.randn(3, 6, 4)
    mlp(x)[1, 2].sum().backward()  # one row of network 1
    for parameter in (*mlp.weights, *mlp.biases):
        assert parameter.grad is not None
        norms = parameter.grad.flatten(1).norm(dim=1)
        assert norms[1] > 0 and norms[0] == 0 and norms[2] == 0


SOURCE = torch.tensor([2, 0, 2, 1, 0, 2, 2, 0])


def test_row_groups_slots_sizes_and_order() -> None:
    groups = RowGroups.of(SOURCE, 4)
    assert groups.size == 4 and groups.num_sources == 4  # source 2 has 4 rows; source 3 none
    # a row's slot is its rank among its source's rows, in batch order
    assert groups.slot.tolist() == [0, 0, 1, 0, 1, 2, 3, 2]
    assert torch.equal(groups.source, SOURCE)
    empty = RowGroups.of(torch.zeros(0, dtype=torch.long), 2)
    assert empty.size == 0 and empty.pack(torch.zeros(0, 3)).shape == (2, 0, 3)


def test_row_groups_pack_unpack_round_trip_with_leading_dims() -> None:
    groups = RowGroups.of(SOURCE, 4)
    rows = torch.randn(2, 5, len(SOURCE), 3)  # leading dims: (2, 5) independent models
    block = groups.pack(rows)
    assert block.shape == (2, 5, 4, 4, 3)
    torch.testing.assert_close(groups.unpack(block), rows, rtol=0, atol=0)
    for r in range(4):
        own = rows[..., SOURCE.eq(r), :]
        n = own.shape[-2]
        torch.testing.assert_close(block[..., r, :n, :], own, rtol=0, atol=0)
        assert (block[..., r, n:, :] == 0).all()  # padding
    # the gradient of a packed-then-unpacked block flows back to each row once
    leaf = rows.clone().requires_grad_()
    groups.unpack(groups.pack(leaf)).sum().backward()
    assert leaf.grad is not None and torch.equal(leaf.grad, torch.ones_like(rows))


def test_packed_rows_meet_their_sources_network() -> None:
    """The pattern of the dual encoder's task encoders: source r's rows through network r."""
    torch.manual_seed(1)
    mlp = StackedMLP(3, 4, (6,), 2)
    source = torch.tensor([1, 0, 2, 2, 1, 0, 0])
    x = torch.randn(len(source), 4)
    groups = RowGroups.of(source, 3)
    out = groups.unpack(mlp(groups.pack(x)))
    for i, r in enumerate(source.tolist()):
        torch.testing.assert_close(out[i], _one_network(mlp, r, x[i : i + 1])[0])
