"""Contracts at the edges: callbacks, unused model keys, registry names, the DDP batch check,
linear readouts, and streaming task metrics."""

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

import orthomtl
from orthomtl.config import ConfigError, ModelConfig, from_dict
from orthomtl.data import load_rotated_digits
from orthomtl.engine import Callback, Engine, LinearReadouts
from orthomtl.methods import HPS, STL
from orthomtl.methods.domain_expansion import DomainExpansionReadouts
from orthomtl.metrics import TaskMetrics
from orthomtl.metrics.functional import task_metrics
from orthomtl.registry import METHODS
from orthomtl.tasks import Task, wrap_angle
from tests.conftest import tiny_config

MLP = {"encoder": "mlp", "latent_dim": 8, "encoder_options": {"hidden": [32]}}
DE = {"name": "domain-expansion", "cov_fraction": 0.5, "readout_epochs": 1}
TASKS = [Task("digit", "classification", 3), Task("size", "regression"), Task("turn", "angle")]


pytestmark = pytest.mark.usefixtures("one_thread")


# --- callbacks ---------------------------------------------------------------------------------
def test_misspelt_hook_is_refused_when_the_class_is_defined() -> None:
    with pytest.raises(TypeError, match=r"Typo\.on_epoch_ned is not a callback hook.*on_epoch_end"):

        class Typo(Callback):
            def on_epoch_ned(self, engine: Engine) -> None: ...


def test_engine_refuses_a_callback_that_is_not_a_callback(tmp_path: Path) -> None:
    class Duck:
        def on_validation_end(self, engine: Engine, metrics: dict[str, float]) -> None: ...

    config = tiny_config(model=MLP, runs_dir=str(tmp_path))
    with pytest.raises(TypeError, match=r"subclass orthomtl\.engine\.Callback; got Duck"):
        orthomtl.run(config, callbacks=[Duck()])  # type: ignore[list-item]


class Counter(Callback):
    """Counts epochs and validations, and keeps each validation's metrics."""

    def __init__(self) -> None:
        self.epochs = 0
        self.validations: list[dict[str, float]] = []

    def on_epoch_end(self, engine: Engine) -> None:
        self.epochs += 1

    def on_validation_end(self, engine: Engine, metrics: dict[str, float]) -> None:
        self.validations.append(dict(metrics))


def test_on_validation_end_runs_once_per_validation(tmp_path: Path) -> None:
    counter = Counter()
    config = tiny_config(model=MLP, runs_dir=str(tmp_path), trainer={"max_epochs": 2})
    orthomtl.run(config, callbacks=[counter])
    assert counter.epochs == 2 and len(counter.validations) == 2
    for metrics in counter.validations:
        assert all(key.startswith("val/") for key in metrics)
        assert {"val/loss", "val/digit/accuracy", "val/angle/mae"} <= set(metrics)
        assert all(math.isfinite(v) for v in metrics.values())


# --- config checks -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "method, model, key",
    [
        ({"name": "hps"}, {"decoder": "convnet"}, "model.decoder"),
        (DE, {"head": "mlp"}, "model.head"),
    ],
    ids=["hps-decoder", "de-head"],
)
def test_unused_model_key_stops_the_run_before_training(
    tmp_path: Path, method: dict[str, Any], model: dict[str, Any], key: str
) -> None:
    runs = tmp_path / "runs"
    config = tiny_config(method=method, model=model, runs_dir=str(runs))
    with pytest.raises(ConfigError, match=rf"^{key}: method '{method['name']}' does not use it"):
        orthomtl.run(config)
    assert not runs.exists()


def test_default_valued_model_keys_are_accepted() -> None:
    defaults = {"head": "linear", "head_options": {}, "decoder": None, "decoder_options": {}}
    for method in ({"name": "hps"}, DE):
        from_dict(tiny_config(method=method, model=defaults))


def test_method_name_with_underscores_gives_the_hyphenated_name() -> None:
    with pytest.raises(
        ConfigError, match=r"method\.name: .*'domain_expansion'.*'domain-expansion'"
    ):
        from_dict(tiny_config(method={"name": "domain_expansion"}))
    with pytest.raises(KeyError, match=r"spelled 'domain-expansion'"):
        METHODS.get("domain_expansion")


@pytest.mark.parametrize("devices", [3, "3"], ids=["int", "str"])
def test_batch_not_divisible_by_processes_is_refused_before_launch(devices: int | str) -> None:
    config = tiny_config(data={"batch_size": 64}, trainer={"devices": devices})
    with pytest.raises(ConfigError, match=r"^data\.batch_size: .*64.*multiple of 3"):
        from_dict(config)
    from_dict(tiny_config(data={"batch_size": 64}, trainer={"devices": 4}))


