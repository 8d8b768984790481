"""The one training loop that every method reuses, on Lightning Fabric.

``Engine.fit`` runs epochs of ``method.training_step`` → ``method.backward`` → clip → step, with
validation every N epochs, early stopping, best and last checkpoints, CSV and TensorBoard logs,
a rank-0 progress bar, and exact resumption from a checkpoint written mid-epoch. Fabric supplies
devices, DDP, ``all_reduce``, checkpoint I/O and the loggers.
"""

import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from lightning_fabric import Fabric
from torch.nn.parallel import DistributedDataParallel
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from orthomtl.config import OptimConfig, TrainerConfig
from orthomtl.data import Batch, GlobalBatchSampler, TaskData, TaskDataset
from orthomtl.engine import _checkpoint as checkpoint
from orthomtl.engine._distributed import prepare_batchnorm, require_finite_everywhere
from orthomtl.engine._loaders import make_loader, training_subset
from orthomtl.engine._logger import RunLogger
from orthomtl.engine._method import Method
from orthomtl.engine._optim import build_optimizer, build_scheduler
from orthomtl.engine._rundir import write_text_atomic
from orthomtl.engine._state import Progress, restore_training_state, training_state


class Callback:
    """Observes the engine's loop; every hook does nothing unless overridden.

    As in Lightning, a callback subclasses ``Callback`` and overrides the hooks it needs. A method
    named ``on_...`` that is not one of the hooks below is refused when the subclass is defined,
    so a misspelt hook is an error rather than a hook that never runs.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        hooks = {name for name in vars(Callback) if name.startswith("on_")}
        for name in vars(cls):
            if name.startswith("on_") and name not in hooks:
                raise TypeError(
                    f"{cls.__name__}.{name} is not a callback hook; the hooks are "
                    f"{', '.join(sorted(hooks))}."
                )

    def on_fit_start(self, engine: "Engine") -> None:
        """When ``Engine.fit`` starts, after a checkpoint it resumes from is restored
        (``engine.progress.step`` is the step training continues from)."""

    def on_epoch_start(self, engine: "Engine") -> None:
        """Before each epoch's first batch, before the method's own ``on_epoch_start``."""

    def on_train_batch_end(
        self, engine: "Engine", batch: Batch, losses: dict[str, torch.Tensor]
    ) -> None:
        """After each optimiser step, with the step's batch and its (detached) losses."""

    def on_epoch_end(self, engine: "Engine") -> None:
        """After each epoch's last batch, after the method's own ``on_epoch_end``."""

    def on_validation_end(self, engine: "Engine", metrics: dict[str, float]) -> None:
        """After each validation, with its metrics (``val/<task>/<metric>``, ``val/loss``)."""


def check_callbacks(callbacks: Sequence[Callback]) -> None:
    """Raise ``TypeError`` on a callback that does not subclass ``Callback``."""
    for callback in callbacks:
        if not isinstance(callback, Callback):
            raise TypeError(
                f"callbacks must subclass orthomtl.engine.Callback; got {type(callback).__name__}."
            )


