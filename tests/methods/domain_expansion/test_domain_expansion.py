"""Domain Expansion end to end: two stages, basis history, readouts along the axes, DDP, resume."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from lightning_fabric import Fabric

import orthomtl
from orthomtl.config import ModelConfig
from orthomtl.data import Batch
from orthomtl.engine import Callback, Engine
from orthomtl.methods.domain_expansion import DomainExpansion, DomainExpansionReadouts
from orthomtl.tasks import Task
from tests.conftest import (
    kill_then_resume,
    read_report,
    tiny_config,
    train_in_subprocess,
    write_config,
)

DE = {"name": "domain-expansion", "cov_fraction": 0.5, "readout_epochs": 1}


def _config(runs: Path, **trainer: object) -> dict:
    return tiny_config(method=DE, runs_dir=str(runs), trainer={"max_epochs": 2, **trainer})


def _basis(run_dir: str | Path) -> torch.Tensor:
    state = torch.load(Path(run_dir) / "checkpoints" / "last.ckpt", weights_only=True)
    return state["model"]["pooling.basis"]


@pytest.fixture(scope="module")
def de_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return orthomtl.run(_config(tmp_path_factory.mktemp("de"))).run_dirs[0]


def test_two_stages_write_results_history_and_readouts(de_run: Path) -> None:
    results = json.loads((de_run / "results.json").read_text())
    assert [s["stage"] for s in results["stages"]] == ["main", "readouts"]
    test = results["metrics"]["test"]
    for key in (
        "digit/accuracy",
        "angle/mae",
        "digit/v_score",
        "angle/spearman",
        "composition/raw",
        "composition/centred",
    ):
        assert key in test
    assert test["angle/spearman"] > 0.2  # two short epochs already order the angle axis
    history = json.loads((de_run / "basis_history.json").read_text())
    assert len(history) == 2  # the statistics pass before epoch 1, then the refresh before epoch 2
    assert history[0]["axis0/cos_prev"] == 1.0
    assert all(0.0 <= h[f"axis{m}/cos_prev"] <= 1.0 + 1e-9 for h in history for m in (0, 1))
    assert (de_run / "readouts" / "checkpoints" / "last.ckpt").is_file()
    basis = _basis(de_run).double()
    assert torch.allclose(basis.T @ basis, torch.eye(2, dtype=torch.float64), atol=1e-6)


def test_load_walks_both_stages(de_run: Path) -> None:
    model = orthomtl.load(de_run)
    assert isinstance(model.method, DomainExpansionReadouts)
    x = torch.rand(4, 1, 28, 28)
    predictions = model.predict(x)
    assert predictions["digit"].shape == (4,) and predictions["angle"].shape == (4,)
    assert model.encode(x).shape == (4, 16)


def test_readouts_start_along_their_axes(de_run: Path) -> None:
    """Re-initialised from 200 training samples, each readout is what ``_readouts`` documents,
    computed here from the coefficients c = (f − μ)V: a regression or angle readout is s·v_m with
    s = std(y)/std(c_m)·sign(corr(c_m, y)) and b = ȳ − s(c̄_m + ⟨v_m, μ⟩), so it predicts
    ȳ + s(c_m − c̄_m); a class readout is the nearest-class-mean classifier on c_m, logit_k =
    α(ĉ_k c_m − ĉ_k²/2), with α the inverse within-class variance."""
    model = orthomtl.load(de_run)
    method, pooling = model.method, model.method.pooling
    batch = (
        orthomtl.DATASETS.get("rotated-digits").loader(seed=0).train.__getitems__(list(range(200)))
    )
    method.attach(Fabric(accelerator="cpu", devices=1), lambda fraction, epoch: [batch], 0)
    method.network.initialized.fill_(False)
    method.on_epoch_start(0)
    f = method.encode(batch.x).double()
    mu, basis = pooling.mean.double(), pooling.basis.double()
    c = (f - mu) @ basis
    readouts = method.linear_readouts()
    for m, task in enumerate(model.tasks):
        v, cm, y = basis[:, m], c[:, m], batch.targets[task.name].double()
        weight, bias = (t.double() for t in readouts[task.name])
        if task.kind == "classification":
            onehot = torch.nn.functional.one_hot(y.long(), task.num_classes).double()
            centres = (onehot.T @ cm) / onehot.sum(0)
            alpha = 1 / ((cm - centres[y.long()]) ** 2).mean()
            expected_weight = alpha * centres[:, None] * v[None, :]
            expected_bias = -alpha * centres * (v @ mu) - alpha * centres**2 / 2
            logits = alpha * (cm[:, None] * centres[None, :] - centres[None, :] ** 2 / 2)
        else:
            covariance = ((cm - cm.mean()) * (y - y.mean())).mean()
            scale = y.std(correction=0) / cm.std(correction=0) * torch.sign(covariance)
            expected_weight = scale * v[None, :]
            expected_bias = (y.mean() - scale * (cm.mean() + v @ mu)).reshape(1)
            logits = (y.mean() + scale * (cm - cm.mean()))[:, None]
        assert torch.allclose(weight, expected_weight, rtol=1e-4, atol=1e-6), task.name
        assert torch.allclose(bias, expected_bias, rtol=1e-4, atol=1e-5), task.name
        assert torch.allclose(f @ weight.T + bias, logits, rtol=1e-4, atol=1e-4), task.name


@pytest.fixture(scope="module")
def initial_decoders(tmp_path_factory: pytest.TempPathFactory) -> orthomtl.TrainedModel:
    """A run whose decoders stay at their initialisation (a learning rate of 1e-12)."""
    config = _config(tmp_path_factory.mktemp("init"))
    config["method"]["readout_lr"] = 1e-12
    return orthomtl.load(orthomtl.run(config).run_dirs[0])


def test_readout_initialisation_is_exactly_along_the_axes(
    initial_decoders: orthomtl.TrainedModel,
) -> None:
    model = initial_decoders
    network, pooling = model.method.network, model.method.pooling
    for m, task in enumerate(model.tasks):
        weight = network.readouts[task.name].weight.detach().double()
        axis = pooling.basis[:, m].double()
        rows = weight / weight.norm(dim=1, keepdim=True).clamp(min=1e-30)
        assert torch.allclose(
            (rows @ axis).abs(), torch.ones(len(rows), dtype=torch.float64), atol=1e-6
        ), task.name


def test_image_inputs_are_required() -> None:
    with pytest.raises(ValueError, match=r"two views need image inputs \(C, H, W\)"):
        DomainExpansion([Task("y", "regression")], (5,), ModelConfig(encoder="mlp"))


@pytest.mark.parametrize(
    ("encoder", "options", "last"),
    [("convnet", {"channels": [8, 16]}, "fc"), ("mlp", {"hidden": [32]}, "net.2")],
    ids=["convnet", "mlp"],
)
def test_encoder_has_no_final_bias(encoder: str, options: dict, last: str) -> None:
    """The losses see f only through (f − μ)V, and μ absorbs a bias of the layer producing f: its
    true gradient is 0, so it is not built (the other layers keep theirs)."""
    tasks = [Task("digit", "classification", 10), Task("angle", "angle")]
    model = ModelConfig(encoder=encoder, latent_dim=16, encoder_options=options)
    names = set(DomainExpansion(tasks, (1, 28, 28), model).network.encoder.state_dict())
    assert f"{last}.weight" in names and f"{last}.bias" not in names
    assert any(name.endswith("bias") for name in names)


def test_two_processes_give_the_same_basis(tmp_path: Path) -> None:
    """Adam on a short run (two steps per epoch, two refreshes after training). The losses only
    see coefficient differences, so a bias on the encoder's last layer would have a true gradient
    of 0, and Adam would turn its float noise (which differs between 1 and 2 processes) into
    lr-sized steps; Domain Expansion builds its encoder without that bias, so the runs agree."""
    rng = np.random.default_rng(0)
    n = 100
    value = rng.uniform(-1, 1, n)
    digit = rng.integers(0, 3, n)
    grid = np.linspace(-1, 1, 12)
    images = np.exp(-((grid[None, :, None] - value[:, None, None]) ** 2) * 4) * (
        1 + digit[:, None, None]
    ) / 3 + 0.1 * rng.normal(size=(n, 12, 12))
    np.savez(tmp_path / "toy.npz", images=images.astype(np.float32), digit=digit, value=value)
    configs = []
    for devices in (1, 2):
        config = _config(
            tmp_path / f"runs{devices}",
            devices=devices,
            max_epochs=3,
            strategy="ddp" if devices > 1 else "auto",
        )
        config["data"] = {"name": "image-npz", "path": str(tmp_path / "toy.npz"), "batch_size": 32}
        config["model"]["encoder"] = "mlp"
        config["model"]["encoder_options"] = {"hidden": [32]}
        config["optim"] = {"name": "adam", "lr": 0.01}
        configs.append(write_config(tmp_path / f"de{devices}.yaml", config))
    for devices, path in zip((1, 2), configs, strict=True):
        train_in_subprocess(tmp_path / f"report{devices}.json", [path])
    one, two = (next(iter(read_report(tmp_path / f"report{d}.json").values())) for d in (1, 2))
    history = [
        json.loads((Path(r["run_dir"]) / "basis_history.json").read_text()) for r in (one, two)
    ]
    assert len(history[0]) == 3 and history[0][2]["num_samples"] == history[1][2]["num_samples"]
    b1, b2 = _basis(one["run_dir"]).double(), _basis(two["run_dir"]).double()
    assert torch.all((b1 * b2).sum(0) > 0.9999), (b1 * b2).sum(0)
    for key, value in one["metrics"]["test"].items():
        assert two["metrics"]["test"][key] == pytest.approx(value, abs=1e-3), key


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The run that the killed-and-resumed ones must reproduce (checkpoints every 5 steps)."""
    root = tmp_path_factory.mktemp("straight")
    straight = write_config(
        root / "straight.yaml", _config(root / "runs", checkpoint_every_n_steps=5)
    )
    train_in_subprocess(root / "straight.json", [straight])
    return read_report(root / "straight.json")[str(straight)]


