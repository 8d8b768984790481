"""A method with nothing for an optimiser (``armul``: proximal fits only) trains without one, its
checkpoints resume, and ``load`` serves it."""

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import torch

import orthomtl
from orthomtl.data import Batch, load_hetero_sim
from orthomtl.engine import Callback, Engine

pytestmark = pytest.mark.usefixtures("one_thread")

DATA = {"num_tasks": 3, "features": 5, "n": 40, "test_size": 50}
STEPS_PER_EPOCH = 6  # 96 training rows, 16 per batch
INTERRUPT_AT = STEPS_PER_EPOCH + 3  # epoch 2, batch 3: just after the checkpoint of step 8


def armul_config(runs: Path) -> dict[str, Any]:
    return {
        "data": {"name": "hetero-sim", "batch_size": 16, **DATA},
        "method": {"name": "armul", "c": [0.0, 0.3]},
        "trainer": {
            "max_epochs": 2,
            "progress_bar": False,
            "log_every_n_steps": 1,
            "checkpoint_every_n_steps": 4,
        },
        "seeds": [0],
        "runs_dir": str(runs),
    }


class Interrupted(Exception):
    pass


class Inspect(Callback):
    """Records what the engine trains with; raises ``Interrupted`` after step ``stop_at``."""

    def __init__(self, stop_at: int | None = None) -> None:
        self.stop_at, self.seen = stop_at, []

    def on_train_batch_end(
        self, engine: Engine, batch: Batch, losses: dict[str, torch.Tensor]
    ) -> None:
        parameters = list(engine.method.parameter_groups())
        self.seen.append((engine.optimizer, engine.scheduler, len(parameters)))
        if engine.progress.step == self.stop_at:
            raise Interrupted


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("optimiser-free")
    straight = Inspect()
    out: dict[str, Any] = {"inspected": straight}
    out["straight"] = orthomtl.run(armul_config(root / "straight"), callbacks=[straight]).run_dirs[
        0
    ]
    with pytest.raises(Interrupted):
        orthomtl.run(armul_config(root / "interrupted"), callbacks=[Inspect(INTERRUPT_AT)])
    (run_dir,) = (root / "interrupted").iterdir()
    out["saved"] = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    orthomtl.resume(run_dir)
    out["resumed"] = run_dir
    return out


def test_no_optimiser_no_schedule_no_learning_rate(runs: dict[str, Any]) -> None:
    seen = runs["inspected"].seen
    assert len(seen) == 2 * STEPS_PER_EPOCH  # every batch still goes through training_step
    assert all(step == (None, None, 0) for step in seen)
    with (runs["straight"] / "metrics.csv").open() as file:
        logged = list(csv.DictReader(file))
    assert not any(r.get("lr") for r in logged)
    assert sum(1 for r in logged if r.get("train/total")) == 2 * STEPS_PER_EPOCH
    state = torch.load(runs["straight"] / "checkpoints" / "last.ckpt", weights_only=True)
    assert state["optimizer"] == {} and state["scheduler"] == {}
    assert state["progress"]["step"] == 2 * STEPS_PER_EPOCH


def test_the_checkpoint_resumes_to_the_uninterrupted_end(runs: dict[str, Any]) -> None:
    saved = runs["saved"]["progress"]
    assert saved["step"] == 8 and saved["epoch"] == 1 and saved["batch"] == 2  # mid-epoch
    straight = torch.load(runs["straight"] / "checkpoints" / "last.ckpt", weights_only=True)
    resumed = torch.load(runs["resumed"] / "checkpoints" / "last.ckpt", weights_only=True)
    assert resumed["progress"]["step"] == 2 * STEPS_PER_EPOCH
    for key, value in straight["model"].items():  # bit for bit (gain is NaN: no single-task fits)
        torch.testing.assert_close(value, resumed["model"][key], rtol=0, atol=0, equal_nan=True)
    theta = straight["model"]["net.theta"]
    assert theta.abs().sum() > 0  # the proximal fit ran
    results = [json.loads((runs[k] / "results.json").read_text()) for k in ("straight", "resumed")]
    assert results[0]["metrics"] == results[1]["metrics"]


def test_load_serves_the_fitted_linear_models(runs: dict[str, Any]) -> None:
    test = load_hetero_sim(seed=0, **DATA).test
    x = test.x
    predictions = [orthomtl.load(runs[k]).predict(x) for k in ("straight", "resumed")]
    for name, values in predictions[0].items():
        assert values.shape == (len(x),) and torch.isfinite(values).all()
        assert torch.equal(values, predictions[1][name])
    metrics = json.loads((runs["straight"] / "results.json").read_text())["metrics"]["test"]
    source = torch.as_tensor(test.sources)
    for r, (name, values) in enumerate(predictions[0].items()):
        own = source == r
        mse = (values[own] - test.targets[name][own]).double().pow(2).mean()
        assert metrics[f"{name}/mse"] == pytest.approx(float(mse), rel=1e-5)
