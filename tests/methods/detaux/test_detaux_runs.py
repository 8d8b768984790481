"""Detaux end to end in subprocesses: every stage resumes after a SIGKILL, ``load`` gives the MTL
model without clustering again, and two DDP processes train the autoencoder as one does."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import orthomtl
from orthomtl.diagnostics import read_diagnostics
from orthomtl.methods.detaux import _method as detaux_method
from tests.conftest import kill_then_resume, read_report, train_in_subprocess, write_config

STEPS_PER_EPOCH = 1257 // 32  # rotated-digits' training split, 32 pairs per step


def detaux_config(runs: Path, **trainer: object) -> dict:
    return {
        "data": {"name": "rotated-digits", "tasks": ["digit"], "batch_size": 32},
        "model": {"encoder": "product-space", "decoder": "product-space"},
        "method": {
            "name": "detaux",
            "compile": False,
            "subspaces": 4,
            "subspace_dim": 6,
            "discovery": {"clusterer": "kmeans", "n_clusters": 3, "plots": False},
            "mtl_model": {"latent_dim": 16, "encoder_options": {"channels": [8, 16]}},
            "mtl_trainer": {"max_epochs": 1},
            "mtl_optim": {"name": "adam", "lr": 0.01},
        },
        "optim": {"name": "adamw", "lr": 1e-3},
        "trainer": {
            "max_epochs": 2,
            "final": "last",
            "progress_bar": False,
            "checkpoint_every_n_steps": 5,
            **trainer,
        },
        "seeds": [0],
        "runs_dir": str(runs),
    }


def weights(run_dir: Path, stage: str = "") -> dict[str, torch.Tensor]:
    path = run_dir / stage / "checkpoints" / "last.ckpt"
    return torch.load(path, weights_only=True)["model"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("detaux")
    straight = write_config(root / "straight.yaml", detaux_config(root / "straight"))
    train_in_subprocess(root / "straight.json", [straight])
    out = {"straight": Path(read_report(root / "straight.json")[str(straight)]["run_dir"])}
    for stage, step in (("main", STEPS_PER_EPOCH + 7), ("mtl", 12)):
        config = write_config(root / f"{stage}.yaml", detaux_config(root / stage))
        out[stage], _ = kill_then_resume(
            root / f"{stage}.json",
            config,
            root / stage,
            step,
            stage=None if stage == "main" else stage,
        )
    for devices in (1, 2):  # SGD: Adam would magnify float reassociation into visible drift
        config = detaux_config(root / f"sgd{devices}", devices=devices)
        config["optim"] = {"name": "sgd", "lr": 0.05, "momentum": 0.9}
        if devices > 1:
            config["trainer"]["strategy"] = "ddp"
        path = write_config(root / f"sgd{devices}.yaml", config)
        train_in_subprocess(root / f"sgd{devices}.json", [path])
        out[f"sgd{devices}"] = Path(read_report(root / f"sgd{devices}.json")[str(path)]["run_dir"])
    return out


@pytest.mark.parametrize("killed", ["main", "mtl"])
def test_a_run_killed_in_any_stage_resumes_to_the_same_end(runs: dict, killed: str) -> None:
    straight, resumed = runs["straight"], runs[killed]
    for stage in ("", "mtl"):
        w1, w2 = weights(straight, stage), weights(resumed, stage)
        for key in w1:
            assert torch.equal(w1[key], w2[key]), (stage, key)
    for name in ("aux_labels.npy", "aux_labels_val.npy", "aux_labels_test.npy"):
        a = np.load(straight / "discovery" / name)
        assert np.array_equal(a, np.load(resumed / "discovery" / name)), name
    ref = json.loads((straight / "results.json").read_text())["metrics"]
    got = json.loads((resumed / "results.json").read_text())["metrics"]
    assert got == ref


@pytest.mark.parametrize("killed", ["main", "mtl"])
def test_the_diagnostics_of_a_killed_run_are_those_of_a_straight_one(
    runs: dict, killed: str
) -> None:
    """Records logged after the checkpoint a run resumes from are dropped and logged again; the
    MTL stage (HPS) measures gradient conflict and head coherence, the autoencoder its latent."""
    for stage in ("", "mtl"):
        straight = read_diagnostics(runs["straight"] / stage)
        assert straight["neural_collapse"], stage
        assert read_diagnostics(runs[killed] / stage) == straight, stage
    mtl = read_diagnostics(runs["straight"] / "mtl")
    assert mtl["gradient_conflict"] and "coherence" in mtl["neural_collapse"][-1]
    assert "gradient_conflict" not in read_diagnostics(runs["straight"])


def test_killed_in_mtl_the_discovery_is_kept(runs: dict) -> None:
    """The MTL kill came after the discovery: the resumed run read it back, untouched."""
    directory = runs["mtl"] / "discovery"
    assert json.loads((directory / "discovery.json").read_text())["tasks"][0]["name"] == "aux1"
    assert not list(runs["mtl"].glob("discovery.*.tmp"))


def test_load_gives_the_mtl_model_without_clustering(
    runs: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("load must not discover again")

    monkeypatch.setattr(detaux_method, "discover", refuse)
    model = orthomtl.load(runs["straight"])
    assert [t.name for t in model.tasks] == ["digit", "aux1"]
    predictions = model.predict(torch.rand(4, 1, 28, 28))
    assert predictions["aux1"].shape == (4,) and predictions["aux1"].max() < 3


def test_two_processes_train_the_autoencoder_as_one(runs: dict) -> None:
    one, two = weights(runs["sgd1"]), weights(runs["sgd2"])
    assert one.keys() == two.keys()
    for key in one:
        assert torch.allclose(one[key], two[key], atol=1e-6, rtol=1e-4), key
    start = weights(runs["straight"])  # another optimiser: guards against a run that did nothing
    assert not torch.allclose(one["projectors.weight2"], start["projectors.weight2"], atol=1e-3)
    progress = torch.load(runs["sgd2"] / "checkpoints" / "last.ckpt", weights_only=True)
    assert progress["progress"]["step"] == 2 * STEPS_PER_EPOCH
