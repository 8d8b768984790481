"""Domain Expansion (arXiv 2601.20069), stage 2: linear readouts on the frozen latent.

The encoder and the basis of stage 1 are frozen; each task gets a linear readout on the raw latent
f (the paper's "decoder"; orthomtl keeps that word for image decoders), initialised along its axis
v_m:

- regression and angle tasks: w_m = s_m v_m and b_m = ȳ_m − s_m(c̄_m + ⟨v_m, μ⟩), with
  s_m = std(y_m) / std(c_m) · sign(corr(c_m, y_m)), so the first prediction is the least-squares
  line through the coefficients. (Our notes give b_m = −s_m⟨v_m, μ⟩, which assumes centred labels
  and coefficients; the two agree then.) Trained with L1, circular for angles.
- class tasks (the notes give no initialisation; ours): the nearest-class-mean classifier on the
  task's coefficients c_m (one axis, or k with ``class_axes``), logit_k = α(⟨ĉ_k, c_m⟩ − ‖ĉ_k‖²/2)
  with class means ĉ_k and α the inverse pooled within-class variance per axis, both from the
  class counts, sums and scatter of the coefficients (``orthomtl.metrics.ClassStatistics``; a
  class absent from the sample gets the task's mean). Trained with cross-entropy. The class means
  are kept: concept algebra moves a class task to them.

The readouts are trained with Adam at 0.1 × the encoder's learning rate and weight decay, as the
authors train their decoders, so they stay near their axes. With ``span`` they read only their
task's coefficients and so cannot leave the span of its axes.

Its evaluation adds to the readouts' accuracy and MAE the latent metrics of the paper: Spearman of
pairwise distances (regression, angles), V-score (classes), and composition similarity
c_p ⊕ (c_q ⊖ c_p) on raw and on centred f, beside its floor (f_p) and ceiling (q's coefficients)
and how the composed latents decode (``orthomtl.metrics.functional.composition_similarity``).
"""

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from orthomtl.config import ModelConfig
from orthomtl.data import Batch
from orthomtl.engine import LinearReadouts, Method, ReduceSum
from orthomtl.losses import masked_circular_l1, masked_cross_entropy, masked_l1
from orthomtl.methods.domain_expansion._readout_network import ReadoutNetwork
from orthomtl.metrics import ClassStatistics, TaskMetrics
from orthomtl.metrics.functional import (
    composition_similarity,
    score_on_axes,
)
from orthomtl.pooling import OrthogonalPooling, TaskAxes
from orthomtl.tasks import Task


