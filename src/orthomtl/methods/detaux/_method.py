"""Detaux (Skenderi et al., ICIAP 2025), stage 1: the product-space autoencoder on pairs.

Pairs (x₁, x₂) come from ``orthomtl.data.PairedDataset``: a share ``share_different`` of them
differ in the principal label. Both images go through the autoencoder in one batch; the losses
are ``DetauxObjective``'s, switched on by the β warm-up over the stage's epochs. ``next_stage``
embeds the data, discovers the auxiliary task(s) (``_discover``) and returns the MTL stage
(``_mtl``).

Our choices where the paper is open: validation scores every term at full weight (β = 1), so
that ``val/loss`` compares epochs; L_dist, L_reg and the oracle's code lengths are computed on
the global batch under DDP (they are not sums over pairs); the 2B consistency swaps are two
distinct subspaces per pair, drawn from (seed, epoch, anchor index).
"""

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from orthomtl.config import ModelConfig, OptimConfig, TrainerConfig
from orthomtl.data import Batch, PairedDataset, TaskData
from orthomtl.engine import Method, ReduceSum, Stage, gather_global_batch
from orthomtl.methods.detaux._autoencoder import ProductSpaceAutoencoder
from orthomtl.methods.detaux._discover import (
    DIRECTORY,
    DiscoveryOptions,
    auxiliary_tasks,
    discover,
    labelled_data,
    read_discovery,
)
from orthomtl.methods.detaux._losses import Hinge, code_lengths, subspace_distances
from orthomtl.methods.detaux._mtl import MTLOptions
from orthomtl.methods.detaux._objective import (
    FULL,
    Beta3,
    Betas,
    DetauxObjective,
    LossOptions,
    swap_draws,
    warmup,
)
from orthomtl.methods.detaux._oracle import PrincipalOracle
from orthomtl.nn import build_decoder, build_encoder, compile_if_possible
from orthomtl.registry import DECODERS, METHODS
from orthomtl.tasks import Task


def principal_task(tasks: Sequence[Task], principal: str | None) -> Task:
    """The principal task: the data's only task, a class task, named ``principal`` if given."""
    names = [t.name for t in tasks]
    if principal is not None and principal not in names:
        raise ValueError(f"method.principal={principal!r} is not a task of the data: {names}.")
    if len(tasks) != 1:
        raise ValueError(
            f"detaux uses only the principal task's labels, but the data has tasks {names}; "
            f"set data.tasks: [{principal or names[0]}] (and method.principal)."
        )
    if tasks[0].kind != "classification":
        raise ValueError(
            f"detaux's principal task must be a class task; {names[0]!r} is {tasks[0].kind}."
        )
    return tasks[0]