def test_sigkill_mid_epoch_then_resume_gives_the_same_basis(
    tmp_path: Path, uninterrupted: dict
) -> None:
    reference = uninterrupted
    steps = 1257 // 32
    killed = write_config(
        tmp_path / "killed.yaml", _config(tmp_path / "killed", checkpoint_every_n_steps=5)
    )
    run_dir, saved = kill_then_resume(
        tmp_path / "killed.json", killed, tmp_path / "killed", steps + 8
    )
    assert saved["epoch"] == 1 and saved["batch"] > 0  # killed in the middle of the second epoch
    assert torch.allclose(_basis(run_dir), _basis(reference["run_dir"]), atol=1e-6)
    results = orthomtl.engine.read_results(run_dir)
    for key, value in reference["metrics"]["test"].items():
        assert results["metrics"]["test"][key] == pytest.approx(value, rel=1e-5, abs=1e-6), key


class FirstStep(Callback):
    """Records, per stage directory, the step count after its first trained batch."""

    def __init__(self) -> None:
        self.steps: dict[str, int] = {}

    def on_train_batch_end(
        self, engine: Engine, batch: Batch, losses: dict[str, torch.Tensor]
    ) -> None:
        self.steps.setdefault(engine.run_dir.name, engine.progress.step)


def test_sigkill_in_the_readout_stage_then_resume(tmp_path: Path, uninterrupted: dict) -> None:
    """A run killed in its second stage resumes there: stage 1 is not trained again, and the
    readouts end as in an uninterrupted run."""
    reference = uninterrupted
    killed = write_config(
        tmp_path / "killed.yaml", _config(tmp_path / "killed", checkpoint_every_n_steps=5)
    )
    proc = train_in_subprocess(
        tmp_path / "killed.json",
        [killed],
        "--kill-at-step",
        "12",
        "--kill-in-stage",
        "readouts",
        check=False,
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    (run_dir,) = (tmp_path / "killed").iterdir()
    stage1 = run_dir / "checkpoints" / "last.ckpt"
    stage1_bytes = stage1.read_bytes()
    saved = torch.load(run_dir / "readouts" / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["progress"]["step"] == 10 and not (run_dir / "results.json").exists()
    first = FirstStep()
    orthomtl.resume(run_dir, callbacks=[first])
    assert first.steps == {"readouts": 11}  # stage 1 trains no batch; stage 2 goes on from step 10
    assert stage1.read_bytes() == stage1_bytes  # stage 1 was finished, and is left as it was
    results = orthomtl.engine.read_results(run_dir)
    assert [s["stage"] for s in results["stages"]] == ["main", "readouts"]
    for key, value in reference["metrics"]["test"].items():
        assert results["metrics"]["test"][key] == pytest.approx(value, rel=1e-5, abs=1e-6), key


def test_evaluation_data_never_enters_the_statistics(de_run: Path) -> None:
    history = json.loads((de_run / "basis_history.json").read_text())
    steps, batch, views = 1257 // 32, 32, 2
    expected = 0.5 * steps * batch * views  # cov_fraction of the training rows of one epoch
    assert abs(history[1]["num_samples"] - expected) < 4 * (expected * 0.25) ** 0.5
