"""The dual-encoder method and the models it is compared with, on the engine.

One engine epoch is one round of the alternating optimisation (arXiv 2505.24281, as reconstructed
in our notes): the epoch's Adam steps on the encoders with the coefficients fixed (the per-task
mean loss plus λ_o Σ_r ‖S̄_rᵀC̄_r‖_F²), then ``prox_steps`` proximal steps on the coefficients and
centre steps (``_proximal``) on the whole training split's latents, then validation of every
configuration and task (``_snapshots``) and the selection (``_selection``). The coefficients are
also fitted once before the first Adam step, so that the encoders' first gradients are not zero.

``TabularMTL`` is the engine's ``Method`` for every member of the family; ``_variants`` registers
the dual encoder and each baseline as a method of its own.
"""

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from lightning_fabric import Fabric
from torch import Tensor, nn

from orthomtl.config import ModelConfig
from orthomtl.data import Batch
from orthomtl.engine import (
    LinearReadouts,
    Method,
    ReduceSum,
    SharedTaskLosses,
    SplitBatches,
    TrainSubset,
)
from orthomtl.losses import orthogonality_penalty
from orthomtl.methods.dual_encoder._model import (
    Configuration,
    DualEncoderMTL,
    SharedKind,
    penalty_weights,
)
from orthomtl.methods.dual_encoder._network import DualEncoderNetwork
from orthomtl.methods.dual_encoder._proximal import (
    Coefficients,
    PenaltyKind,
    TaskLinearProblem,
    penalty_value,
    proximal_steps,
)
from orthomtl.methods.dual_encoder._rows import TaskRows
from orthomtl.methods.dual_encoder._selection import fallback_to_single_task, select
from orthomtl.methods.dual_encoder._validation import (
    configuration_losses,
    paired_gain,
    served_metrics,
)
from orthomtl.tasks import Task