class DomainExpansionReadouts(Method):
    """Stage 2 of ``domain-expansion``; built by its ``next_stage``, not from a config.

    Args:
        tasks, input_shape, model: as for every method (stage 1's).
        encoder: stage 1's trained encoder, frozen here.
        pooling: stage 1's pooling, whose basis (μ, V) is frozen here.
        axes: per task, its columns of the coefficients (``orthomtl.pooling.task_axes``).
        cov_fraction: the share of the training data the initialisation's moments are taken on.
        span: readouts read only their task's coefficients (see ``ReadoutNetwork``).
        composition: the keyword options of ``composition_similarity`` in evaluation
            (``solve``, ``class_target``, ``rcond``).
    """

    shards_evaluation = False

    def __init__(
        self,
        tasks: Sequence[Task],
        input_shape: Sequence[int],
        model: ModelConfig,
        *,
        encoder: nn.Module,
        pooling: OrthogonalPooling,
        axes: TaskAxes,
        cov_fraction: float,
        span: bool = False,
        composition: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(tasks, input_shape, model)
        self.model = ReadoutNetwork(encoder, pooling, self.tasks, axes, span)
        self.model.train()
        self.cov_fraction = cov_fraction
        self.axes = axes
        self.composition = dict(composition or {})

    @property
    def pooling(self) -> OrthogonalPooling:
        return self.network.pooling

    # --- initialisation along the axes ------------------------------------------------------------
    @torch.no_grad()
    def _moments(self, epoch: int) -> tuple[Tensor, ClassStatistics | None]:
        """Sums over ``cov_fraction`` of the training data, summed over ranks: per regression or
        angle task [n, Σc, Σc², Σy, Σy², Σcy] on its axis; for the class tasks,
        ``ClassStatistics`` of the coefficients c (all M axes; each task reads its columns)."""
        classes = [t for t in self.tasks if t.kind == "classification"]
        statistics = ClassStatistics(classes, self.pooling.num_axes) if classes else None
        rows = []
        for batch in self.train_subset(self.cov_fraction, epoch):
            if not len(batch):
                continue
            c = self.pooling(self.network.latent(batch.x)).double()
            if statistics is not None:
                statistics.update(c, batch.targets)
            row = []
            for task, columns in zip(self.tasks, self.axes, strict=True):
                if task.kind == "classification":
                    continue
                y = batch.targets[task.name]
                keep = ~task.missing(y)
                cm, ym = c[keep][:, columns[0]], y[keep].double()
                row.append(
                    torch.stack(
                        [
                            keep.sum().double(),
                            cm.sum(),
                            (cm * cm).sum(),
                            ym.sum(),
                            (ym * ym).sum(),
                            (cm * ym).sum(),
                        ]
                    )
                )
            if row:
                rows.append(torch.cat(row))
        device = self.pooling.basis.device
        local = (
            torch.stack(rows).sum(0)
            if rows
            else torch.zeros(self._moment_size(), dtype=torch.float64)
        )

        def reduce_sum(t: Tensor) -> Tensor:
            return self.fabric.all_reduce(t.to(device), reduce_op="sum")

        if statistics is not None:
            statistics.reduce(reduce_sum)
        return (reduce_sum(local) if local.numel() else local.to(device)), statistics

    def _moment_size(self) -> int:
        return 6 * sum(t.kind != "classification" for t in self.tasks)

    @torch.no_grad()
    def _initialise(self, epoch: int) -> None:
        moments, statistics = self._moments(epoch)
        moments = moments.tolist()
        mean, basis = self.pooling.mean.double(), self.pooling.basis.double()
        at = 0
        for m, (task, columns) in enumerate(zip(self.tasks, self.axes, strict=True)):
            v = basis[:, list(columns)]  # (D, a)
            shift = v.T @ mean  # (a,)
            if task.kind == "classification":
                assert statistics is not None
                block = list(columns)
                counts = statistics.counts[task.name].to(basis.device)
                sums = statistics.sums[task.name].to(basis.device)[:, block]  # (K, a)
                squares = statistics.squares[task.name].to(basis.device)[block][:, block]
                n, a = float(counts.sum()), len(columns)
                centres = torch.where(
                    counts[:, None] > 0,
                    sums / counts.clamp(min=1)[:, None],
                    sums.sum(0) / max(n, 1),
                )
                within = squares.trace() - (counts * (centres**2).sum(1)).sum()
                alpha = 1.0 / max(float(within) / max(n * a, 1), 1e-12)
                self.network.centres(task.name).copy_(centres)
                weight = alpha * centres @ v.T
                bias = -alpha * centres @ shift - alpha * (centres**2).sum(1) / 2
            else:
                v, shift = v[:, 0], float(shift[0])
                n, sc, scc, sy, syy, scy = moments[at : at + 6]
                at += 6
                n = max(n, 1.0)
                mc, my = sc / n, sy / n
                var_c, var_y, cov = scc / n - mc**2, syy / n - my**2, scy / n - mc * my
                scale = math.sqrt(max(var_y, 0.0) / max(var_c, 1e-12)) * (1.0 if cov >= 0 else -1.0)
                weight = scale * v[None, :]
                bias = torch.tensor([my - scale * (mc + shift)], dtype=torch.float64)
            self.network.set_readout(m, weight, bias)
        self.network.initialized.fill_(True)

    def on_epoch_start(self, epoch: int) -> None:
        if not bool(self.network.initialized):
            self._initialise(epoch)

    # --- training and inference -------------------------------------------------------------------
    def training_step(self, batch: Batch) -> dict[str, Tensor]:
        outputs = self.model(batch.x)
        losses = {}
        for task in self.tasks:
            out, y = outputs[task.name], batch.targets[task.name]
            if task.kind == "classification":
                losses[task.name] = masked_cross_entropy(out, y)
            elif task.kind == "angle":
                losses[task.name] = masked_circular_l1(out[:, 0], y)
            else:
                losses[task.name] = masked_l1(out, y)
        total = torch.stack(list(losses.values())).sum()
        return {**{f"{k}/loss": v.detach() for k, v in losses.items()}, "total": total}

    def outputs(self, x: Tensor) -> dict[str, Tensor]:
        """Readout outputs; an angle readout's scalar θ̂ is returned as (cos θ̂, sin θ̂)."""
        raw = self.network(x)
        return {
            t.name: torch.cat([torch.cos(raw[t.name]), torch.sin(raw[t.name])], dim=1)
            if t.kind == "angle"
            else raw[t.name]
            for t in self.tasks
        }

    def encode(self, x: Tensor) -> Tensor:
        return self.network.latent(x)

    def linear_readouts(self) -> LinearReadouts:
        """Per task the readout's (W, b) on the raw latent; an angle's maps to θ̂ in radians."""
        return {t.name: self.network.linear_readout(m) for m, t in enumerate(self.tasks)}

    def class_centres(self) -> dict[str, Tensor]:
        """Per class task its class centres (K, a) in its coefficients, from the initialisation."""
        return {
            t.name: self.network.centres(t.name) for t in self.tasks if t.kind == "classification"
        }

    @torch.no_grad()
    def evaluate(self, batches: Iterable[Batch], reduce_sum: ReduceSum) -> dict[str, float]:
        network = self.network
        network.eval()
        metrics = TaskMetrics(self.tasks)
        features, labels = [], {t.name: [] for t in self.tasks}
        for batch in batches:
            if not len(batch):
                continue
            f = network.latent(batch.x)
            metrics.update(self.outputs(batch.x), batch.targets)
            features.append(f.cpu())
            for name in labels:
                labels[name].append(batch.targets[name].cpu())
        f = torch.cat(features)
        coefficients = self.pooling(f).numpy()
        network.train()
        metrics.reduce(reduce_sum)
        out = metrics.compute()
        y = {k: torch.cat(v).numpy() for k, v in labels.items()}
        for name, score in score_on_axes(
            coefficients, y, self.tasks, axes=self.axes, seed=0
        ).items():
            out[f"{name}/{score.metric}"] = score.value
        readouts = self.linear_readouts()
        composition = composition_similarity(
            f.double().numpy(),
            self.pooling.mean.double().cpu().numpy(),
            self.pooling.basis.double().cpu().numpy(),
            [tuple(a.double().cpu().numpy() for a in readouts[t.name]) for t in self.tasks],
            y,
            self.tasks,
            axes=self.axes,
            centres={k: c.cpu().numpy() for k, c in self.class_centres().items()},
            seed=0,
            **self.composition,
        )
        out.update(composition.as_dict())
        return out
