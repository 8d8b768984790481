"""What each subspace of a trained Detaux autoencoder holds: a probe against the true factors.

For every subspace i and factor j, KMeans with as many clusters as the factor has values, on the
validation codes of subspace i, scored by NMI against factor j; with each subspace's share of the
code variance. The probe reads the factors, which discovery never does: it is a diagnostic of
the autoencoder, not part of the method.

    .venv/bin/python benchmarks/detaux_probe.py RUN_DIR --name shapes

Writes ``benchmarks/results/detaux_probe_<name>.{json,md}``.
"""

import argparse
from pathlib import Path

import _common
import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score

from orthomtl.config import from_dict
from orthomtl.engine import read_checkpoint, read_config
from orthomtl.methods.detaux import Detaux
from orthomtl.methods.detaux._embedding import embed
from orthomtl.registry import DATASETS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--checkpoint", default="last.ckpt")
    args = parser.parse_args()
    config = from_dict(read_config(args.run_dir))
    data = DATASETS.get(config.data.name).loader(
        seed=config.seeds[0], path=config.data.path, tasks=config.data.tasks, **config.data.options
    )
    options = {**config.method.options, "compile": False}
    method = Detaux(data.tasks, data.input_shape, config.model, **options)
    state = read_checkpoint(args.run_dir / "checkpoints" / args.checkpoint)
    method.network.load_state_dict(state["model"])
    embedded = embed(method.network, data.val, data.tasks[0].name, 256)
    if embedded.factors is None:
        raise SystemExit(f"{config.data.name} has no ground-truth factors to probe against.")
    variance = embedded.codes.var(axis=0).sum(axis=1)
    names = list(data.factor_names)
    nmi = np.zeros((embedded.codes.shape[1], len(names)))
    for i in range(embedded.codes.shape[1]):
        for j in range(len(names)):
            values = embedded.factors[:, j]
            k = len(np.unique(values))
            labels = KMeans(k, n_init=2, random_state=0).fit_predict(embedded.codes[:, i])
            nmi[i, j] = normalized_mutual_info_score(values, labels)
    share = variance / variance.sum()
    lines = [
        f"# What each subspace holds: {args.run_dir.name} ({args.checkpoint})",
        "",
        "KMeans (k = the factor's number of values) on each subspace's validation codes, NMI "
        "against each factor.",
        "",
        "| subspace | variance share | " + " | ".join(names) + " |",
        "|---" * (len(names) + 2) + "|",
    ]
    for i in range(len(share)):
        cells = " | ".join(f"{v:.2f}" for v in nmi[i])
        lines.append(f"| {i} | {share[i]:.3f} | {cells} |")
    _common.write_results(
        f"detaux_probe_{args.name}",
        {
            "run_dir": str(args.run_dir),
            "checkpoint": args.checkpoint,
            "epoch": state["progress"]["epoch"],
            "factors": names,
            "variance": variance.tolist(),
            "nmi": nmi.tolist(),
        },
        markdown="\n".join(lines) + "\n",
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