class TabularMTL(Method):
    """A member of the dual-encoder family on multi-source tabular data (see ``_variants``).

    Args:
        configurations: the configurations selected among (validation), at most 8.
        single_task_dims: widths q of the single-task MLPs trained alongside, the reference for
            each task's gain of sharing and for ``fallback``; empty for none.
        shared: the shared block: ``mlp``, ``identity`` (raw features, linear models) or
            ``none``.
        penalty: ``centre`` or ``ridge``; ``tied`` ties β across tasks (pooled models).
        centres: which centre penalties are on, of ``alpha`` and ``beta`` (the ablations).
        per_task_selection: select a configuration per task (single-task models).
        fallback: ``stl`` serves a task by its single-task fit when validation says sharing
            does not help it; ``none`` never.
        early_stopping: ``per-task`` serves each task from its own best round; ``joint`` serves
            every task from the round with the best mean validation loss.
        hidden, activation: the encoders' hidden widths and activation.
        prox_steps: proximal and centre steps per round; the fit before the first round (all
            of a linear model's fit) takes ``max_prox_steps``.
    """

    MODEL_KEYS = frozenset()
    refit_standardisation: bool = True
    """False keeps the standardisation the model was built with (a transferred encoder's)."""
    fixed_centres: bool = False
    """True keeps the centres where the model was built with them (transfer)."""

    def __init__(
        self,
        tasks: Sequence[Task],
        input_shape: Sequence[int],
        model: ModelConfig,
        *,
        configurations: Sequence[Configuration],
        single_task_dims: Sequence[int] = (),
        shared: SharedKind = "mlp",
        penalty: PenaltyKind = "centre",
        centres: Sequence[str] = ("alpha", "beta"),
        tied: bool = False,
        per_task_selection: bool = False,
        fallback: str = "none",
        early_stopping: str = "per-task",
        hidden: Sequence[int] = (32,),
        activation: str = "relu",
        prox_steps: int = 10,
        max_prox_steps: int = 2000,
    ) -> None:
        super().__init__(tasks, input_shape, model)
        self.rows = TaskRows(tasks)
        if len(self.input_shape) != 1:
            raise ValueError(
                f"The dual-encoder family takes tabular inputs (N, d); got one input of shape "
                f"{self.input_shape}. Use a tabular dataset (tabular, malsar, hetero-sim)."
            )
        if early_stopping not in ("per-task", "joint"):
            raise ValueError(
                f"early_stopping must be 'per-task' or 'joint', got {early_stopping!r}."
            )
        if fallback not in ("none", "stl"):
            raise ValueError(f"fallback must be 'none' or 'stl', got {fallback!r}.")
        if fallback == "stl" and not single_task_dims:
            raise ValueError("fallback: stl needs single-task fits; set single_task_dims.")
        if unknown := set(centres) - {"alpha", "beta"}:
            raise ValueError(f"centres lists 'alpha' and/or 'beta'; got {sorted(unknown)}.")
        self.centres = tuple(centres)
        if prox_steps < 1 or max_prox_steps < prox_steps:
            raise ValueError("prox_steps must be >= 1 and max_prox_steps >= prox_steps.")
        singles = [Configuration(0, int(q), 0.0, 0.0, single_task=True) for q in single_task_dims]
        self.configurations = [*configurations, *singles]
        self.penalty_kind, self.tied, self.per_task_selection = penalty, tied, per_task_selection
        self.fallback, self.prox_steps, self.max_prox_steps = fallback, prox_steps, max_prox_steps
        net = DualEncoderMTL(
            len(tasks), self.input_shape[0], self.configurations, hidden, activation, shared
        )
        self.model = DualEncoderNetwork(net, per_task_stopping=early_stopping == "per-task")
        self.candidates = torch.tensor([not c.single_task for c in self.configurations])
        self.orthogonality = torch.tensor([c.orthogonality for c in self.configurations])

    # --- set-up -------------------------------------------------------------------------------
    @property
    def net(self) -> DualEncoderMTL:
        return self.network.net

    def attach(
        self,
        fabric: Fabric,
        train_subset: TrainSubset,
        seed: int,
        max_epochs: int = 1,
        val_batches: SplitBatches | None = None,
    ) -> None:
        """Fit the input standardisation and count each task's training rows."""
        super().attach(fabric, train_subset, seed, max_epochs, val_batches)
        d, R = self.input_shape[0], len(self.tasks)
        sums = torch.zeros(2 * d + R, dtype=torch.float64)
        for batch in self.train_subset(1.0, 0):
            x = batch.x.double()
            sums[:d] += x.sum(0)
            sums[d : 2 * d] += x.pow(2).sum(0)
            sums[2 * d :] += torch.bincount(self.rows.source(batch), minlength=R)
        sums = self._reduce(sums.to(self.fabric.device))
        counts = sums[2 * d :]
        if (counts < 1).any():
            empty = [t.name for t, n in zip(self.tasks, counts.tolist(), strict=True) if n < 1]
            raise ValueError(f"Tasks {empty} have no training rows; drop them or add data.")
        if self.refit_standardisation:
            self.net.fit_standardisation(
                *(t.float() for t in (sums[:d], sums[d : 2 * d])), counts.sum().float()
            )
        self.task_rows = counts.float()
        self.penalties = penalty_weights(
            self.configurations,
            self.task_rows.cpu(),
            identity_width=self.net.p if self.net.shared_kind == "identity" else None,
            kind=self.penalty_kind,
            centres=self.centres,
            tied=self.tied,
            fixed_centres=self.fixed_centres,
        ).to(self.net.theta.device)

    def _reduce(self, tensor: Tensor) -> Tensor:
        if self.fabric.world_size == 1:
            return tensor
        return self.fabric.all_reduce(tensor, reduce_op="sum")

    def _global_sum(self, tensor: Tensor) -> Tensor:
        """The sum over processes, whose gradient reaches this process's part; scaled so that
        DDP's averaging of the ranks' gradients gives the single-process gradient."""
        world = self.fabric.world_size
        if world == 1:
            return tensor
        total = self.fabric.all_reduce(tensor.detach().clone(), reduce_op="sum")  # in place
        return total + world * (tensor - tensor.detach())

    # --- training -----------------------------------------------------------------------------
    def training_step(self, batch: Batch) -> dict[str, Tensor]:
        source, y = self.rows.source(batch), self.rows.targets(batch)
        features, eta = self.model(batch.x, source)
        R, net = len(self.tasks), self.net
        sums = eta.new_zeros(eta.shape[0], R).index_add(1, source, self.rows.loss_of(eta, y))
        counts = self._reduce(torch.bincount(source, minlength=R).to(eta.dtype)).clamp(min=1)
        data = (self._global_sum(sums) / counts).sum()
        total, logged = data, {"data": data.detach()}
        weights = self.orthogonality.to(eta.device)
        if net.q and net.p and bool((weights > 0).any()):
            s, c = features[..., : net.q], features[..., net.q : net.q + net.p]
            penalty = orthogonality_penalty(s, c, source, R, self._global_sum).sum(-1)
            total = total + (weights * penalty).sum()
            logged["orthogonality"] = penalty.detach().mean()
        return {**logged, "total": total}

    def parameter_groups(self) -> list[nn.Parameter]:
        return [p for p in self.net.parameters() if p.requires_grad]

    def shared_task_losses(self, batch: Batch) -> SharedTaskLosses | None:
        """Each task's mean loss on its rows of ``batch``, summed over the configurations, and
        the shared encoder C of every configuration (``None`` without a trainable one)."""
        shared = self.net.shared
        if shared is None or not any(p.requires_grad for p in shared.parameters()):
            return None
        source, y = self.rows.source(batch), self.rows.targets(batch)
        _, eta = self.net(batch.x, source)
        per_row = self.rows.loss_of(eta, y)
        losses = {
            t.name: per_row[:, source == r].sum(1).div(max(int((source == r).sum()), 1)).sum()
            for r, t in enumerate(self.tasks)
        }
        return losses, list(shared.parameters())

    def on_epoch_start(self, epoch: int) -> None:
        if epoch == 0:
            self._fit_coefficients(epoch, self.max_prox_steps)

    def on_epoch_end(self, epoch: int) -> dict[str, float]:
        objective = self._fit_coefficients(epoch, self.prox_steps)
        losses = configuration_losses(self.network, self._val(), self.rows, self._reduce)
        self.network.per_task.update(self.net, losses, epoch)
        self.network.joint.update(self.net, losses.mean(1, keepdim=True).expand_as(losses), epoch)
        self._serve()
        return {f"objective/{g}": v for g, v in enumerate(objective.tolist())}

    # --- the coefficient round ------------------------------------------------------------------
    @torch.no_grad()
    def _training_rows(self, epoch: int) -> tuple[Tensor, Tensor, Tensor]:
        """The latents [S, C, 1] (G, N, K), targets and sources of this rank's training rows."""
        features, targets, sources = [], [], []
        for batch in self.train_subset(1.0, epoch):
            source = self.rows.source(batch)
            features.append(self.net(batch.x, source)[0])
            targets.append(self.rows.targets(batch))
            sources.append(source)
        return torch.cat(features, dim=1), torch.cat(targets), torch.cat(sources)

    def _val(self) -> Iterable[Batch]:
        if self.val_batches is None:
            raise RuntimeError(
                "The dual-encoder family validates every round; run it on the engine."
            )
        return self.val_batches()

    def _problem(self, features: Tensor, y: Tensor, source: Tensor) -> TaskLinearProblem:
        reduce = self._reduce if self.fabric.world_size > 1 else None
        return TaskLinearProblem.of_rows(
            features, y, source, len(self.tasks), self.rows.loss, reduce
        )

    @torch.no_grad()
    def _fit_coefficients(self, epoch: int, steps: int) -> Tensor:
        """``steps`` proximal and centre steps on this epoch's training latents; the objective
        after them, (G,)."""
        net = self.net
        features, y, source = self._training_rows(epoch)
        problem = self._problem(features, y, source)
        fitted = proximal_steps(
            problem, Coefficients(net.theta, net.centre, net.q, net.p), self.penalties, steps
        )
        net.theta.copy_(fitted.theta * net.feature_mask[:, None, :])
        net.centre.copy_(fitted.centre * net.feature_mask[:, :-1])
        return self._objective(problem, features, source)

    @torch.no_grad()
    def objective(self, epoch: int) -> Tensor:
        """The objective of every configuration on the training split, (G,): Σ_r f_r + the
        coefficient penalties + λ_o Σ_r ‖S̄_rᵀC̄_r‖_F²."""
        features, y, source = self._training_rows(epoch)
        return self._objective(self._problem(features, y, source), features, source)

    def _objective(self, problem: TaskLinearProblem, features: Tensor, source: Tensor) -> Tensor:
        net = self.net
        coefficients = Coefficients(net.theta, net.centre, net.q, net.p)
        total = problem.value(net.theta).sum(-1) + penalty_value(coefficients, self.penalties)
        if net.q and net.p:
            s, c = features[..., : net.q], features[..., net.q : net.q + net.p]
            reduce = self._reduce if self.fabric.world_size > 1 else None
            orth = orthogonality_penalty(s, c, source, len(self.tasks), reduce).sum(-1)
            total = total + self.orthogonality.to(total.device) * orth
        return total

    # --- validation, selection and serving ------------------------------------------------------
    @torch.no_grad()
    def _serve(self) -> None:
        """Select the configurations, measure the gain of sharing, and set what serves each
        task."""
        network = self.network
        best = network.serving.best_loss
        selected = select(best, self.candidates.to(best.device), self.per_task_selection)
        singles = ~self.candidates.to(best.device)
        served = selected
        if bool(singles.any()):
            single = select(best, singles, per_task=True)
            gain = paired_gain(network, self._val(), self.rows, selected, single, self._reduce)
            network.gain.copy_(torch.stack([gain.gain, gain.standard_error, gain.rows]))
            if self.fallback == "stl":
                served = fallback_to_single_task(selected, single, gain.gain)
        network.served.copy_(served)
        network.selected.copy_(selected)

    # --- evaluation and inference ----------------------------------------------------------------
    def evaluate(self, batches: Iterable[Batch], reduce_sum: ReduceSum) -> dict[str, float]:
        """See ``served_metrics``."""
        return served_metrics(self.network, batches, self.rows, reduce_sum)

    @torch.no_grad()
    def outputs(self, x: Tensor) -> dict[str, Tensor]:
        """Every task's served model on every row of ``x`` (N, d)."""
        eta = self.network.serve_all(x)
        return {t.name: self.rows.raw_outputs(eta[r]) for r, t in enumerate(self.tasks)}

    @torch.no_grad()
    def encode(self, x: Tensor) -> Tensor:
        """The shared latent C(x) of the selected configuration at its best mean validation
        round, (N, p); the standardised inputs for linear models; every task's S_r(x) side by
        side without a shared block."""
        return self.network.shared_latent(x)

    def linear_readouts(self) -> LinearReadouts | None:
        """The shared part's readouts of ``encode``'s C(x), β_r and b_r of the served joint
        snapshot (``DualEncoderNetwork.shared_readouts``)."""
        binary = [t.kind == "classification" for t in self.tasks]
        readouts = self.network.shared_readouts(binary)
        names = [t.name for t in self.tasks]
        return None if readouts is None else dict(zip(names, readouts, strict=True))

    def artifacts(self) -> dict[str, Any]:
        """``dual_encoder.json``: see ``DualEncoderNetwork.record``."""
        names = [t.name for t in self.tasks]
        return {"dual_encoder": self.network.record(self.configurations, names, self.fallback)}