class Engine:
    """Trains ``method`` on ``data``; see the module docstring."""

    def __init__(
        self,
        fabric: Fabric,
        method: Method,
        data: TaskData,
        run_dir: Path,
        trainer: TrainerConfig,
        optim: OptimConfig,
        *,
        seed: int,
        batch_size: int,
        eval_batch_size: int,
        num_workers: int = 0,
        stratify_by_source: bool = True,
        config: dict[str, Any] | None = None,
        callbacks: Sequence[Callback] = (),
    ) -> None:
        check_callbacks(callbacks)
        self.fabric, self.method, self.data, self.trainer = fabric, method, data, trainer
        self.run_dir = Path(run_dir)
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.seed, self.config, self.callbacks = seed, config or {}, callbacks
        self.num_workers, self.eval_batch_size = num_workers, eval_batch_size
        self.stratify_by_source = stratify_by_source
        self.train_loader, self.sampler = self._loader(data.train, batch_size, train=True)
        self.steps_per_epoch = len(self.sampler)
        method.model = prepare_batchnorm(fabric, method.model, trainer.sync_batchnorm)
        params = list(method.parameter_groups())
        self.optimizer: Optimizer | None = None
        self.scheduler: LambdaLR | None = None
        if params:
            optimizer = build_optimizer(params, optim)
            self.scheduler = build_scheduler(
                optimizer, optim, trainer.max_epochs * self.steps_per_epoch, self.steps_per_epoch
            )
            if fabric.world_size > 1 and (local := method.rank_local_buffers()):
                DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
                    method.model, local
                )
            method.model, self.optimizer = fabric.setup(method.model, optimizer)
        else:  # nothing to optimise (a closed-form fit): no optimiser, and no DDP wrapper
            method.model = method.model.to(fabric.device)
        method.attach(fabric, self._train_subset, seed, trainer.max_epochs, self._val_batches)
        self.progress = Progress()

    # --- data ------------------------------------------------------------------------------------
    def _loader(
        self, dataset: TaskDataset, batch_size: int, train: bool, shard: bool = True
    ) -> tuple[DataLoader, GlobalBatchSampler]:
        return make_loader(
            self.fabric,
            dataset,
            batch_size,
            seed=self.seed,
            train=train,
            shard=shard,
            num_workers=self.num_workers,
            stratify_by_source=self.stratify_by_source,
        )

    def _val_batches(self) -> Iterable[Batch]:
        """This rank's share of the validation split."""
        return self._loader(self.data.val, self.eval_batch_size, train=False)[0]

    def _train_subset(self, fraction: float, epoch: int) -> Iterable[Batch]:
        """This rank's share of a random ``fraction`` of the training split, drawn from
        ``(seed, epoch)``, with that epoch's augmentations."""
        subset = training_subset(self.data.train, fraction, seed=self.seed, epoch=epoch)
        return self._loader(subset, self.eval_batch_size, train=False)[0]

    # --- checkpoints -----------------------------------------------------------------------------
    def save(self, name: str) -> None:
        self.progress.wall_time += time.perf_counter() - self._segment_start
        self._segment_start = time.perf_counter()
        if self.fabric.is_global_zero:
            self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        self.fabric.barrier()
        self.method.on_save_checkpoint()
        state = training_state(
            self.method, self.optimizer, self.scheduler, self.progress, self.config
        )
        checkpoint.save_atomic(self.fabric, self.ckpt_dir / name, state)

    def restore(self, path: Path) -> None:
        """Load a full training state (model, optimiser, scheduler, method, RNG, progress)."""
        self.progress = restore_training_state(
            self.fabric, path, self.method, self.optimizer, self.scheduler
        )

    # --- logging ---------------------------------------------------------------------------------
    def log(self, metrics: dict[str, float]) -> None:
        self.logger.log(metrics, step=self.progress.step)

    # --- evaluation ------------------------------------------------------------------------------
    def evaluate(self, split: str) -> dict[str, float]:
        dataset = getattr(self.data, split)
        if not self.method.shards_evaluation:
            loader, _ = self._loader(dataset, self.eval_batch_size, train=False, shard=False)
            return self.method.evaluate(loader, lambda t: t)
        loader, _ = self._loader(dataset, self.eval_batch_size, train=False)
        return self.method.evaluate(loader, lambda t: self.fabric.all_reduce(t, reduce_op="sum"))

    def _validate(self, epoch: int) -> bool:
        """Validate, update best checkpoint and early stopping; return True to stop."""
        metrics = {f"val/{k}": v for k, v in self.evaluate("val").items()}
        self.log({**metrics, "epoch": epoch})
        for callback in self.callbacks:
            callback.on_validation_end(self, metrics)
        key = self.trainer.monitor
        if key not in metrics:
            raise KeyError(
                f"trainer.monitor={key!r} is not a validation metric. Available: {sorted(metrics)}."
            )
        value, best = metrics[key], self.progress.best_value
        better = best is None or (
            value < best if self.trainer.monitor_mode == "min" else value > best
        )
        if better:
            self.progress.best_value, self.progress.best_epoch = value, epoch
            self.progress.bad_rounds = 0
            self.save("best.ckpt")
            return False
        self.progress.bad_rounds += 1
        patience = self.trainer.early_stopping_patience
        return patience is not None and self.progress.bad_rounds >= patience

    # --- training --------------------------------------------------------------------------------
    def _train_batch(self, batch: Batch) -> dict[str, torch.Tensor]:
        method, optimizer, scheduler = self.method, self.optimizer, self.scheduler
        if optimizer is None or scheduler is None:  # a closed-form fit: the step only gathers
            losses = method.training_step(batch)
        else:
            with self.fabric.no_backward_sync(method.model, enabled=method.syncs_own_gradients):
                losses = method.training_step(batch)
                self._require_finite(losses)
                optimizer.zero_grad(set_to_none=True)
                method.backward(losses)
            if self.trainer.grad_clip is not None:
                self.fabric.clip_gradients(method.model, optimizer, max_norm=self.trainer.grad_clip)
            optimizer.step()
            scheduler.step()
        self.progress.step += 1
        self.progress.batch += 1
        method.on_after_optimizer_step(batch, losses)
        return {k: v.detach() for k, v in losses.items()}

    def _require_finite(self, losses: dict[str, torch.Tensor]) -> None:
        require_finite_everywhere(
            self.fabric,
            losses["total"],
            f"at epoch {self.progress.epoch}, step {self.progress.step}. Lower optim.lr or set "
            f"trainer.grad_clip; the last checkpoint is in {self.ckpt_dir}.",
        )

    def _log_step(self, losses: dict[str, torch.Tensor]) -> None:
        names = sorted(losses)
        values = self.fabric.all_reduce(
            torch.stack([losses[n].float() for n in names]), reduce_op="mean"
        )
        logged = {f"train/{n}": float(v) for n, v in zip(names, values, strict=True)}
        if self.scheduler is not None:
            logged["lr"] = self.scheduler.get_last_lr()[0]
        self.log({**logged, "epoch": self.progress.epoch})

    def _run_epoch(self, epoch: int) -> None:
        start = self.progress.batch
        self.data.train.set_epoch(epoch)
        self.sampler.set_epoch(epoch, start)
        for callback in self.callbacks:
            callback.on_epoch_start(self)
        if start == 0:
            self.method.on_epoch_start(epoch)
        bar = tqdm(
            total=self.steps_per_epoch,
            initial=start,
            desc=f"epoch {epoch + 1}/{self.trainer.max_epochs}",
            # None: tqdm shows the bar on a terminal only, keeping logs and CI output clean
            disable=None if self.trainer.progress_bar and self.fabric.is_global_zero else True,
            leave=False,
        )
        every_ckpt = self.trainer.checkpoint_every_n_steps
        for batch in self.train_loader:
            losses = self._train_batch(batch)
            if self.progress.step % self.trainer.log_every_n_steps == 0:
                self._log_step(losses)
            bar.update()
            bar.set_postfix(loss=f"{float(losses['total']):.4f}", refresh=False)
            if every_ckpt and self.progress.step % every_ckpt == 0:
                self.save("last.ckpt")
            for callback in self.callbacks:
                callback.on_train_batch_end(self, batch, losses)
        bar.close()
        extra = self.method.on_epoch_end(epoch)
        if extra:
            self.log({f"train/{k}": v for k, v in extra.items()})
        for callback in self.callbacks:
            callback.on_epoch_end(self)

    def fit(self, resume_from: Path | None = None) -> Progress:
        """Train to ``trainer.max_epochs`` (or early stop), from scratch or from a checkpoint."""
        if resume_from is not None:
            self.restore(resume_from)
        self._segment_start = time.perf_counter()
        self.logger = RunLogger(self.run_dir, self.progress.step, self.fabric.is_global_zero)
        for callback in self.callbacks:
            callback.on_fit_start(self)
        try:
            while self.progress.epoch < self.trainer.max_epochs and not self.progress.stopped_early:
                epoch = self.progress.epoch
                self._run_epoch(epoch)
                # the epoch is done: a checkpoint saved from here on (best or last) resumes after it
                self.progress.epoch, self.progress.batch = epoch + 1, 0
                last = epoch + 1 == self.trainer.max_epochs
                if (epoch + 1) % self.trainer.val_every_n_epochs == 0 or last:
                    self.progress.stopped_early = self._validate(epoch)
                self.save("last.ckpt")
        finally:
            self.logger.close()
        if self.fabric.is_global_zero:
            for name, payload in self.method.artifacts().items():
                write_text_atomic(self.run_dir / f"{name}.json", json.dumps(payload, indent=1))
        return self.progress

    def final_metrics(self) -> tuple[dict[str, dict[str, float]], str]:
        """Validation and test metrics of the best (or last) weights, and which weights they are."""
        which = "last"
        if self.trainer.final == "best" and (self.ckpt_dir / "best.ckpt").is_file():
            checkpoint.load_into(
                self.fabric, self.ckpt_dir / "best.ckpt", {"model": self.method.model}
            )
            which = "best"
        return {split: self.evaluate(split) for split in ("val", "test")}, which
