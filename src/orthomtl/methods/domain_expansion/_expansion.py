"""Domain Expansion (arXiv 2601.20069), stage 1: one orthogonal latent axis per task.

x → encoder → f (B×D) → ``OrthogonalPooling`` → c (B×M), c_m = ⟨f − μ, v_m⟩; each task's loss
acts on its own coefficients only (``_axis_losses``), on two augmented views of every sample. The
basis (μ, V) is refreshed from statistics gathered during training and aligned across refreshes.

Our choices where the paper is open: before the first refresh, one no-grad pass over
``cov_fraction`` of the training data gathers the statistics; the two views shift each image by up
to ``view_shift`` px and add Gaussian noise of std ``view_noise`` (``orthomtl.data.two_views``);
``extra_pass=True`` gathers the statistics in a separate pass every epoch instead, as the authors'
code does. The SupCon weight defaults to 1, not the paper's 0.02–0.05, and a class task may own
``class_axes`` > 1 axes (the authors' code allows a subspace per task); README ("Domain
Expansion") says why.
"""

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from orthomtl.config import ModelConfig, OptimConfig, TrainerConfig
from orthomtl.data import Batch, TaskData, random_uniform, two_views
from orthomtl.engine import Method, ReduceSum, SharedTaskLosses, Stage, gather_global_batch
from orthomtl.methods.domain_expansion._axis_losses import AxisLosses
from orthomtl.methods.domain_expansion._readout_network import ReadoutOptions
from orthomtl.methods.domain_expansion._readouts import DomainExpansionReadouts
from orthomtl.metrics.functional import score_on_axes
from orthomtl.nn import build_encoder
from orthomtl.pooling import (
    OrthogonalPooling,
    PoolingOptions,
    axes_count,
    statistics_buffer_names,
    task_axes,
)
from orthomtl.registry import METHODS
from orthomtl.tasks import Task


