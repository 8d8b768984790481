"""``GradientConflictCallback``: the per-task gradients it measures, what it logs and keeps, and
that training is the same with it as without it."""

import csv
import json
from pathlib import Path

import pytest
import torch
from torch import nn

import orthomtl
from orthomtl.diagnostics import GradientConflictCallback, read_diagnostics
from orthomtl.diagnostics._gradient_conflict import preserved_state, task_gradients
from orthomtl.metrics.functional import gradient_conflict
from tests.conftest import tiny_config
from tests.methods.dual_encoder import helpers as dual_encoder

pytestmark = pytest.mark.usefixtures("one_thread")


def _rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "metrics.csv").open() as file:
        return list(csv.DictReader(file))


def test_task_gradients_are_each_loss_gradient_flattened() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(3, 2)
    x = torch.randn(5, 3)
    out = layer(x)
    losses = {"a": out[:, 0].pow(2).mean(), "b": out[:, 1].sum()}
    grads = task_gradients(losses, [layer.weight, layer.bias])
    for row, loss in zip(grads, losses.values(), strict=True):
        layer.zero_grad()
        loss.backward(retain_graph=True)
        expected = torch.cat([layer.weight.grad.flatten(), layer.bias.grad.flatten()])
        torch.testing.assert_close(row, expected)
    untouched = nn.Parameter(torch.ones(4))
    assert torch.equal(task_gradients(losses, [untouched])[:, :4], torch.zeros(2, 4))


def test_a_zero_gradient_has_no_cosine_and_does_not_count() -> None:
    grads = torch.tensor([[1.0, 0.0], [-1.0, 0.1], [0.0, 0.0]], dtype=torch.float64)
    conflict = gradient_conflict(grads)
    assert conflict.cosine[2].isnan().all() and conflict.cosine[:, 2].isnan().all()
    assert conflict.negative_share == 1.0  # the one pair with a cosine conflicts
    assert torch.tensor(gradient_conflict(torch.zeros(2, 3)).negative_share).isnan()


def test_preserved_state_restores_buffers_and_the_random_state() -> None:
    network = nn.BatchNorm1d(3)
    before = {k: v.clone() for k, v in network.named_buffers()}
    state = torch.random.get_rng_state()
    with preserved_state(network, torch.device("cpu")):
        network(torch.randn(8, 3))
    assert torch.equal(torch.random.get_rng_state(), state)
    for name, value in network.named_buffers():
        assert torch.equal(value, before[name]), name


def _run(runs: Path, every: int, **changes: object) -> Path:
    config = tiny_config(
        trainer={"max_epochs": 2, "log_every_n_steps": 1},
        diagnostics={"gradient_conflict_every_n_steps": every, "neural_collapse_every_n_epochs": 0},
        runs_dir=str(runs),
        **changes,
    )
    return orthomtl.run(config).run_dirs[0]


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run(tmp_path_factory.mktemp("measured"), every=4)


def test_it_logs_cosines_norms_and_the_negative_share_every_n_steps(measured: Path) -> None:
    logged = [r for r in _rows(measured) if r.get("grad/negative_share")]
    steps = [int(r["step"]) for r in logged]
    total = json.loads((measured / "results.json").read_text())["steps"]
    assert total > 8 and steps == list(range(1, total + 1, 4))
    records = read_diagnostics(measured)["gradient_conflict"]
    assert [r["step"] for r in records] == steps
    for row, record in zip(logged, records, strict=True):
        cosine = torch.tensor(record["cosine"])
        assert record["tasks"] == ["digit", "angle"]
        assert float(row["grad/cos/digit~angle"]) == pytest.approx(float(cosine[0, 1]))
        assert record["negative_share"] == float(cosine[0, 1] < 0)
        assert float(row["grad/norm/angle"]) == pytest.approx(record["norms"][1])
        assert min(record["norms"]) > 0
        torch.testing.assert_close(cosine.diagonal(), torch.ones(2))


def test_training_is_the_same_with_and_without_it(measured: Path, tmp_path: Path) -> None:
    without = _run(tmp_path, every=0)
    assert not (without / "diagnostics.json").exists()

    def losses(run_dir: Path) -> list[str]:
        return [r["train/total"] for r in _rows(run_dir) if r.get("train/total")]

    assert losses(measured) == losses(without)
    results = [json.loads((d / "results.json").read_text()) for d in (measured, without)]
    assert results[0]["metrics"] == results[1]["metrics"]


def test_an_aggregator_run_and_domain_expansion_are_measured(tmp_path: Path) -> None:
    upgrad = _run(tmp_path / "upgrad", every=10, method={"name": "hps", "aggregator": "upgrad"})
    assert read_diagnostics(upgrad)["gradient_conflict"]
    expansion = _run(
        tmp_path / "de",
        every=10,
        method={"name": "domain-expansion", "readout_epochs": 1},
        model={"latent_dim": 8},
    )
    records = read_diagnostics(expansion)["gradient_conflict"]
    assert records and records[0]["tasks"] == ["digit", "angle"]
    assert not (expansion / "readouts" / "diagnostics.json").exists()  # a frozen encoder


def test_records_after_the_resumed_step_are_dropped(tmp_path: Path) -> None:
    callback = GradientConflictCallback(1)
    callback.log.start(tmp_path, step=0, writer=True)
    for step in (1, 2, 3):
        callback.log.append({"step": step})
    callback.log.start(tmp_path, step=2, writer=True)
    callback.log.append({"step": 3, "again": True})
    assert read_diagnostics(tmp_path)["gradient_conflict"] == [
        {"step": 1},
        {"step": 2},
        {"step": 3, "again": True},
    ]
    with pytest.raises(ValueError, match="every_n_steps"):
        GradientConflictCallback(0)


def test_the_dual_encoder_is_measured_on_its_shared_encoder(tmp_path: Path) -> None:
    diagnostics = {"gradient_conflict_every_n_steps": 1, "neural_collapse_every_n_epochs": 0}
    run_dir = dual_encoder.train(
        tmp_path, {"name": "dual-encoder"}, trainer={"max_epochs": 2}, diagnostics=diagnostics
    )
    records = read_diagnostics(run_dir)["gradient_conflict"]
    assert len(records) == json.loads((run_dir / "results.json").read_text())["steps"]
    assert records[0]["tasks"] == ["task1", "task2", "task3"]
    assert all(n > 0 for r in records for n in r["norms"])
    ridge = dual_encoder.train(
        tmp_path / "ridge", {"name": "single-task-ridge"}, diagnostics=diagnostics
    )
    assert not (ridge / "diagnostics.json").exists()  # nothing shared, nothing measured
