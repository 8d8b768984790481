"""``Thresholds``: the limits behind the report's diagnosis, with their defaults, checked, and
read from ``orthomtl report --threshold NAME=VALUE`` pairs."""

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

from orthomtl.diagnostics._report_runs import finite


@dataclass(frozen=True)
class Thresholds:
    """The limits behind the diagnosis's verdicts (``orthomtl report --threshold NAME=VALUE``).

    Attributes:
        conflict_share: the tasks' gradients "conflict" when the mean share of negative pairwise
            cosines over the sampled steps is at least this.
        collapsed_rank: the latent "has collapsed" when its effective rank over its dimension is
            at most this.
        orthogonal_cos: the heads of different tasks are "orthogonal" when the largest |cos|
            between their (centred) rows is at most this.
        shared_cos: ... and "share directions" when it is at least this.
        nc1_collapsed: a class task's features "have collapsed" onto their class means when its
            last NC1 is at most this.
        basis_stable: Domain Expansion's basis "has settled" when, at its last refresh, every
            axis keeps at least this |cos| with its predecessor.
        gain_se: a dual-encoder task's gain of sharing counts (helped or hurt) when it is more
            than this many standard errors away from 0.
        principal_nmi: a Detaux auxiliary task "repeats the principal task" when the NMI of
            their labels is at least this.
        weak_cos: the tasks' gradients are "nearly orthogonal" (their conflict, or agreement,
            is weak) when the mean |cos| between them over the sampled steps is at most this.
    """

    conflict_share: float = 0.2
    collapsed_rank: float = 0.1
    orthogonal_cos: float = 0.1
    shared_cos: float = 0.5
    nc1_collapsed: float = 0.1
    basis_stable: float = 0.95
    gain_se: float = 1.0
    principal_nmi: float = 0.5
    weak_cos: float = 0.1

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            unbounded = f.name in ("nc1_collapsed", "gain_se")
            if not finite(value) or value < 0 or (not unbounded and value > 1):
                bound = "a number ≥ 0" if unbounded else "a number in [0, 1]"
                raise ValueError(f"threshold {f.name} must be {bound}, got {value!r}.")
        if self.orthogonal_cos > self.shared_cos:
            raise ValueError(
                f"threshold orthogonal_cos ({self.orthogonal_cos}) must not exceed shared_cos "
                f"({self.shared_cos})."
            )

    @classmethod
    def names(cls) -> list[str]:
        """The thresholds' names, as ``--threshold`` takes them."""
        return [f.name for f in fields(cls)]

    @classmethod
    def parse(cls, pairs: Sequence[str]) -> "Thresholds":
        """The defaults with ``NAME=VALUE`` pairs applied (e.g. ``conflict_share=0.3``)."""
        names = cls.names()
        changes: dict[str, float] = {}
        for pair in pairs:
            name, sep, text = pair.partition("=")
            if not sep or name.strip() not in names:
                raise ValueError(
                    f"--threshold takes NAME=VALUE, NAME one of {', '.join(names)}; got {pair!r}."
                )
            try:
                changes[name.strip()] = float(text)
            except ValueError:
                raise ValueError(
                    f"threshold {name.strip()} must be a number, got {text!r}."
                ) from None
        return replace(cls(), **changes)