# --- linear readouts ---------------------------------------------------------------------------
def _check_readouts(
    readouts: LinearReadouts | None, latent: torch.Tensor, outputs: dict[str, torch.Tensor]
) -> None:
    assert readouts is not None and set(readouts) == set(outputs)
    for name, (weight, bias) in readouts.items():
        assert weight.shape == (outputs[name].shape[1], latent.shape[1])
        torch.testing.assert_close(latent @ weight.T + bias, outputs[name], atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_hps_and_stl_readouts_reproduce_the_heads() -> None:
    torch.manual_seed(0)
    model, x = ModelConfig(**MLP), torch.randn(7, 5)
    hps = HPS(TASKS, (5,), model)
    _check_readouts(hps.linear_readouts(), hps.encode(x), hps.outputs(x))
    stl = STL(TASKS, (5,), model)
    latent = stl.encode(x)
    assert latent.shape == (7, 3 * 8)
    _check_readouts(stl.linear_readouts(), latent, stl.outputs(x))
    mlp_heads = ModelConfig(**MLP, head="mlp", head_options={"hidden": 4})
    assert HPS(TASKS, (5,), mlp_heads).linear_readouts() is None
    assert STL(TASKS, (5,), mlp_heads).linear_readouts() is None


def test_domain_expansion_readouts_reproduce_its_raw_outputs(tmp_path: Path) -> None:
    config = tiny_config(method=DE, runs_dir=str(tmp_path))
    method = orthomtl.load(orthomtl.run(config).run_dirs[0]).method
    assert isinstance(method, DomainExpansionReadouts)
    x = load_rotated_digits().test.__getitems__(list(range(32))).x
    with torch.no_grad():
        raw = method.network(x)
    _check_readouts(method.linear_readouts(), method.encode(x), raw)
    turned = torch.cat([torch.cos(raw["angle"]), torch.sin(raw["angle"])], dim=1)
    torch.testing.assert_close(method.outputs(x)["angle"], turned)


# --- task metrics ------------------------------------------------------------------------------
def _outputs_and_targets(n: int) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], Tensor]:
    """Outputs, labels (row 20 unlabelled) for ``TASKS`` and the angle errors; the angle labels
    sit near ±π and their errors cross the seam."""
    g = torch.Generator().manual_seed(0)
    digit = torch.randint(-1, 3, (n,), generator=g)
    size = torch.randn(n, generator=g).masked_fill(torch.rand(n, generator=g) < 0.3, math.nan)
    turn = math.pi - 0.1 * torch.rand(n, generator=g)
    turn = torch.where(torch.arange(n) % 2 == 0, turn, -turn)
    error = 0.3 * (torch.rand(n, generator=g) - 0.5)
    predicted = wrap_angle(turn + error)
    turn = turn.masked_fill(torch.arange(n) % 5 == 0, math.nan)
    digit[20], size[20] = -1, math.nan
    outputs = {
        "digit": torch.randn(n, 3, generator=g),
        "size": torch.randn(n, 1, generator=g),
        "turn": 2 * torch.stack([torch.cos(predicted), torch.sin(predicted)], dim=1),
    }
    return outputs, {"digit": digit, "size": size, "turn": turn}, error


def test_streaming_metrics_match_the_functional_ones() -> None:
    outputs, targets, error = _outputs_and_targets(40)
    metrics = TaskMetrics(TASKS)
    start = 0
    for size in (7, 13, 1, 19):
        part = slice(start, start + size)
        metrics.update(
            {k: v[part] for k, v in outputs.items()}, {k: v[part] for k, v in targets.items()}
        )
        assert metrics.state.device == outputs["digit"].device
        assert metrics.state.dtype == torch.float64
        start += size
    metrics.reduce(lambda t: t.float())  # an all-reduce may hand back float32
    assert metrics.state.dtype == torch.float64
    streamed, whole = metrics.compute(), task_metrics(outputs, targets, TASKS)
    assert streamed.keys() == whole.keys()
    assert streamed == pytest.approx(whole, rel=1e-6)
    labelled = {
        "digit": targets["digit"] >= 0,
        "size": ~torch.isnan(targets["size"]),
        "turn": ~torch.isnan(targets["turn"]),
    }
    counts = [int(labelled[t.name].sum()) for t in TASKS]
    assert metrics.state[:, 1].tolist() == counts
    digit, keep = targets["digit"], labelled["digit"]
    accuracy = (outputs["digit"].argmax(1)[keep] == digit[keep]).double().mean()
    size_mae = (outputs["size"][:, 0] - targets["size"]).abs()[labelled["size"]].mean()
    turn_mae = error.abs()[labelled["turn"]].mean()  # not the 2π−|error| of a naive difference
    assert whole["digit/accuracy"] == pytest.approx(float(accuracy))
    assert whole["size/mae"] == pytest.approx(float(size_mae), rel=1e-5)
    assert whole["turn/mae"] == pytest.approx(float(turn_mae), rel=1e-4)
    assert whole["loss"] == pytest.approx(sum(whole[f"{t.name}/loss"] for t in TASKS))