@METHODS.register("detaux")
class Detaux(Method):
    """Detaux: weakly supervised disentanglement around the principal task, then auxiliary tasks
    discovered by clustering the most disentangled subspace(s), then MTL on them.

    Args:
        principal: the principal task (default: the data's only task).
        subspaces: K, the number of subspaces.
        subspace_dim: d, the bottleneck width and every subspace's dimension.
        principal_subspace: α, the subspace the principal task's variation is forced into.
        share_different: p, the share of pairs whose principal labels differ.
        oracle_temperature: the softmax temperature of the oracle's argmax.
        dist_weight, spar_weight, cons_weight, reg_weight, margin, hinge, reg_temperature,
            beta3: the losses' settings (``LossOptions``); ``hinge: authors`` and
            ``beta3: authors`` are the authors' code's variants.
        compile: ``torch.compile`` the autoencoder (eager, with a warning, where it cannot).
        channels_last: run the convolutions in channels-last memory format.
        num_aux_tasks: k, the number of auxiliary tasks, one per best live subspace.
        discovery: the options of ``orthomtl.discovery.AuxiliaryTaskDiscovery`` (and ``plots``).
        principal_weight, mtl, mtl_model, mtl_trainer, mtl_optim: the MTL stage (``MTLOptions``).
    """

    summary = "Detaux: disentangle around the principal task, discover auxiliary tasks, train MTL"
    MODEL_KEYS = frozenset({"encoder", "encoder_options", "decoder", "decoder_options"})

    def __init__(
        self,
        tasks: Sequence[Task],
        input_shape: Sequence[int],
        model: ModelConfig,
        *,
        principal: str | None = None,
        subspaces: int = 10,
        subspace_dim: int = 10,
        principal_subspace: int = 0,
        share_different: float = 0.5,
        oracle_temperature: float = 1e-3,
        dist_weight: float = 0.1,
        spar_weight: float = 0.1,
        cons_weight: float = 100.0,
        reg_weight: float = 1e-4,
        margin: float = 0.25,
        hinge: Hinge = "paper",
        reg_temperature: float = 0.1,
        beta3: Beta3 = "paper",
        compile: bool = True,
        channels_last: bool = True,
        num_aux_tasks: int = 1,
        discovery: dict[str, Any] | None = None,
        principal_weight: float = 1.0,
        mtl: dict[str, Any] | None = None,
        mtl_model: dict[str, Any] | None = None,
        mtl_trainer: dict[str, Any] | None = None,
        mtl_optim: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(tasks, input_shape, model)
        self.principal = principal_task(self.tasks, principal)
        if len(self.input_shape) != 3:
            raise ValueError("detaux's autoencoder needs image inputs (C, H, W).")
        if not 0 <= share_different <= 1:
            raise ValueError(f"method.share_different must be in [0, 1], got {share_different}.")
        if not 1 <= num_aux_tasks < subspaces:
            raise ValueError(
                f"method.num_aux_tasks must be in 1..{subspaces - 1} (one subspace each, besides "
                f"the principal one), got {num_aux_tasks}."
            )
        self.losses = LossOptions(
            dist_weight,
            spar_weight,
            cons_weight,
            reg_weight,
            margin,
            hinge,  # type: ignore[arg-type]
            reg_temperature,
            beta3,  # type: ignore[arg-type]
        )
        self.oracle = PrincipalOracle(subspaces, principal_subspace, oracle_temperature)
        self.objective = DetauxObjective(self.losses, self.oracle)
        self.discovery = DiscoveryOptions.from_options(
            discovery,
            num_aux_tasks=num_aux_tasks,
            principal_subspace=principal_subspace,
            margin=margin,
        )
        self.mtl = MTLOptions.from_options(principal_weight, mtl, mtl_model, mtl_trainer, mtl_optim)
        self.share_different, self.channels_last = share_different, channels_last
        decoder = model.decoder or model.encoder
        if decoder not in DECODERS:
            raise ValueError(
                f"model.decoder is not set and no decoder is named like the encoder "
                f"{model.encoder!r}; set model.decoder (e.g. product-space or convnet)."
            )
        network = ProductSpaceAutoencoder(
            build_encoder(model.encoder, input_shape, subspace_dim, model.encoder_options),
            build_decoder(decoder, subspace_dim, input_shape, model.decoder_options),
            subspaces,
        )
        if channels_last:
            network = network.to(memory_format=torch.channels_last)
        if compile:
            compile_if_possible(network, "detaux")
        self.model = network
        self.epoch = 0

    # --- data --------------------------------------------------------------------------------
    def training_data(self, data: TaskData, seed: int) -> TaskData:
        """The splits as pairs around the principal task: fresh pairs every epoch in training,
        one fixed draw for validation and test."""

        def paired(split: Any, fixed: bool) -> PairedDataset:
            return PairedDataset(
                split,
                self.principal.name,
                share_different=self.share_different,
                seed=seed,
                fixed=fixed,
            )

        return TaskData(
            data.name,
            data.tasks,
            paired(data.train, False),
            paired(data.val, True),
            paired(data.test, True),
            data.factor_names,
        )

    def on_epoch_start(self, epoch: int) -> None:
        self.epoch = epoch

    def betas(self) -> Betas:
        """This epoch's multipliers (``warmup``)."""
        return warmup(self.epoch, self.max_epochs, self.losses.beta3)

    # --- training ----------------------------------------------------------------------------
    def _input(self, x: Tensor) -> Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def _terms(
        self, batch: Batch, betas: Betas, fixed: bool
    ) -> tuple[dict[str, Tensor], Tensor, Tensor, Tensor]:
        """The loss terms of a pair batch, and the pairs' codes and ``differs`` flags (global
        under DDP in training)."""
        half = len(batch) // 2
        labels = batch.targets[self.principal.name]
        differs = labels[:half] != labels[half:]
        swaps = None
        if betas.consistency_on:
            anchors = batch.index[:half].cpu().numpy()
            pair, subspace = swap_draws(
                anchors, self.oracle.subspaces, seed=self.seed, epoch=self.epoch, fixed=fixed
            )
            swaps = (pair.to(labels.device), subspace.to(labels.device))
        x = self._input(batch.x)
        codes, reconstruction, recoded, target = self.model(x, swaps)
        first, second = codes[:half], codes[half:]
        if self.fabric.world_size > 1 and not fixed:
            both, gathered = gather_global_batch(
                self.fabric, torch.cat([first, second], dim=1), {"differs": differs.long()}
            )
            first, second = both.chunk(2, dim=1)
            differs = gathered["differs"].bool()
        pair_terms = self.objective.pair_terms(first, second, differs)
        terms = self.objective.terms(x, reconstruction, codes, pair_terms, recoded, target)
        return terms, first, second, differs

    def training_step(self, batch: Batch) -> dict[str, Tensor]:
        betas = self.betas()
        terms = self._terms(batch, betas, fixed=False)[0]
        total = self.objective.total(terms, betas)
        return {**{k: v.detach() for k, v in terms.items()}, "total": total}

    # --- evaluation and inference ------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, batches: Iterable[Batch], reduce_sum: ReduceSum) -> dict[str, float]:
        """Each term at full weight (β = 1) and ``loss``, L with every term on, averaged over
        pairs; ``principal_share``: of the pairs whose principal labels differ, the share whose
        largest normalised distance is in the principal subspace."""
        self.network.eval()
        names = ("rec", "spar", "dist", "reg", "cons", "loss")
        sums = torch.zeros(len(names) + 3, dtype=torch.float64)
        for batch in batches:
            if not len(batch):
                continue
            terms, first, second, differs = self._terms(batch, FULL, fixed=True)
            terms["loss"] = self.objective.total(terms, FULL)
            pairs = len(batch) // 2
            scores = subspace_distances(first, second) / code_lengths(
                torch.cat([first, second])
            ).clamp_min(1e-12)
            hits = (scores.argmax(dim=1) == self.oracle.principal) & differs
            values = [float(terms[name]) * pairs for name in names]
            sums += torch.tensor([*values, pairs, float(hits.sum()), float(differs.sum())])
        self.network.train()
        sums = reduce_sum(sums)
        count = max(float(sums[len(names)]), 1.0)
        out = {name: float(sums[i]) / count for i, name in enumerate(names)}
        out["principal_share"] = float(sums[-2]) / max(float(sums[-1]), 1.0)
        return out

    def outputs(self, x: Tensor) -> dict[str, Tensor]:
        raise NotImplementedError(
            "Stage 1 of detaux is an autoencoder with no task heads; predictions come from its "
            "MTL stage. Load the finished run with orthomtl.load(run_dir)."
        )

    def encode(self, x: Tensor) -> Tensor:
        """The subspace codes side by side: (B, K·d)."""
        return self.network.codes(self._input(x)).flatten(1)

    def extra_state(self) -> dict[str, Any]:
        return {"epoch": self.epoch}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.epoch = state["epoch"]

    def next_stage(
        self, trainer: TrainerConfig, optim: OptimConfig, run_dir: Path, data: TaskData | None
    ) -> Stage:
        """Discover the auxiliary task(s) in ``<run_dir>/discovery`` (rank 0; or read them back
        from there), then the MTL stage on the principal and auxiliary tasks."""
        directory = run_dir / DIRECTORY
        if data is not None and not (directory / "discovery.json").is_file():
            if self.fabric.global_rank == 0:
                discover(self.network, data, self.principal.name, self.discovery, directory)
            self.fabric.barrier()
        summary = read_discovery(directory)
        tasks = [self.principal, *auxiliary_tasks(summary)]
        labelled = None if data is None else labelled_data(data, directory, summary)
        return self.mtl.stage(tasks, self.input_shape, trainer, optim, labelled)