class PooledEncoder(nn.Module):
    """Encoder then orthogonal pooling; ``forward`` returns the latent f and the coefficients c."""

    def __init__(self, encoder: nn.Module, pooling: OrthogonalPooling) -> None:
        super().__init__()
        self.encoder, self.pooling = encoder, pooling

    def forward(self, x: Tensor, sample: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The latent and its coefficients; ``sample`` marks the rows that enter the statistics."""
        features = self.encoder(x)
        return features, self.pooling(features, sample=sample)


@METHODS.register("domain-expansion")
class DomainExpansion(Method):
    """Stage 1 of Domain Expansion; its ``next_stage`` trains the readouts.

    Args:
        rnc_weight, supcon_weight: loss weights of regression/angle and class tasks.
        rnc_temperature, supcon_temperature: τ of Rank-N-Contrast (2, its paper's default) and
            of SupCon-L2 (0.2; README reports the instability of 0.1 with a high weight).
        supcon_base_temperature: when set (the authors use 0.07), SupCon-L2 is multiplied by
            supcon_temperature / supcon_base_temperature, as in the authors' code, so that the
            paper's SupCon weights (0.02–0.05) mean what they say; with τ = 0.2 and 0.07 a weight
            w there is 2.86 w in the default units.
        cov_fraction: share of each epoch's samples whose features enter the covariance.
        refresh, refresh_every_steps, freeze_after_epoch: when the basis is recomputed (see
            ``OrthogonalPooling``).
        extra_pass: gather the statistics in a separate no-grad pass each epoch (the paper's way).
        solver: eigen solver; ``auto`` uses warm-started subspace iteration for large D.
        class_axes: axes per class task (1 in the paper); regression and angle tasks get one.
        view_shift, view_noise: the two views' random shift (px) and Gaussian noise std.
        readout_epochs: stage 2's epochs.
        readout_lr, readout_weight_decay: stage 2's Adam learning rate and weight decay; by
            default 0.1 × the encoder's (``optim.lr``, ``optim.weight_decay``), as the authors
            train their decoders.
        readout_span: each readout reads only its task's coefficients, so its weight on f stays in
            the span of the task's axes (default: the raw latent, as the paper).
        composition: how evaluation composes concepts, the keyword options of
            ``orthomtl.metrics.functional.composition_similarity``: ``solve`` (``per-task`` or
            the paper's ``stacked``), ``class_target`` (``centre`` or the paper's ``swap``) and
            ``rcond``.
    """

    summary = "Domain Expansion: orthogonal pooling, one latent axis per task (arXiv 2601.20069)"
    shards_evaluation = False

    def __init__(
        self,
        tasks: Sequence[Task],
        input_shape: Sequence[int],
        model: ModelConfig,
        *,
        rnc_weight: float = 1.0,
        supcon_weight: float = 1.0,
        rnc_temperature: float = 2.0,
        supcon_temperature: float = 0.2,
        supcon_base_temperature: float | None = None,
        cov_fraction: float = 0.1,
        refresh: Literal["epoch", "steps", "frozen"] = "epoch",
        refresh_every_steps: int | None = None,
        freeze_after_epoch: int | None = None,
        extra_pass: bool = False,
        solver: Literal["auto", "eigh", "subspace"] = "auto",
        class_axes: int = 1,
        view_shift: int = 2,
        view_noise: float = 0.05,
        readout_epochs: int = 30,
        readout_lr: float | None = None,
        readout_weight_decay: float | None = None,
        readout_span: bool = False,
        composition: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(tasks, input_shape, model)
        if len(input_shape) != 3:
            raise ValueError("domain-expansion's two views need image inputs (C, H, W).")
        for name, value in (("rnc_weight", rnc_weight), ("supcon_weight", supcon_weight)):
            if value <= 0:
                raise ValueError(f"method.{name} must be > 0, got {value}.")
        self.readout = ReadoutOptions(
            readout_epochs, readout_lr, readout_weight_decay, readout_span, composition or {}
        )
        self.axes = task_axes(self.tasks, class_axes)
        if axes_count(self.axes) > model.latent_dim:
            raise ValueError(
                f"domain-expansion needs {axes_count(self.axes)} latent axes ({class_axes} per "
                f"class task, 1 per other task) but model.latent_dim is {model.latent_dim}; lower "
                "method.class_axes or raise model.latent_dim."
            )
        encoder = build_encoder(
            model.encoder, input_shape, model.latent_dim, model.encoder_options, final_bias=False
        )
        options = PoolingOptions(
            cov_fraction=cov_fraction,
            refresh=refresh,
            refresh_every_steps=refresh_every_steps,
            freeze_after_epoch=freeze_after_epoch,
            solver=solver,
        )
        pooling = OrthogonalPooling(model.latent_dim, axes_count(self.axes), options)
        self.model = PooledEncoder(encoder, pooling)
        self.objective = AxisLosses(
            self.tasks,
            self.axes,
            rnc_weight=rnc_weight,
            supcon_weight=supcon_weight,
            rnc_temperature=rnc_temperature,
            supcon_temperature=supcon_temperature,
            supcon_base_temperature=supcon_base_temperature,
        )
        self.cov_fraction, self.extra_pass = cov_fraction, extra_pass
        self.view_shift, self.view_noise = view_shift, view_noise
        self.epoch, self.steps = 0, 0
        self.last_refresh: dict[str, float] = {}

    @property
    def pooling(self) -> OrthogonalPooling:
        return self.network.pooling

    # --- the basis ---------------------------------------------------------------------------
    def _reduce_sum(self, tensor: Tensor) -> Tensor:
        return self.fabric.all_reduce(tensor, reduce_op="sum")

    @torch.no_grad()
    def _statistics_pass(self, epoch: int) -> None:
        """Features of ``cov_fraction`` of the training data, in eval mode, into the statistics."""
        network = self.network
        network.eval()
        self.pooling.reset_statistics()
        for batch in self.train_subset(self.cov_fraction, epoch):
            if len(batch):
                self.pooling.accumulate(network.encoder(batch.x))
        network.train()

    def _refresh(self) -> None:
        self.last_refresh = self.pooling.refresh(self._reduce_sum)

    def on_epoch_start(self, epoch: int) -> None:
        self.epoch = epoch
        pooling = self.pooling
        if self.extra_pass or not bool(pooling.initialized):
            self._statistics_pass(epoch)
            self._refresh()
        elif pooling.should_refresh(epoch, self.steps, epoch_start=True):
            self._refresh()
        options = pooling.options
        frozen = options.refresh == "frozen" and epoch >= (options.freeze_after_epoch or 0)
        pooling.collect = not (self.extra_pass or frozen)

    def _sample(self, index: Tensor) -> Tensor:
        """Which of the 2B view rows enter the statistics: a ``cov_fraction`` share keyed on
        (seed, epoch, index, view), so that 1 and N processes gather the same rows."""
        keys = np.concatenate([2 * index.cpu().numpy(), 2 * index.cpu().numpy() + 1])
        u = random_uniform(keys.astype(np.uint64), seed=self.seed, epoch=self.epoch, fixed=False)
        return torch.from_numpy(u < self.cov_fraction)

    def artifacts(self) -> dict[str, Any]:
        """``basis_history.json``: per refresh, each axis's |cos| with its predecessor and its
        explained-variance ratio."""
        return {"basis_history": list(self.pooling.history)}

    def rank_local_buffers(self) -> list[str]:
        return statistics_buffer_names(self.model)

    def on_save_checkpoint(self) -> None:
        """Sum the ranks' statistics onto rank 0 (the one that saves); the others restart at 0."""
        self.pooling.reduce_statistics(self._reduce_sum)
        if self.fabric.global_rank != 0:
            self.pooling.reset_statistics()

    def on_load_checkpoint(self) -> None:
        if self.fabric.global_rank != 0:  # rank 0's file holds the sum of all ranks
            self.pooling.reset_statistics()

    def on_after_optimizer_step(self, batch: Batch, losses: dict[str, Tensor]) -> None:
        self.steps += 1
        if self.pooling.options.refresh == "steps" and self.pooling.should_refresh(
            self.epoch, self.steps, epoch_start=False
        ):
            self._refresh()

    def on_epoch_end(self, epoch: int) -> dict[str, float]:
        return {f"basis/{k}": v for k, v in self.last_refresh.items()}

    # --- training ----------------------------------------------------------------------------
    def _views(self, batch: Batch) -> Tensor:
        """The batch's two views of every image, stacked: (2B, ...)."""
        first, second = two_views(
            batch.x,
            batch.index,
            seed=self.seed,
            epoch=self.epoch,
            max_shift=self.view_shift,
            noise_std=self.view_noise,
        )
        return torch.cat([first, second])

    def training_step(self, batch: Batch) -> dict[str, Tensor]:
        sample = self._sample(batch.index) if self.pooling.collect else None
        _, coefficients = self.model(self._views(batch), sample)
        targets = {k: torch.cat([v, v]) for k, v in batch.targets.items()}
        if self.fabric.world_size > 1:
            coefficients, targets = gather_global_batch(self.fabric, coefficients, targets)
        losses = self.objective(coefficients, targets)
        total = self.objective.total(losses)
        return {**{f"{k}/loss": v.detach() for k, v in losses.items()}, "total": total}

    def shared_task_losses(self, batch: Batch) -> SharedTaskLosses:
        """Each task's axis loss L_m on this rank's two views (statistics not collected), and the
        encoder's parameters, which every axis shares."""
        network = self.network
        collect, self.pooling.collect = self.pooling.collect, False
        try:
            _, coefficients = network(self._views(batch))
        finally:
            self.pooling.collect = collect
        targets = {k: torch.cat([v, v]) for k, v in batch.targets.items()}
        return self.objective(coefficients, targets), list(network.encoder.parameters())

    # --- evaluation --------------------------------------------------------------------------
    @torch.no_grad()
    def latents(self, batches: Iterable[Batch]) -> tuple[Tensor, Tensor, dict[str, np.ndarray]]:
        """Features f, coefficients c and labels of a whole split (eval mode)."""
        network = self.network
        network.eval()
        features, labels = [], {t.name: [] for t in self.tasks}
        for batch in batches:
            features.append(network.encoder(batch.x).cpu())
            for name in labels:
                labels[name].append(batch.targets[name].cpu())
        f = torch.cat(features)
        coefficients = self.pooling(f)  # in eval mode: evaluation data never enters the statistics
        network.train()
        return f, coefficients, {k: torch.cat(v).numpy() for k, v in labels.items()}

    def evaluate(self, batches: Iterable[Batch], reduce_sum: ReduceSum) -> dict[str, float]:
        """Per task the latent metric of its axis (Spearman or V-score), their mean as ``score``,
        and the stage-1 losses on the clean inputs as ``loss``."""
        _, coefficients, labels = self.latents(batches)
        scores = score_on_axes(coefficients.numpy(), labels, self.tasks, axes=self.axes, seed=0)
        out = {f"{name}/{s.metric}": s.value for name, s in scores.items()}
        out["score"] = float(np.nanmean(list(out.values())))
        doubled = {k: torch.as_tensor(np.concatenate([v, v])) for k, v in labels.items()}
        losses = self.objective(torch.cat([coefficients, coefficients]), doubled)
        out["loss"] = float(self.objective.total(losses))
        return out

    def outputs(self, x: Tensor) -> dict[str, Tensor]:
        raise NotImplementedError(
            "Stage 1 of domain-expansion has no task heads; predictions come from its readouts "
            "(stage 2). Load the finished run with orthomtl.load(run_dir)."
        )

    def encode(self, x: Tensor) -> Tensor:
        return self.network.encoder(x)

    def extra_state(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "steps": self.steps, "last_refresh": dict(self.last_refresh)}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.epoch, self.steps = state["epoch"], state["steps"]
        self.last_refresh = dict(state["last_refresh"])

    def next_stage(
        self, trainer: TrainerConfig, optim: OptimConfig, run_dir: Path, data: TaskData | None
    ) -> Stage:
        """Stage 2: the readouts on the frozen encoder and basis (``ReadoutOptions``)."""
        network = self.network
        readouts = DomainExpansionReadouts(
            self.tasks,
            self.input_shape,
            self.model_config,
            encoder=network.encoder,
            pooling=network.pooling,
            axes=self.axes,
            cov_fraction=self.cov_fraction,
            span=self.readout.span,
            composition=self.readout.composition,
        )
        return Stage("readouts", readouts, self.readout.trainer(trainer), self.readout.optim(optim))
