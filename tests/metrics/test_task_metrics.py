"""Tasks, masked losses, metrics and Δm."""

import math

import pytest
import torch

from orthomtl.losses import task_loss
from orthomtl.metrics import TaskMetrics
from orthomtl.metrics.functional import accuracy, circular_mae, delta_m, mae, mean_std
from orthomtl.tasks import Task


def test_task_validation() -> None:
    with pytest.raises(ValueError, match="num_classes >= 2"):
        Task("digit", "classification")
    with pytest.raises(ValueError, match="only for classification"):
        Task("angle", "angle", num_classes=3)
    with pytest.raises(ValueError, match="unknown kind 'ordinal'"):
        Task("x", "ordinal")  # type: ignore[arg-type]
    assert Task("a", "angle").output_dim == 2
    assert Task("r", "regression").output_dim == 1


def test_missing_labels_are_masked_in_losses_and_metrics() -> None:
    task = Task("c", "classification", num_classes=3)
    logits = torch.tensor([[5.0, 0, 0], [0, 5.0, 0], [0, 0, 5.0]], requires_grad=True)
    target = torch.tensor([0, -1, 1])
    loss = task_loss(task, logits, target)
    full = torch.nn.functional.cross_entropy(logits[[0, 2]], target[[0, 2]])
    assert torch.allclose(loss, full)
    loss.backward()
    assert torch.all(logits.grad[1] == 0)
    assert accuracy(task.predict(logits), target) == 0.5


def test_all_missing_gives_zero_loss_with_a_gradient() -> None:
    task = Task("r", "regression")
    out = torch.randn(4, 1, requires_grad=True)
    loss = task_loss(task, out, torch.full((4,), math.nan))
    assert loss.item() == 0.0
    loss.backward()
    assert out.grad is not None and torch.all(out.grad == 0)


def test_angle_loss_is_minimised_at_the_label_and_metric_is_circular() -> None:
    task = Task("a", "angle")
    target = torch.tensor([3.1, -3.1])
    exact = torch.stack([torch.cos(target), torch.sin(target)], dim=1)
    assert task_loss(task, exact, target).item() == pytest.approx(0.0, abs=1e-7)
    assert torch.allclose(task.predict(exact), target, atol=1e-6)
    # 3.1 and -3.1 are 0.083 rad apart the short way round, not 6.2
    assert circular_mae(torch.tensor([3.1]), torch.tensor([-3.1])) == pytest.approx(
        2 * math.pi - 6.2, abs=1e-5
    )
    assert mae(torch.tensor([1.0, 2.0]), torch.tensor([1.5, math.nan])) == pytest.approx(0.5)


def test_streaming_metrics_equal_one_shot_metrics_and_reduce_sums() -> None:
    tasks = [
        Task("c", "classification", num_classes=4),
        Task("a", "angle"),
        Task("r", "regression"),
    ]
    torch.manual_seed(0)
    outputs = {"c": torch.randn(20, 4), "a": torch.randn(20, 2), "r": torch.randn(20, 1)}
    targets = {"c": torch.randint(-1, 4, (20,)), "a": torch.rand(20) * 6 - 3, "r": torch.randn(20)}
    targets["r"][::4] = math.nan
    streamed = TaskMetrics(tasks)
    for part in (slice(0, 7), slice(7, 20)):
        streamed.update(
            {k: v[part] for k, v in outputs.items()}, {k: v[part] for k, v in targets.items()}
        )
    streamed.reduce(lambda t: t)
    result = streamed.compute()
    assert result["c/accuracy"] == pytest.approx(accuracy(outputs["c"].argmax(1), targets["c"]))
    assert result["a/mae"] == pytest.approx(
        circular_mae(tasks[1].predict(outputs["a"]), targets["a"]), rel=1e-5
    )
    assert result["r/mae"] == pytest.approx(mae(outputs["r"].reshape(-1), targets["r"]), rel=1e-5)
    doubled = TaskMetrics(tasks)
    doubled.state = streamed.state.clone()
    doubled.reduce(lambda t: 2 * t)  # two identical ranks: same means
    assert doubled.compute()["c/accuracy"] == pytest.approx(result["c/accuracy"])


def test_delta_m_sign_convention() -> None:
    higher = {"acc": True, "mae": False}
    assert delta_m({"acc": 0.9, "mae": 1.0}, {"acc": 0.9, "mae": 1.0}, higher) == 0.0
    assert delta_m({"acc": 0.99, "mae": 0.9}, {"acc": 0.9, "mae": 1.0}, higher) == pytest.approx(
        10.0
    )
    with pytest.raises(ValueError, match="no single-task result"):
        delta_m({"x": 1.0}, {}, {"x": True})
    assert mean_std([1.0, 3.0]) == (2.0, pytest.approx(math.sqrt(2)))
    assert mean_std([1.0]) == (1.0, 0.0)
