"""Concept algebra in a Domain Expansion latent (arXiv 2601.20069).

Each task owns one orthogonal axis v_m of the latent (or, for a class task trained with
``class_axes`` > 1, a few: V_m), so a concept is edited by moving along its axes alone, c ⊕^m Δ:
f ↦ f + Δ v_m (f + V_m Δ) changes task m's coefficients by Δ and leaves every other coefficient as
it was. The stage-2 linear readouts read concepts back, and two samples compose as
c_p ⊕ (c_q ⊖ c_p): sample p with the chosen concepts of sample q.

    >>> algebra = ConceptAlgebra(orthomtl.load(run_dir))
    >>> f = algebra.encode(x)                          # (B, D) latents
    >>> turned = algebra.edit(f, "angle", 0.3)          # the angle coefficient moved by +0.3
    >>> algebra.decode(turned)["angle"]                 # decoded angles; the digits stay
    >>> mixed = algebra.compose(algebra.encode(x_p), algebra.encode(x_q), ["angle"])
    >>> algebra.decode(mixed)                           # x_p's digit with x_q's angle
"""

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from orthomtl.engine import TrainedModel
from orthomtl.methods.domain_expansion._readouts import DomainExpansionReadouts
from orthomtl.metrics.functional import compose


class ConceptAlgebra:
    """Encode, edit, decode and compose concepts with a trained ``domain-expansion`` model.

    Args:
        model: a finished run's model, ``orthomtl.load(run_dir)``.
    """

    def __init__(self, model: TrainedModel) -> None:
        if not isinstance(model.method, DomainExpansionReadouts):
            raise TypeError(
                "ConceptAlgebra needs a finished domain-expansion run (its readout stage); got a "
                f"{type(model.method).__name__} model."
            )
        self.model = model
        self.method: DomainExpansionReadouts = model.method
        self.tasks = model.tasks

    def _columns(self, task: str) -> list[int]:
        names = [t.name for t in self.tasks]
        if task not in names:
            raise KeyError(f"No task {task!r}; the tasks are {names}.")
        return list(self.method.axes[names.index(task)])

    def _check_latent(self, f: Tensor) -> Tensor:
        dim = self.method.pooling.dim
        if f.dim() != 2 or f.shape[1] != dim or not torch.isfinite(f).all():
            raise ValueError(
                f"Expected finite latents of shape (batch, {dim}), got {tuple(f.shape)}."
            )
        return f

    @torch.no_grad()
    def encode(self, x: Tensor) -> Tensor:
        """Latents f (B, D) of inputs shaped like the training data."""
        return self.model.encode(x)

    @torch.no_grad()
    def coefficients(self, f: Tensor) -> Tensor:
        """c (B, M), c_m = ⟨f − μ, v_m⟩; task m owns the columns ``self.method.axes[m]``."""
        pooling = self.method.pooling
        return (self._check_latent(f) - pooling.mean.to(f.dtype)) @ pooling.basis.to(f.dtype)

    def edit(self, f: Tensor, task: str, delta: float | Tensor) -> Tensor:
        """c ⊕^m Δ: move every latent along task ``task``'s axes by ``delta``.

        ``delta`` is a number or (B,) for a task with one axis; (a,) or (B, a) for a task with a
        axes (the same step for every latent, or one per latent).
        """
        columns = self._columns(task)
        axes = self.method.pooling.basis[:, columns].to(f.dtype)  # (D, a)
        step = torch.as_tensor(delta, dtype=f.dtype)
        one_axis = len(columns) == 1 and (step.dim() <= 1 or step.shape == (step.shape[0], 1))
        if step.dim() > 2 or not (one_axis or (step.dim() >= 1 and step.shape[-1] == len(columns))):
            raise ValueError(
                f"delta for task {task!r} must have {len(columns)} entries per latent (its axes), "
                f"got shape {tuple(step.shape)}."
            )
        return self._check_latent(f) + step.reshape(-1, len(columns)) @ axes.T

    @torch.no_grad()
    def decode(self, f: Tensor) -> dict[str, Tensor]:
        """Per task the readouts' prediction: class index, value, or angle in radians."""
        f = self._check_latent(f)
        readouts = self.method.linear_readouts()
        out = {}
        for task in self.tasks:
            weight, bias = readouts[task.name]
            value = torch.nn.functional.linear(f, weight.to(f.dtype), bias.to(f.dtype))
            if task.kind == "angle":
                value = torch.cat([torch.cos(value), torch.sin(value)], dim=1)
            out[task.name] = task.predict(value)
        return out

    @torch.no_grad()
    def compose(self, f_p: Tensor, f_q: Tensor, concepts: Sequence[str] | None = None) -> Tensor:
        """c_p ⊕ (c_q ⊖ c_p): each latent of ``f_p`` with the ``concepts`` (task names; all when
        ``None``) of the matching latent of ``f_q``, solved through the readouts and re-projected
        on the task axes (see ``orthomtl.metrics.functional.compose``)."""
        if f_p.shape != f_q.shape:
            raise ValueError(
                f"f_p and f_q must have the same shape, got {tuple(f_p.shape)} and "
                f"{tuple(f_q.shape)}."
            )
        chosen = [t.name for t in self.tasks] if concepts is None else list(concepts)
        for name in chosen:
            self._columns(name)
        source, target = self.decode(f_p), self.decode(f_q)
        wanted = {t.name: (target if t.name in chosen else source)[t.name] for t in self.tasks}
        pooling = self.method.pooling
        linear = self.method.linear_readouts()
        readouts = [tuple(a.double().cpu().numpy() for a in linear[t.name]) for t in self.tasks]
        composed = compose(
            f_p.double().cpu().numpy(),
            {k: v.cpu().numpy() for k, v in source.items()},
            {k: v.cpu().numpy() for k, v in wanted.items()},
            pooling.mean.double().cpu().numpy(),
            pooling.basis.double().cpu().numpy(),
            readouts,
            self.tasks,
        )
        return torch.from_numpy(np.asarray(composed)).to(f_p.dtype)
