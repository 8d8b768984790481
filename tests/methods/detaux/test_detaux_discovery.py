"""Detaux end to end in one process, on a tiny image problem with a second, easily separable
factor: the autoencoder, discovery and MTL stages run, and the auxiliary task is that factor.

With the paper's hinge the non-principal subspaces of this small model mostly collapse in 24
epochs (README, "Detaux"); the authors' code's hinge on δ² keeps them, so the test uses it."""

import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

import orthomtl
from orthomtl.methods.detaux import discover_from_run
from tests.methods.detaux import blobs

pytestmark = pytest.mark.usefixtures("one_thread")


def blob_config(runs: Path, **method: object) -> dict:
    return {
        "data": {"name": blobs.NAME, "batch_size": 32},
        "model": {"encoder": "product-space", "decoder": "product-space"},
        "method": {
            "name": "detaux",
            "compile": False,
            "subspaces": 4,
            "subspace_dim": 6,
            "hinge": "authors",
            "discovery": {"clusterer": "kmeans", "n_clusters": 2},
            "mtl_model": {"latent_dim": 16, "encoder_options": {"channels": [8, 16]}},
            "mtl_trainer": {"max_epochs": 1},
            **method,
        },
        "optim": {"name": "adamw", "lr": 1e-3},
        "trainer": {"max_epochs": 24, "progress_bar": False},
        "runs_dir": str(runs),
    }


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    result = orthomtl.run(blob_config(tmp_path_factory.mktemp("blobs")))
    return result.run_dirs[0]


def test_discovery_recovers_the_second_factor(run_dir: Path) -> None:
    summary = json.loads((run_dir / "discovery" / "discovery.json").read_text())
    (task,) = summary["tasks"]
    assert task["subspace"] != summary["principal_subspace"]
    assert task["factors"]["row"]["nmi"] >= 0.8, task
    assert task["principal_agreement"]["nmi"] < 0.2, task
    labels = np.load(run_dir / "discovery" / "aux_labels.npy")
    assert labels.shape == (480, 1) and set(np.unique(labels)) == {0, 1}


def test_the_mtl_stage_trains_on_the_principal_and_the_auxiliary_task(run_dir: Path) -> None:
    results = json.loads((run_dir / "results.json").read_text())
    assert [s["stage"] for s in results["stages"]] == ["main", "mtl"]
    assert results["stages"][1]["tasks"] == ["column", "aux1"]
    assert {"column/accuracy", "aux1/accuracy"} <= set(results["metrics"]["test"])


def test_the_discovery_directory_holds_the_plots(run_dir: Path) -> None:
    for name in ("traversals.png", "aux1_pca.png", "aux1_factors.png"):
        assert imread(run_dir / "discovery" / name).shape[1] > 100


def test_detaux_labels_serves_the_discovered_task_to_any_method(run_dir: Path) -> None:
    data = orthomtl.api.load_data(
        orthomtl.config.from_dict(
            {"data": {"name": "detaux-labels", "path": str(run_dir / "discovery")}}
        ),
        seed=3,
    )
    assert [t.name for t in data.tasks] == ["column", "aux1"]
    batch = data.train.__getitems__([0, 1, 2])
    expected = np.load(run_dir / "discovery" / "aux_labels.npy")[:3, 0]
    assert batch.targets["aux1"].tolist() == expected.tolist()
    with pytest.raises(ValueError, match="no task"):
        orthomtl.api.load_data(
            orthomtl.config.from_dict(
                {"data": {"name": "detaux-labels", "path": str(run_dir), "tasks": ["aux9"]}}
            ),
            seed=0,
        )


def test_discovery_can_run_again_from_the_trained_autoencoder(run_dir: Path) -> None:
    out = run_dir.parent / "again"
    written = discover_from_run(run_dir, out, {"subspace_rule": "orthogonality", "plots": False})
    summary = json.loads((written / "discovery.json").read_text())
    assert summary["estimator"]["subspace_rule"] == "orthogonality"
    assert summary["run_dir"] == str(run_dir.resolve())
    assert not list(out.glob("*.png"))
    data = orthomtl.api.load_data(
        orthomtl.config.from_dict({"data": {"name": "detaux-labels", "path": str(out)}}), seed=0
    )
    assert [t.name for t in data.tasks] == ["column", "aux1"]
    with pytest.raises(FileExistsError, match="exists"):
        discover_from_run(run_dir, out)
    with pytest.raises(ValueError, match=r"Unknown method\.discovery"):
        discover_from_run(run_dir, run_dir.parent / "other", {"clusterr": "kmeans"})
